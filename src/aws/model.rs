//! The compact AWS API model generated from botocore (`models/generate.py`), embedded in the
//! binary, and the lookup tables identification needs, built once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use super::router::{RouteHints, Router};

/// The generated model, as committed.
const MODEL_JSON: &str = include_str!("../../models/aws-model.json");

#[derive(Debug, thiserror::Error)]
#[error("the embedded AWS model is damaged ({0}); regenerate it with models/generate.py")]
pub struct ModelError(#[from] serde_json::Error);

/// A model file (`tollgate model update`'s) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an AWS model that tollgate can read ({reason}); run `tollgate model update` again")]
    Invalid { path: PathBuf, reason: String },
}

/// The model format this tollgate reads (`format` in the file, written by models/generate.py).
pub const MODEL_FORMAT: u32 = 1;

/// Where the model in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// Compiled into this binary.
    Bundled,
    /// Built from the user's botocore by `tollgate model update`, newer than the bundled one.
    Installed(PathBuf),
}

/// The model identification uses: the bundled one, or an installed one that is newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    pub source: ModelSource,
    pub botocore_version: String,
}

impl ModelChoice {
    /// How runs record it: `botocore 1.44.8`, or `botocore 1.44.18 (tollgate model update)`.
    pub fn describe(&self) -> String {
        match self.source {
            ModelSource::Bundled => format!("botocore {}", self.botocore_version),
            ModelSource::Installed(_) => {
                format!("botocore {} (tollgate model update)", self.botocore_version)
            }
        }
    }
}

/// The installed model file to weigh against the bundled one (set once at start-up).
static INSTALLED: OnceLock<PathBuf> = OnceLock::new();

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
    /// Every header an input member binds (lower case): part of what makes two calls the same
    /// call (`range`, `if-match`, `x-amz-copy-source`).
    #[serde(default)]
    pub input_headers: Vec<&'static str>,
    /// Prefixes of the input's header maps (`location: headers`, S3's `x-amz-meta-`).
    #[serde(default)]
    pub input_header_prefixes: Vec<&'static str>,
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
        head_version(MODEL_JSON).unwrap_or("unknown")
    }

    /// Names the model file `tollgate model update` installs, to be used instead of the bundled
    /// model when it is newer. Call once, before the model is first used; later calls are
    /// ignored.
    pub fn consider_installed(path: PathBuf) {
        let _ = INSTALLED.set(path);
    }

    /// Which model identification uses, decided once from the files' heads (without parsing
    /// the models): an installed model newer than the bundled one, else the bundled one.
    pub fn choice() -> &'static ModelChoice {
        static CHOICE: OnceLock<ModelChoice> = OnceLock::new();
        CHOICE.get_or_init(|| {
            let bundled = ModelChoice {
                source: ModelSource::Bundled,
                botocore_version: Self::embedded_botocore_version().to_string(),
            };
            let Some(path) = INSTALLED.get() else {
                return bundled;
            };
            match Self::file_botocore_version(path) {
                Ok(Some(version))
                    if compare_versions(&version, &bundled.botocore_version).is_gt() =>
                {
                    ModelChoice {
                        source: ModelSource::Installed(path.clone()),
                        botocore_version: version,
                    }
                }
                Ok(_) => bundled,
                Err(error) => {
                    tracing::warn!("{error}; using the bundled AWS model");
                    bundled
                }
            }
        })
    }

    /// The model identification uses ([`Model::choice`]), parsed on first use. An installed
    /// model that fails to load (damaged since it was installed) gives way to the bundled one,
    /// with a warning.
    pub fn in_use() -> &'static Model {
        static MODEL: OnceLock<&'static Model> = OnceLock::new();
        MODEL.get_or_init(|| match &Self::choice().source {
            ModelSource::Bundled => Self::embedded(),
            ModelSource::Installed(path) => match Self::load_file(path) {
                Ok(model) => Box::leak(Box::new(model)),
                Err(error) => {
                    tracing::warn!("{error}; using the bundled AWS model");
                    Self::embedded()
                }
            },
        })
    }

    /// Reads a model file written by models/generate.py. The text is kept for the life of the
    /// process (the model borrows its strings from it, as the embedded one does).
    pub fn load_file(path: &Path) -> Result<Model, ModelFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text: &'static str = Box::leak(text.into_boxed_str());
        Self::parse_checked(text).map_err(|reason| ModelFileError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses a model, refusing a format this tollgate does not read.
    pub fn parse_checked(json: &'static str) -> Result<Model, String> {
        let format = head_format(json).ok_or("no model format in its first line")?;
        if format != MODEL_FORMAT {
            return Err(format!(
                "model format {format}, this tollgate reads format {MODEL_FORMAT}"
            ));
        }
        Self::parse(json).map_err(|error| error.0.to_string())
    }

    /// The botocore version a model file was generated from, read from its first line only;
    /// `None` when the file does not exist.
    pub fn file_botocore_version(path: &Path) -> Result<Option<String>, ModelFileError> {
        use std::io::Read;
        let mut head = Vec::with_capacity(256);
        match std::fs::File::open(path) {
            Ok(file) => file.take(256).read_to_end(&mut head),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => Err(error),
        }
        .map_err(|source| ModelFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let head = String::from_utf8_lossy(&head);
        match (head_version(&head), head_format(&head)) {
            (Some(version), Some(MODEL_FORMAT)) => Ok(Some(version.to_string())),
            _ => Err(ModelFileError::Invalid {
                path: path.to_path_buf(),
                reason: format!("its first line is not a format-{MODEL_FORMAT} model's"),
            }),
        }
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

/// The `botocore_version` of a model's first line (the generator writes the head first).
fn head_version(json: &str) -> Option<&str> {
    let head = json.get(..json.len().min(256)).unwrap_or(json);
    head.split_once("\"botocore_version\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(version, _)| version)
}

/// The `format` of a model's first line.
fn head_format(json: &str) -> Option<u32> {
    let head = json.get(..json.len().min(256)).unwrap_or(json);
    let (_, rest) = head.split_once("\"format\":")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Orders botocore versions (`1.44.8` < `1.44.18`) by their numeric parts; a part that is not a
/// number (`1.44.0rc1`) counts as its leading digits.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |version: &str| -> Vec<u64> {
        version
            .split('.')
            .map(|part| {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .collect()
    };
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn botocore_versions_compare_by_number() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("1.44.18", "1.44.8"), Greater);
        assert_eq!(compare_versions("1.44.8", "1.44.8"), Equal);
        assert_eq!(compare_versions("1.9.0", "1.10.0"), Less);
        assert_eq!(compare_versions("2.0", "1.99.99"), Greater);
    }

    #[test]
    fn a_model_file_is_read_by_its_head_and_a_foreign_format_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws-model.json");
        assert_eq!(Model::file_botocore_version(&path).unwrap(), None);
        std::fs::write(
            &path,
            MODEL_JSON.replacen(Model::embedded_botocore_version(), "1.99.0", 1),
        )
        .unwrap();
        assert_eq!(
            Model::file_botocore_version(&path).unwrap().as_deref(),
            Some("1.99.0")
        );
        let loaded = Model::load_file(&path).unwrap();
        assert_eq!(loaded.botocore_version, "1.99.0");
        assert_eq!(
            loaded.operation_count(),
            Model::embedded().operation_count()
        );
        std::fs::write(
            &path,
            MODEL_JSON.replacen("\"format\":1", "\"format\":2", 1),
        )
        .unwrap();
        assert!(Model::file_botocore_version(&path).is_err());
        let error = Model::load_file(&path)
            .err()
            .expect("format 2 refused")
            .to_string();
        assert!(error.contains("format 2"), "{error}");
        std::fs::write(&path, "not json").unwrap();
        assert!(Model::load_file(&path).is_err());
    }

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
