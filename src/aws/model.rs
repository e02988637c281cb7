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

#[derive(Debug, Deserialize)]
pub struct ServiceModel {
    /// botocore's name for the service (`s3`, `dynamodb`, `lexv2-runtime`).
    pub name: String,
    pub service_id: String,
    pub endpoint_prefix: String,
    pub signing_name: String,
    pub protocols: Vec<String>,
    pub target_prefix: Option<String>,
    pub json_version: Option<String>,
    pub api_version: String,
    #[serde(default)]
    pub aws_query_compatible: bool,
    pub operations: Vec<OperationModel>,
    #[serde(default)]
    pub paginators: BTreeMap<String, Paginator>,
}

#[derive(Debug, Deserialize)]
pub struct OperationModel {
    pub name: String,
    pub method: String,
    pub uri: String,
    pub host_prefix: Option<String>,
    pub resource: Option<ResourceRef>,
    /// Query keys that required input members always send.
    #[serde(default)]
    pub required_query: Vec<String>,
    /// Headers (lower case) that required input members always send.
    #[serde(default)]
    pub required_headers: Vec<String>,
    #[serde(default)]
    pub deprecated: bool,
}

/// Which input member names the call's main resource, and where it travels on the wire.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceRef {
    pub member: String,
    /// `uri`, `querystring`, `header` or `body`.
    pub location: String,
    /// The wire name (URI label, query key, header, or body key).
    pub name: String,
}

/// A paginator as botocore defines it.
#[derive(Debug, Clone, Deserialize)]
pub struct Paginator {
    pub input_token: Vec<String>,
    pub output_token: Vec<String>,
    pub more_results: Option<String>,
    pub limit_key: Option<String>,
    /// The documented maximum of the limit key, where the model has one.
    pub limit_max: Option<u64>,
    pub result_key: Vec<String>,
}

#[derive(Deserialize)]
struct ModelFile {
    format: u32,
    botocore_version: String,
    services: Vec<ServiceModel>,
}

/// Identifies a service within the model.
pub type ServiceIndex = u32;
/// Identifies an operation within its service.
pub type OperationIndex = u32;

/// The model plus its indexes.
pub struct Model {
    pub botocore_version: String,
    pub services: Vec<ServiceModel>,
    by_signing_name: HashMap<String, Vec<ServiceIndex>>,
    by_endpoint_prefix: HashMap<String, Vec<ServiceIndex>>,
    by_target_prefix: HashMap<String, Vec<ServiceIndex>>,
    by_name: HashMap<String, ServiceIndex>,
    operations: Vec<HashMap<String, OperationIndex>>,
    routers: Vec<Option<Router>>,
    /// Operations whose request URI could not be compiled, per service.
    pub unroutable: usize,
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

    pub fn parse(json: &str) -> Result<Self, ModelError> {
        let file: ModelFile = serde_json::from_str(json)?;
        debug_assert_eq!(file.format, 1);
        let mut model = Model {
            botocore_version: file.botocore_version,
            by_signing_name: HashMap::new(),
            by_endpoint_prefix: HashMap::new(),
            by_target_prefix: HashMap::new(),
            by_name: HashMap::new(),
            operations: Vec::with_capacity(file.services.len()),
            routers: Vec::with_capacity(file.services.len()),
            unroutable: 0,
            services: file.services,
        };
        for (index, service) in model.services.iter().enumerate() {
            let index = index as ServiceIndex;
            model.by_name.insert(service.name.clone(), index);
            model
                .by_signing_name
                .entry(service.signing_name.clone())
                .or_default()
                .push(index);
            model
                .by_endpoint_prefix
                .entry(service.endpoint_prefix.clone())
                .or_default()
                .push(index);
            if let Some(prefix) = &service.target_prefix {
                model
                    .by_target_prefix
                    .entry(prefix.clone())
                    .or_default()
                    .push(index);
            }
            model.operations.push(
                service
                    .operations
                    .iter()
                    .enumerate()
                    .map(|(op, operation)| (operation.name.clone(), op as OperationIndex))
                    .collect(),
            );
            let rest = service
                .protocols
                .iter()
                .any(|protocol| protocol.starts_with("rest-"));
            model.routers.push(rest.then(|| {
                let mut router = Router::default();
                for (op, operation) in service.operations.iter().enumerate() {
                    let hints = RouteHints {
                        required_query: &operation.required_query,
                        required_headers: &operation.required_headers,
                        deprecated: operation.deprecated,
                    };
                    if !router.add_operation(
                        op as OperationIndex,
                        &operation.method,
                        &operation.uri,
                        &hints,
                    ) {
                        model.unroutable += 1;
                    }
                }
                router.finish();
                router
            }));
        }
        Ok(model)
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
        self.routers[service as usize].as_ref()
    }

    pub fn service_named(&self, name: &str) -> Option<ServiceIndex> {
        self.by_name.get(name).copied()
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
        assert_eq!(list.limit_key.as_deref(), Some("MaxKeys"));
        assert_eq!(model.by_target_prefix("DynamoDB_20120810").len(), 1);
        assert_eq!(model.unroutable, 0);
    }
}
