//! The user's `tollgate.toml`: prices added or overridden, a discount, and the account facts that
//! change what a call costs. Found in the working directory or a parent, or named with
//! `--pricing FILE`. Regional prices written by `tollgate pricing import` use the same format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::table::{
    check_date, compile_free, compile_price, parse_decimal, FreeSpec, OneOrMany, Origin,
    PriceListKey, PriceSpec, PriceTable, RegionalPrice, TableError,
};

/// The file name searched for.
pub const FILE_NAME: &str = "tollgate.toml";

/// The file in the data directory that `tollgate pricing import` writes regional prices to by
/// default, and that [`Sources::discover`] reads them from.
pub const IMPORTED_FILE: &str = "pricing-imported.toml";

/// `tollgate.toml`. Sections other than these are refused, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub pricing: PricingSection,
    #[serde(default)]
    pub account: AccountFacts,
    /// Thresholds and silenced findings: read by `crate::findings`, opaque here.
    #[serde(default)]
    pub findings: Option<toml::Table>,
    /// The CI gate's thresholds: read by `crate::gate`, opaque here.
    #[serde(default)]
    pub gate: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSection {
    /// An enterprise discount, as a decimal string percentage (`"12.5"`), applied to every price.
    #[serde(default)]
    pub discount_percent: Option<String>,
    /// Whether to show what the monthly free allowances would absorb (the calls are still
    /// priced at list price).
    #[serde(default)]
    pub free_allowances: bool,
    #[serde(default)]
    pub(crate) price: Vec<OverlayPrice>,
    #[serde(default)]
    pub(crate) free: Vec<OverlayFree>,
    #[serde(default)]
    pub(crate) regional: Vec<RegionalSpec>,
}

/// Facts about the account and where the client runs, which change prices.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFacts {
    /// Parameter Store's higher-throughput setting (or advanced parameters): every API
    /// interaction is billed.
    #[serde(default)]
    pub ssm_higher_throughput: bool,
    /// CloudTrail records data events (S3 object, Lambda Invoke, DynamoDB item calls): each is
    /// billed to the account on top of the call.
    #[serde(default)]
    pub cloudtrail_data_events: bool,
    /// The client runs inside AWS in this region: calls to the same region pay no data transfer
    /// out.
    #[serde(default)]
    pub inside_aws_region: Option<String>,
}

/// A price entry in the overlay: a new entry (every field), or an override of a built-in one by
/// `id` (only `usd`, `source` and `as_of` needed; other fields replace the built-in ones when
/// given).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverlayPrice {
    pub id: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    #[serde(default)]
    pub when: Option<BTreeMap<String, OneOrMany>>,
    #[serde(default)]
    pub unit: Option<String>,
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
pub(crate) struct OverlayFree {
    pub service: String,
    pub id: String,
    pub operations: Vec<String>,
    #[serde(default)]
    pub when: BTreeMap<String, OneOrMany>,
    pub reason: String,
    pub source: String,
    pub as_of: String,
}

/// One imported regional price for an existing entry.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalSpec {
    pub id: String,
    pub region: String,
    pub usd: String,
    pub source: String,
    pub as_of: String,
}

/// Settings that apply to every price.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Percent off every price.
    pub discount_percent: Decimal,
    pub free_allowances: bool,
    pub account: AccountFacts,
}

/// Finds `tollgate.toml` in `start` or the nearest parent that has one.
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, TableError> {
    toml::from_str(text).map_err(|e| TableError::Invalid {
        file: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Applies a parsed overlay (or imported file) to the table and returns its settings.
pub fn apply(
    table: &mut PriceTable,
    path: &Path,
    config: ConfigFile,
    origin: Origin,
) -> Result<Settings, TableError> {
    let file = path.display().to_string();
    let invalid = |message: String| TableError::Invalid {
        file: file.clone(),
        message,
    };
    let discount_percent = match &config.pricing.discount_percent {
        Some(text) => {
            let value = parse_decimal(&file, "discount_percent", text)?;
            if value > Decimal::ONE_HUNDRED {
                return Err(invalid(format!("discount_percent `{text}` is above 100")));
            }
            value
        }
        None => Decimal::ZERO,
    };
    let no_groups = BTreeMap::new();
    for overlay in config.pricing.price {
        apply_price(table, &file, &no_groups, overlay, &origin)?;
    }
    for overlay in config.pricing.free {
        let spec = FreeSpec {
            id: overlay.id,
            operations: overlay.operations,
            when: overlay.when,
            reason: overlay.reason,
            source: overlay.source,
            as_of: overlay.as_of,
        };
        let compiled = compile_free(&file, &overlay.service, &no_groups, spec, &origin)?;
        let service = table.service_mut(&overlay.service);
        service.free.retain(|e| e.id != compiled.id);
        service.free.push(compiled);
    }
    for regional in config.pricing.regional {
        apply_regional(table, &file, &regional, &origin)?;
    }
    table.origins.push(origin);
    Ok(Settings {
        discount_percent,
        free_allowances: config.pricing.free_allowances,
        account: config.account,
    })
}

/// One `[[pricing.price]]`: overrides the built-in entry of its id (keeping what it does not
/// give, and the regional prices it does not replace), or adds a new one.
fn apply_price(
    table: &mut PriceTable,
    file: &str,
    no_groups: &BTreeMap<String, Vec<String>>,
    overlay: OverlayPrice,
    origin: &Origin,
) -> Result<(), TableError> {
    let invalid = |message: String| TableError::Invalid {
        file: file.to_string(),
        message,
    };
    let id = overlay.id.clone();
    if let Some(existing) = table.price_by_id(&id).cloned() {
        let spec = PriceSpec {
            id: id.clone(),
            operations: overlay
                .operations
                .unwrap_or_else(|| existing.operations.iter().map(|p| p.to_string()).collect()),
            when: overlay.when.unwrap_or_else(|| {
                existing
                    .when
                    .iter()
                    .map(|c| {
                        (
                            c.dimension.as_str().to_string(),
                            OneOrMany::Many(c.values.clone()),
                        )
                    })
                    .collect()
            }),
            unit: overlay.unit.unwrap_or_else(|| existing.unit.to_string()),
            usd: overlay.usd,
            regions: overlay.regions,
            source: overlay.source,
            as_of: overlay.as_of,
            note: overlay.note.or(existing.note.clone()),
            pricelist: overlay.pricelist.or(existing.pricelist.clone()),
        };
        let service = overlay.service.unwrap_or(existing.service.clone());
        if service != existing.service {
            return Err(invalid(format!(
                "entry `{id}` belongs to service `{}`, not `{service}`",
                existing.service
            )));
        }
        let mut compiled = compile_price(file, &service, no_groups, spec, origin)?;
        // Regional prices (imported ones too) stay unless the override gives its own.
        for (region, price) in existing.regions {
            compiled.regions.entry(region).or_insert(price);
        }
        *table.price_by_id_mut(&id).expect("entry found above") = compiled;
    } else {
        let (Some(service), Some(operations), Some(unit)) =
            (overlay.service, overlay.operations, overlay.unit)
        else {
            return Err(invalid(format!(
                "entry `{id}` is not in the built-in table, so it needs `service`, `operations` and `unit`"
            )));
        };
        let spec = PriceSpec {
            id,
            operations,
            when: overlay.when.unwrap_or_default(),
            unit,
            usd: overlay.usd,
            regions: overlay.regions,
            source: overlay.source,
            as_of: overlay.as_of,
            note: overlay.note,
            pricelist: overlay.pricelist,
        };
        let compiled = compile_price(file, &service, no_groups, spec, origin)?;
        table.service_mut(&service).prices.push(compiled);
    }
    Ok(())
}

pub(crate) fn apply_regional(
    table: &mut PriceTable,
    file: &str,
    regional: &RegionalSpec,
    origin: &Origin,
) -> Result<(), TableError> {
    let what = format!(
        "regional price for `{}` in {}",
        regional.id, regional.region
    );
    let usd = parse_decimal(file, &what, &regional.usd)?;
    check_date(file, &what, &regional.as_of)?;
    let entry = table
        .price_by_id_mut(&regional.id)
        .ok_or_else(|| TableError::Invalid {
            file: file.to_string(),
            message: format!("{what}: no entry `{}` in the table", regional.id),
        })?;
    entry.regions.insert(
        regional.region.clone(),
        RegionalPrice {
            usd,
            source: regional.source.clone(),
            as_of: regional.as_of.clone(),
            origin: origin.clone(),
        },
    );
    Ok(())
}

/// Where prices come from for one run: the built-in table, then the imported regional prices in
/// the data directory (if any), then the overlay (if any).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--pricing FILE`; else `tollgate.toml` found from the working directory.
    pub overlay: Option<PathBuf>,
    /// Regional prices from `tollgate pricing import`.
    pub imported: Option<PathBuf>,
}

impl Sources {
    /// The overlay named on the command line, else the one found from `cwd`; the imported file
    /// in the data directory when it exists.
    pub fn discover(explicit: Option<PathBuf>, cwd: &Path) -> Self {
        let imported = crate::home::data_dir()
            .ok()
            .map(|dir| dir.join(IMPORTED_FILE))
            .filter(|path| path.is_file());
        Self {
            overlay: explicit.or_else(|| find(cwd)),
            imported,
        }
    }
}

/// The table and settings one run prices with.
pub fn load(sources: &Sources) -> Result<(Arc<PriceTable>, Settings), TableError> {
    let mut table = PriceTable::built_in()?;
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| TableError::Invalid {
            file: path.display().to_string(),
            message: format!("cannot read it: {e}"),
        })
    };
    if let Some(path) = &sources.imported {
        let text = read(path)?;
        let config = parse(path, &text)?;
        apply(&mut table, path, config, Origin::Imported(path.clone()))?;
        table.version = format!("{}+imported.{}", table.version, short_digest(&text));
    }
    let mut settings = Settings::default();
    if let Some(path) = &sources.overlay {
        let text = read(path)?;
        let config = parse(path, &text)?;
        settings = apply(&mut table, path, config, Origin::Overlay(path.clone()))?;
        table.version = format!("{}+overlay.{}", table.version, short_digest(&text));
    }
    Ok((Arc::new(table), settings))
}

/// Six bytes of SHA-256, in hex: enough to tell two price files apart, short enough to show.
fn short_digest(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
