//! The compact AWS API model generated from botocore (`models/generate.py`), embedded in the
//! binary, and the lookup tables identification needs, built once.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use super::router::{RouteHints, Router};

/// The generated model, as committed.
const MODEL_JSON: &str = include_str!("../../models/aws-model.json");

#[derive(Debug, thiserror::Error)]
#[error("the embedded AWS model is damaged ({0}); regenerate it with models/generate.py")]
pub struct ModelError(#[from] serde_json::Error);

// Strings borrow from the embedded JSON: loading allocates only the vectors and maps, which keeps
// it within its 20 ms budget. The generator writes no escapes, so every string can be borrowed.

#[derive(Debug, Deserialize)]
pub struct ServiceModel {
    /// botocore's name for the service (`s3`, `dynamodb`, `lexv2-runtime`).
    pub name: &'static str,
    pub service_id: &'static str,
    pub endpoint_prefix: &'static str,
    pub signing_name: &'static str,
    pub protocols: Vec<&'static str>,
    pub target_prefix: Option<&'static str>,
    pub json_version: Option<&'static str>,
    pub api_version: &'static str,
    #[serde(default)]
    pub aws_query_compatible: bool,
    pub operations: Vec<OperationModel>,
    #[serde(default)]
    pub paginators: BTreeMap<&'static str, Paginator>,
}

#[derive(Debug, Deserialize)]
pub struct OperationModel {
    pub name: &'static str,
    pub method: &'static str,
    pub uri: &'static str,
    pub host_prefix: Option<&'static str>,
    pub resource: Option<ResourceRef>,
    /// Query keys that required input members always send.
    #[serde(default)]
    pub required_query: Vec<&'static str>,
    /// Headers (lower case) that required input members always send.
    #[serde(default)]
    pub required_headers: Vec<&'static str>,
    #[serde(default)]
    pub deprecated: bool,
}

/// Which input member names the call's main resource, and where it travels on the wire.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceRef {
    pub member: &'static str,
    /// `uri`, `querystring`, `header` or `body`.
    pub location: &'static str,
    /// The wire name (URI label, query key, header, or body key).
    pub name: &'static str,
}

/// A paginator as botocore defines it.
#[derive(Debug, Clone, Deserialize)]
pub struct Paginator {
    pub input_token: Vec<&'static str>,
    pub output_token: Vec<&'static str>,
    pub more_results: Option<&'static str>,
    pub limit_key: Option<&'static str>,
    /// The documented maximum of the limit key, where the model has one.
    pub limit_max: Option<u64>,
    pub result_key: Vec<&'static str>,
    /// Where the tokens, limit and results are on the wire.
    pub wire: PaginatorWire,
}

/// A paginator's members as they travel: request locations and response paths.
#[derive(Debug, Clone, Deserialize)]
pub struct PaginatorWire {
    /// One per input token; `None` where the model could not place it.
    pub input: Vec<Option<WireMember>>,
    pub limit: Option<WireMember>,
    /// Per output token, its alternatives (`NextMarker || Contents[-1].Key`).
    pub output: Vec<Vec<Option<Vec<PathSegment>>>>,
    /// Per result key.
    pub result: Vec<Option<Vec<PathSegment>>>,
    pub more: Option<Vec<PathSegment>>,
}

/// A request member's location (`uri`, `querystring`, `header`, `body`) and wire name.
#[derive(Debug, Clone, Deserialize)]
pub struct WireMember {
    pub location: String,
    pub name: String,
}

/// One step of a response path: the member's wire name, an index (`-1`: the last), and for XML
/// lists that are not flattened, the name of their item elements.
#[derive(Debug, Clone, Deserialize)]
pub struct PathSegment {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "i", default)]
    pub index: Option<i64>,
    #[serde(default)]
    pub item: Option<String>,
}

#[derive(Deserialize)]
struct ModelFile {
    format: u32,
    botocore_version: &'static str,
    services: Vec<ServiceModel>,
}

/// Identifies a service within the model.
pub type ServiceIndex = u32;
/// Identifies an operation within its service.
pub type OperationIndex = u32;

/// The model plus its indexes.
pub struct Model {
    pub botocore_version: &'static str,
    pub services: Vec<ServiceModel>,
    by_signing_name: HashMap<&'static str, Vec<ServiceIndex>>,
    by_endpoint_prefix: HashMap<&'static str, Vec<ServiceIndex>>,
    by_target_prefix: HashMap<&'static str, Vec<ServiceIndex>>,
    by_name: HashMap<&'static str, ServiceIndex>,
    operations: Vec<HashMap<&'static str, OperationIndex>>,
    /// REST routers, compiled on first use per service: most runs touch a handful of services.
    routers: Vec<OnceLock<Option<Router>>>,
    /// Literal path segments of every request URI, for unknown calls' path templates.
    uri_literals: OnceLock<std::collections::HashSet<&'static str>>,
}

impl Model {
    /// The model embedded in this binary, parsed on first use.
    pub fn embedded() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| Model::parse(MODEL_JSON).expect("the embedded model parses"))
    }

    /// The botocore version the embedded model was generated from, without parsing it.
    pub fn embedded_botocore_version() -> &'static str {
        MODEL_JSON
            .split_once("\"botocore_version\":\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(version, _)| version)
            .unwrap_or("unknown")
    }

    pub fn parse(json: &'static str) -> Result<Self, ModelError> {
        let file: ModelFile = serde_json::from_str(json)?;
        debug_assert_eq!(file.format, 1);
        let count = file.services.len();
        let mut model = Model {
            botocore_version: file.botocore_version,
            by_signing_name: HashMap::new(),
            by_endpoint_prefix: HashMap::new(),
            by_target_prefix: HashMap::new(),
            by_name: HashMap::with_capacity(count),
            operations: Vec::with_capacity(count),
            routers: (0..count).map(|_| OnceLock::new()).collect(),
            uri_literals: OnceLock::new(),
            services: file.services,
        };
        for (index, service) in model.services.iter().enumerate() {
            let index = index as ServiceIndex;
            model.by_name.insert(service.name, index);
            model
                .by_signing_name
                .entry(service.signing_name)
                .or_default()
                .push(index);
            model
                .by_endpoint_prefix
                .entry(service.endpoint_prefix)
                .or_default()
                .push(index);
            if let Some(prefix) = service.target_prefix {
                model
                    .by_target_prefix
                    .entry(prefix)
                    .or_default()
                    .push(index);
            }
            model.operations.push(
                service
                    .operations
                    .iter()
                    .enumerate()
                    .map(|(op, operation)| (operation.name, op as OperationIndex))
                    .collect(),
            );
        }
        Ok(model)
    }

    /// Compiles a service's REST router (`None` for services of other protocols), counting the
    /// operations whose request URI could not be compiled.
    fn compile_router(service: &ServiceModel) -> (Option<Router>, usize) {
        if !service.protocols.iter().any(|p| p.starts_with("rest-")) {
            return (None, 0);
        }
        let mut router = Router::default();
        let mut unroutable = 0;
        for (op, operation) in service.operations.iter().enumerate() {
            let hints = RouteHints {
                required_query: &operation.required_query,
                required_headers: &operation.required_headers,
                deprecated: operation.deprecated,
            };
            if !router.add_operation(
                op as OperationIndex,
                operation.method,
                operation.uri,
                &hints,
            ) {
                unroutable += 1;
            }
        }
        router.finish();
        (Some(router), unroutable)
    }

    /// Operations whose request URI cannot be routed, over the whole model (compiles every router).
    pub fn unroutable_operations(&self) -> usize {
        self.services
            .iter()
            .map(|service| Self::compile_router(service).1)
            .sum()
    }

    pub fn service(&self, index: ServiceIndex) -> &ServiceModel {
        &self.services[index as usize]
    }

    pub fn operation(&self, service: ServiceIndex, operation: OperationIndex) -> &OperationModel {
        &self.services[service as usize].operations[operation as usize]
    }

    pub fn operation_named(&self, service: ServiceIndex, name: &str) -> Option<OperationIndex> {
        self.operations[service as usize].get(name).copied()
    }

    pub fn by_signing_name(&self, name: &str) -> &[ServiceIndex] {
        self.by_signing_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn by_endpoint_prefix(&self, prefix: &str) -> &[ServiceIndex] {
        self.by_endpoint_prefix
            .get(prefix)
            .map_or(&[], Vec::as_slice)
    }

    pub fn by_target_prefix(&self, prefix: &str) -> &[ServiceIndex] {
        self.by_target_prefix.get(prefix).map_or(&[], Vec::as_slice)
    }

    pub fn router(&self, service: ServiceIndex) -> Option<&Router> {
        self.routers[service as usize]
            .get_or_init(|| Self::compile_router(self.service(service)).0)
            .as_ref()
    }

    pub fn service_named(&self, name: &str) -> Option<ServiceIndex> {
        self.by_name.get(name).copied()
    }

    /// Whether `segment` appears as literal text in any operation's request URI: a word of some
    /// API (`functions`, `configuration`, `2015-03-31`) rather than a name or an id.
    pub fn is_uri_literal(&self, segment: &str) -> bool {
        // Built on first use: only unknown calls need it.
        self.uri_literals
            .get_or_init(|| {
                self.services
                    .iter()
                    .flat_map(|service| &service.operations)
                    .flat_map(|operation| {
                        let path = operation.uri.split('?').next().unwrap_or("");
                        path.split('/')
                            .filter(|segment| !segment.is_empty() && !segment.contains('{'))
                    })
                    .collect()
            })
            .contains(segment)
    }

    pub fn operation_count(&self) -> usize {
        self.services.iter().map(|s| s.operations.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_loads_with_its_indexes() {
        let model = Model::embedded();
        assert_eq!(model.botocore_version, Model::embedded_botocore_version());
        assert!(model.services.len() > 400, "{}", model.services.len());
        assert!(model.operation_count() > 15_000);
        let s3 = model.service_named("s3").unwrap();
        assert!(model.operation_named(s3, "ListObjectsV2").is_some());
        let list = &model.service(s3).paginators["ListObjectsV2"];
        assert_eq!(list.limit_key, Some("MaxKeys"));
        assert_eq!(model.by_target_prefix("DynamoDB_20120810").len(), 1);
        assert_eq!(model.unroutable_operations(), 0);
    }
}
