//! The price table: the files in `pricing/` (compiled in), regional prices imported from the AWS
//! Price List, and the user's overlay, merged into one lookup structure.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::aws::usage::{Dimension, Unit};

/// The built-in table: every file in `pricing/`, in the binary (the list is written by
/// `build.rs`, so a new file needs no code change).
pub const BUILT_IN: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/pricing_files.rs"));

/// Where a price came from, for `pricing show` and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    Imported(PathBuf),
    Overlay(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Imported(path) => write!(f, "imported ({})", path.display()),
            Origin::Overlay(path) => write!(f, "overlay ({})", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl TableError {
    fn invalid(file: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

// ---- The file format (see pricing/README.md) ------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableFile {
    pub service: String,
    #[serde(default)]
    pub errors: Option<ErrorsSpec>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub price: Vec<PriceSpec>,
    #[serde(default)]
    pub free: Vec<FreeSpec>,
    #[serde(default)]
    pub allowance: Vec<AllowanceSpec>,
}

/// A monthly free allowance (free tier) of a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllowanceSpec {
    pub id: String,
    pub operations: Vec<String>,
    pub unit: String,
    /// Units free per month, a decimal string.
    pub quantity: String,
    pub source: String,
    pub as_of: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorsSpec {
    pub billed: ErrorBilling,
    #[serde(default)]
    pub except: Vec<String>,
    pub source: String,
    pub as_of: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Which failed attempts AWS bills. Throttled attempts are billed only under `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ErrorBilling {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "4xx")]
    ClientErrors,
    #[serde(rename = "all")]
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl fmt::Display for ErrorBilling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorBilling::None => "none",
            ErrorBilling::ClientErrors => "4xx",
            ErrorBilling::All => "all",
        })
    }
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceListKey {
    pub offer: Option<String>,
    pub product_family: Option<String>,
    pub group: Option<String>,
    pub usagetype: Option<String>,
    pub operation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceSpec {
    pub id: String,
    pub operations: Vec<String>,
    #[serde(default)]
    pub when: BTreeMap<String, OneOrMany>,
    pub unit: String,
    pub usd: String,
    #[serde(default)]
    pub regions: BTreeMap<String, String>,
    pub source: String,
    pub as_of: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub pricelist: Option<PriceListKey>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FreeSpec {
    pub id: String,
    pub operations: Vec<String>,
    #[serde(default)]
    pub when: BTreeMap<String, OneOrMany>,
    pub reason: String,
    pub source: String,
    pub as_of: String,
}

// ---- The compiled table ----------------------------------------------------------------------

/// Which operations an entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationPattern {
    Exact(String),
    /// `Describe*`
    Prefix(String),
    /// `*`: what no explicit entry names.
    Rest,
}

impl OperationPattern {
    fn parse(text: &str) -> Self {
        match text {
            "*" => OperationPattern::Rest,
            _ => match text.strip_suffix('*') {
                Some(prefix) => OperationPattern::Prefix(prefix.to_string()),
                None => OperationPattern::Exact(text.to_string()),
            },
        }
    }

    /// Matches explicitly (exact name or prefix); `Rest` is handled by the caller.
    pub fn names(&self, operation: &str) -> bool {
        match self {
            OperationPattern::Exact(name) => name == operation,
            OperationPattern::Prefix(prefix) => operation.starts_with(prefix.as_str()),
            OperationPattern::Rest => false,
        }
    }
}

impl fmt::Display for OperationPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperationPattern::Exact(name) => f.write_str(name),
            OperationPattern::Prefix(prefix) => write!(f, "{prefix}*"),
            OperationPattern::Rest => f.write_str("*"),
        }
    }
}

/// A condition on a dimension: the call's value must be one of these (a trailing `*` matches a
/// prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

impl Condition {
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        self.values.iter().any(|want| match want.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None => want == value,
        })
    }
}

/// A price in one region, with its own provenance when it was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionalPrice {
    pub usd: Decimal,
    pub source: String,
    pub as_of: String,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct PriceEntry {
    pub id: Arc<str>,
    pub service: String,
    pub operations: Vec<OperationPattern>,
    pub when: Vec<Condition>,
    pub unit: Unit,
    /// us-east-1.
    pub usd: Decimal,
    pub regions: BTreeMap<String, RegionalPrice>,
    pub source: String,
    pub as_of: String,
    pub note: Option<String>,
    pub(crate) pricelist: Option<PriceListKey>,
    pub origin: Origin,
}

impl PriceEntry {
    pub fn when_matches<'v>(&self, value_of: &dyn Fn(Dimension) -> Option<&'v str>) -> bool {
        self.when
            .iter()
            .all(|condition| condition.matches(value_of(condition.dimension)))
    }

    /// The price in `region`, and whether it is the us-east-1 price standing in for a region
    /// with no price of its own.
    pub fn price_in(&self, region: &str) -> (Decimal, bool) {
        match self.regions.get(region) {
            Some(regional) => (regional.usd, false),
            None => (self.usd, region != BASE_REGION),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FreeEntry {
    pub id: Arc<str>,
    pub service: String,
    pub operations: Vec<OperationPattern>,
    pub when: Vec<Condition>,
    pub reason: String,
    pub source: String,
    pub as_of: String,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct ErrorPolicy {
    pub billed: ErrorBilling,
    pub except: Vec<String>,
    pub source: String,
    pub as_of: String,
    pub note: Option<String>,
}

/// A monthly free allowance: the first `quantity` units a month of the matching operations.
#[derive(Debug, Clone)]
pub struct AllowanceEntry {
    pub id: Arc<str>,
    pub service: String,
    pub operations: Vec<OperationPattern>,
    pub unit: Unit,
    pub quantity: Decimal,
    pub source: String,
    pub as_of: String,
    pub note: Option<String>,
}

impl AllowanceEntry {
    pub fn covers(&self, operation: &str) -> bool {
        self.operations
            .iter()
            .any(|p| *p == OperationPattern::Rest || p.names(operation))
    }
}

/// One service's entries.
#[derive(Debug, Clone, Default)]
pub struct ServiceTable {
    pub errors: Option<ErrorPolicy>,
    pub prices: Vec<PriceEntry>,
    pub free: Vec<FreeEntry>,
    pub allowances: Vec<AllowanceEntry>,
}

/// The region whose prices the table's `usd` fields hold.
pub const BASE_REGION: &str = "us-east-1";

/// The service name under which data transfer out is priced for every call.
pub const DATA_TRANSFER: &str = "data-transfer";
/// The service name of CloudTrail's data-event price.
pub const CLOUDTRAIL: &str = "cloudtrail";

#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    pub services: BTreeMap<String, ServiceTable>,
    /// Which prices these are: the digest of the bundled files, then `+imported.<digest>` and
    /// `+overlay.<digest>` for the imported regional prices (whose text names each offer's
    /// version) and the overlay, when they were applied. Stored with every run, so a run priced
    /// with other prices is known and can be re-priced.
    pub version: String,
    /// The files read, in order.
    pub origins: Vec<Origin>,
}

/// What loading one file produced, before merging.
#[derive(Debug)]
pub(crate) struct LoadedFile {
    pub service: String,
    pub errors: Option<ErrorPolicy>,
    pub prices: Vec<PriceEntry>,
    pub free: Vec<FreeEntry>,
    pub allowances: Vec<AllowanceEntry>,
}

pub(crate) fn parse_decimal(file: &str, what: &str, text: &str) -> Result<Decimal, TableError> {
    let value = Decimal::from_str_exact(text.trim()).map_err(|e| {
        TableError::invalid(
            file,
            format!("{what}: `{text}` is not a decimal number ({e})"),
        )
    })?;
    if value.is_sign_negative() {
        return Err(TableError::invalid(
            file,
            format!("{what}: price `{text}` is negative"),
        ));
    }
    Ok(value)
}

pub(crate) fn check_date(file: &str, what: &str, text: &str) -> Result<(), TableError> {
    let parts: Vec<&str> = text.split('-').collect();
    let valid = match parts.as_slice() {
        [year, month, day] if year.len() == 4 && month.len() == 2 && day.len() == 2 => {
            match (year.parse(), month.parse::<u8>(), day.parse()) {
                (Ok(year), Ok(month), Ok(day)) => time::Month::try_from(month)
                    .ok()
                    .and_then(|month| time::Date::from_calendar_date(year, month, day).ok())
                    .is_some(),
                _ => false,
            }
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(TableError::invalid(
            file,
            format!("{what}: as_of `{text}` is not a YYYY-MM-DD date"),
        ))
    }
}

fn conditions(
    file: &str,
    id: &str,
    when: BTreeMap<String, OneOrMany>,
) -> Result<Vec<Condition>, TableError> {
    when.into_iter()
        .map(|(key, values)| {
            let dimension = Dimension::from_str(&key)
                .map_err(|e| TableError::invalid(file, format!("entry `{id}`: {e}")))?;
            Ok(Condition {
                dimension,
                values: values.into_vec(),
            })
        })
        .collect()
}

fn patterns(
    file: &str,
    id: &str,
    groups: &BTreeMap<String, Vec<String>>,
    operations: &[String],
) -> Result<Vec<OperationPattern>, TableError> {
    let mut out = Vec::new();
    for operation in operations {
        if let Some(group) = operation.strip_prefix('@') {
            let members = groups.get(group).ok_or_else(|| {
                TableError::invalid(
                    file,
                    format!("entry `{id}`: no group `{group}` in [groups]"),
                )
            })?;
            out.extend(members.iter().map(|m| OperationPattern::parse(m)));
        } else {
            out.push(OperationPattern::parse(operation));
        }
    }
    Ok(out)
}

pub(crate) fn compile_price(
    file: &str,
    service: &str,
    groups: &BTreeMap<String, Vec<String>>,
    spec: PriceSpec,
    origin: &Origin,
) -> Result<PriceEntry, TableError> {
    let id = spec.id.as_str();
    let unit = Unit::from_str(&spec.unit)
        .map_err(|e| TableError::invalid(file, format!("entry `{id}`: {e}")))?;
    let usd = parse_decimal(file, &format!("entry `{id}`"), &spec.usd)?;
    check_date(file, &format!("entry `{id}`"), &spec.as_of)?;
    let mut regions = BTreeMap::new();
    for (region, price) in &spec.regions {
        regions.insert(
            region.clone(),
            RegionalPrice {
                usd: parse_decimal(file, &format!("entry `{id}` region {region}"), price)?,
                source: spec.source.clone(),
                as_of: spec.as_of.clone(),
                origin: origin.clone(),
            },
        );
    }
    Ok(PriceEntry {
        id: Arc::from(id),
        service: service.to_string(),
        operations: patterns(file, id, groups, &spec.operations)?,
        when: conditions(file, id, spec.when)?,
        unit,
        usd,
        regions,
        source: spec.source,
        as_of: spec.as_of,
        note: spec.note,
        pricelist: spec.pricelist,
        origin: origin.clone(),
    })
}

pub(crate) fn compile_free(
    file: &str,
    service: &str,
    groups: &BTreeMap<String, Vec<String>>,
    spec: FreeSpec,
    origin: &Origin,
) -> Result<FreeEntry, TableError> {
    let id = spec.id.as_str();
    check_date(file, &format!("entry `{id}`"), &spec.as_of)?;
    Ok(FreeEntry {
        id: Arc::from(id),
        service: service.to_string(),
        operations: patterns(file, id, groups, &spec.operations)?,
        when: conditions(file, id, spec.when)?,
        reason: spec.reason,
        source: spec.source,
        as_of: spec.as_of,
        origin: origin.clone(),
    })
}

pub(crate) fn load_file(file: &str, text: &str, origin: &Origin) -> Result<LoadedFile, TableError> {
    let parsed: TableFile =
        toml::from_str(text).map_err(|e| TableError::invalid(file, e.to_string()))?;
    let service = parsed.service.clone();
    let errors = match parsed.errors {
        Some(spec) => {
            check_date(file, "[errors]", &spec.as_of)?;
            Some(ErrorPolicy {
                billed: spec.billed,
                except: spec.except,
                source: spec.source,
                as_of: spec.as_of,
                note: spec.note,
            })
        }
        None => None,
    };
    let prices = parsed
        .price
        .into_iter()
        .map(|spec| compile_price(file, &service, &parsed.groups, spec, origin))
        .collect::<Result<_, _>>()?;
    let free = parsed
        .free
        .into_iter()
        .map(|spec| compile_free(file, &service, &parsed.groups, spec, origin))
        .collect::<Result<_, _>>()?;
    let allowances = parsed
        .allowance
        .into_iter()
        .map(|spec| {
            let id = spec.id.as_str();
            check_date(file, &format!("allowance `{id}`"), &spec.as_of)?;
            Ok(AllowanceEntry {
                id: Arc::from(id),
                service: service.clone(),
                operations: patterns(file, id, &parsed.groups, &spec.operations)?,
                unit: Unit::from_str(&spec.unit)
                    .map_err(|e| TableError::invalid(file, format!("allowance `{id}`: {e}")))?,
                quantity: parse_decimal(file, &format!("allowance `{id}`"), &spec.quantity)?,
                source: spec.source,
                as_of: spec.as_of,
                note: spec.note,
            })
        })
        .collect::<Result<_, TableError>>()?;
    Ok(LoadedFile {
        service,
        errors,
        prices,
        free,
        allowances,
    })
}

impl PriceTable {
    /// The table compiled into the binary.
    pub fn built_in() -> Result<Self, TableError> {
        let mut table = PriceTable::default();
        let mut digest = Sha256::new();
        for (name, text) in BUILT_IN {
            digest.update(name.as_bytes());
            digest.update(text.as_bytes());
            let loaded = load_file(&format!("pricing/{name}"), text, &Origin::BuiltIn)?;
            table.add(loaded, &format!("pricing/{name}"))?;
        }
        table.version = digest.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        table.origins.push(Origin::BuiltIn);
        Ok(table)
    }

    fn add(&mut self, loaded: LoadedFile, file: &str) -> Result<(), TableError> {
        let service = self.services.entry(loaded.service.clone()).or_default();
        if loaded.errors.is_some() {
            if service.errors.is_some() {
                return Err(TableError::invalid(
                    file,
                    format!("a second [errors] for service `{}`", loaded.service),
                ));
            }
            service.errors = loaded.errors;
        }
        service.prices.extend(loaded.prices);
        service.free.extend(loaded.free);
        service.allowances.extend(loaded.allowances);
        Ok(())
    }

    pub fn service(&self, name: &str) -> Option<&ServiceTable> {
        self.services.get(name)
    }

    pub(crate) fn service_mut(&mut self, name: &str) -> &mut ServiceTable {
        self.services.entry(name.to_string()).or_default()
    }

    /// Every price entry, by id.
    pub fn price_by_id(&self, id: &str) -> Option<&PriceEntry> {
        self.services
            .values()
            .flat_map(|s| s.prices.iter())
            .find(|e| &*e.id == id)
    }

    pub(crate) fn price_by_id_mut(&mut self, id: &str) -> Option<&mut PriceEntry> {
        self.services
            .values_mut()
            .flat_map(|s| s.prices.iter_mut())
            .find(|e| &*e.id == id)
    }

    /// Every monthly free allowance.
    pub fn allowances(&self) -> impl Iterator<Item = &AllowanceEntry> {
        self.services.values().flat_map(|s| s.allowances.iter())
    }

    pub fn entry_count(&self) -> usize {
        self.services
            .values()
            .map(|s| s.prices.len() + s.free.len())
            .sum()
    }

    /// The price entries that apply to one operation with the given dimension values, by unit:
    /// explicit names first, then `*`.
    pub fn prices_for<'t, 'v>(
        &'t self,
        service: &str,
        operation: &str,
        value_of: &dyn Fn(Dimension) -> Option<&'v str>,
    ) -> Vec<&'t PriceEntry> {
        let Some(table) = self.services.get(service) else {
            return Vec::new();
        };
        // The first entry for each unit wins. A few units at most: a list, not a hash map
        // (this runs on every priced call).
        let mut chosen: Vec<&PriceEntry> = Vec::new();
        let mut choose = |entry: &'t PriceEntry| {
            if !chosen.iter().any(|e| e.unit == entry.unit) {
                chosen.push(entry);
            }
        };
        for entry in &table.prices {
            if entry.operations.iter().any(|p| p.names(operation)) && entry.when_matches(value_of) {
                choose(entry);
            }
        }
        let explicitly_free = table.free.iter().any(|entry| {
            entry.operations.iter().any(|p| p.names(operation))
                && entry.when.iter().all(|c| c.matches(value_of(c.dimension)))
        });
        if !explicitly_free {
            for entry in &table.prices {
                if entry.operations.contains(&OperationPattern::Rest)
                    && entry.when_matches(value_of)
                {
                    choose(entry);
                }
            }
        }
        chosen.sort_by_key(|e| e.unit);
        chosen
    }

    /// The free entry that names this operation, if any (explicitly, or through `*`).
    pub fn free_for<'t, 'v>(
        &'t self,
        service: &str,
        operation: &str,
        value_of: &dyn Fn(Dimension) -> Option<&'v str>,
    ) -> Option<&'t FreeEntry> {
        let table = self.services.get(service)?;
        let matches = |entry: &&FreeEntry, explicit: bool| {
            let named = if explicit {
                entry.operations.iter().any(|p| p.names(operation))
            } else {
                entry.operations.contains(&OperationPattern::Rest)
            };
            named && entry.when.iter().all(|c| c.matches(value_of(c.dimension)))
        };
        table
            .free
            .iter()
            .find(|e| matches(e, true))
            .or_else(|| table.free.iter().find(|e| matches(e, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
service = "s3"
[errors]
billed = "4xx"
except = ["AccessDenied"]
source = "https://example.com/errors"
as_of = "2026-01-01"
[groups]
tier1 = ["PutObject", "List*"]
[[price]]
id = "s3/standard/tier1"
operations = ["@tier1"]
when = { storage_class = "STANDARD" }
unit = "request"
usd = "0.000005"
regions = { "eu-west-1" = "0.0000054" }
source = "https://aws.amazon.com/s3/pricing/"
as_of = "2026-07-01"
[[price]]
id = "s3/standard/tier2"
operations = ["*"]
when = { storage_class = ["STANDARD", "REDUCED_REDUNDANCY"] }
unit = "request"
usd = "0.0000004"
source = "https://aws.amazon.com/s3/pricing/"
as_of = "2026-07-01"
[[free]]
id = "s3/free"
operations = ["DeleteObject"]
reason = "DELETE requests are free"
source = "https://aws.amazon.com/s3/pricing/"
as_of = "2026-07-01"
"#;

    fn sample() -> PriceTable {
        let mut table = PriceTable::default();
        let loaded = load_file("sample.toml", SAMPLE, &Origin::BuiltIn).unwrap();
        table.add(loaded, "sample.toml").unwrap();
        table
    }

    #[test]
    fn explicit_names_and_prefixes_beat_the_rest_and_free_entries_stop_it() {
        let table = sample();
        let standard = |d: Dimension| (d == Dimension::StorageClass).then_some("STANDARD");
        let ids = |op: &str| -> Vec<String> {
            table
                .prices_for("s3", op, &standard)
                .iter()
                .map(|e| e.id.to_string())
                .collect()
        };
        assert_eq!(ids("PutObject"), ["s3/standard/tier1"]);
        assert_eq!(ids("ListObjectsV2"), ["s3/standard/tier1"]);
        assert_eq!(ids("GetObject"), ["s3/standard/tier2"]);
        assert!(ids("DeleteObject").is_empty());
        assert_eq!(
            &*table.free_for("s3", "DeleteObject", &standard).unwrap().id,
            "s3/free"
        );
        let glacier = |_: Dimension| Some("GLACIER");
        assert!(table.prices_for("s3", "GetObject", &glacier).is_empty());
    }

    #[test]
    fn regional_prices_fall_back_to_us_east_1_and_say_so() {
        let table = sample();
        let entry = table.price_by_id("s3/standard/tier1").unwrap();
        assert_eq!(entry.price_in("eu-west-1").0.to_string(), "0.0000054");
        assert_eq!(entry.price_in("us-east-1"), (entry.usd, false));
        assert_eq!(entry.price_in("ap-south-1"), (entry.usd, true));
    }

    #[test]
    fn bad_files_are_rejected_with_the_file_and_entry_named() {
        let bad = SAMPLE.replace(
            "unit = \"request\"\nusd = \"0.000005\"",
            "unit = \"requests\"\nusd = \"0.000005\"",
        );
        let error = load_file("s3.toml", &bad, &Origin::BuiltIn)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("s3.toml") && error.contains("unknown unit `requests`"),
            "{error}"
        );
        let bad = SAMPLE.replace("\"0.0000054\"", "\"5.4e-6\"");
        let error = load_file("s3.toml", &bad, &Origin::BuiltIn)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a decimal"), "{error}");
        let bad = SAMPLE.replace("as_of = \"2026-07-01\"", "as_of = \"July 2026\"");
        let error = load_file("s3.toml", &bad, &Origin::BuiltIn)
            .unwrap_err()
            .to_string();
        assert!(error.contains("YYYY-MM-DD"), "{error}");
        let bad = SAMPLE.replace("@tier1", "@tier9");
        let error = load_file("s3.toml", &bad, &Origin::BuiltIn)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no group `tier9`"), "{error}");
    }
}
