//! `tollgate pricing import`: regional prices from AWS Price List bulk offer files.
//!
//! An offer file (`offers/v1.0/aws/<offerCode>/<version>/<region>/index.json`) lists products
//! (`sku` → `productFamily`, `attributes{regionCode, usagetype, group, operation, ...}`) and their
//! on-demand terms (`terms.OnDemand[sku][term].priceDimensions[rate].pricePerUnit.USD`). Each table
//! entry with a `pricelist` key is looked up by those attributes; usage types are compared
//! without their region prefix (`EUW1-Requests-Tier1` is `Requests-Tier1`), since the prefix
//! differs by service and region.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::overlay::RegionalSpec;
use super::table::{PriceEntry, PriceTable};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    // The causes are part of the message and deliberately not `source`s, so they print once.
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path} is not an AWS Price List offer file (JSON with offerCode, products, terms): {error}")]
    Format {
        path: String,
        error: serde_json::Error,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Offer {
    offer_code: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    publication_date: Option<String>,
    #[serde(default)]
    products: HashMap<String, Product>,
    #[serde(default)]
    terms: Terms,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Product {
    #[serde(default)]
    product_family: Option<String>,
    #[serde(default)]
    attributes: HashMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Terms {
    #[serde(rename = "OnDemand", default)]
    on_demand: HashMap<String, HashMap<String, Term>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Term {
    #[serde(default)]
    price_dimensions: HashMap<String, PriceDimension>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceDimension {
    #[serde(default)]
    begin_range: Option<String>,
    #[serde(default)]
    price_per_unit: HashMap<String, String>,
}

/// What an import found.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// New or changed regional prices.
    pub prices: Vec<RegionalSpec>,
    /// Entries whose Price List key matched products with different prices in one region.
    pub conflicts: Vec<String>,
    /// Offer files read, with their offer code and version.
    pub files: Vec<String>,
}

/// A price found for one entry in one region: price, source URL, publication date.
type Candidate = (Decimal, String, String);

/// Reads offer files and finds the regional price of every table entry they map to.
pub fn import(table: &PriceTable, paths: &[&Path]) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    // (entry id, region) -> (price, source, as_of)
    let mut found: BTreeMap<(String, String), Vec<Candidate>> = BTreeMap::new();
    for path in paths {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|error| ImportError::Read {
            path: shown.clone(),
            error,
        })?;
        let offer: Offer =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(|error| {
                ImportError::Format {
                    path: shown.clone(),
                    error,
                }
            })?;
        let version = offer.version.clone().unwrap_or_else(|| "current".into());
        let as_of = offer
            .publication_date
            .as_deref()
            .and_then(|d| d.get(..10))
            .unwrap_or("")
            .to_string();
        report
            .files
            .push(format!("{shown}: {} version {version}", offer.offer_code));
        let entries: Vec<&PriceEntry> = table
            .services
            .values()
            .flat_map(|s| s.prices.iter())
            .filter(|e| {
                e.pricelist
                    .as_ref()
                    .is_some_and(|key| key.offer.as_deref().is_none_or(|o| o == offer.offer_code))
            })
            .collect();
        for (sku, product) in &offer.products {
            let attribute = |name: &str| product.attributes.get(name).and_then(|v| v.as_str());
            let Some(region) = attribute("regionCode") else {
                continue;
            };
            for entry in &entries {
                let key = entry.pricelist.as_ref().expect("filtered above");
                let equal = |want: &Option<String>, have: Option<&str>| {
                    want.as_deref().is_none_or(|w| have == Some(w))
                };
                let matches = equal(&key.group, attribute("group"))
                    && equal(&key.operation, attribute("operation"))
                    && equal(&key.product_family, product.product_family.as_deref())
                    && key.usagetype.as_deref().is_none_or(|want| {
                        attribute("usagetype").is_some_and(|have| same_usage_type(have, want))
                    })
                    && (key.group.is_some() || key.usagetype.is_some() || key.operation.is_some());
                if !matches {
                    continue;
                }
                let Some(price) = on_demand_price(&offer, sku) else {
                    continue;
                };
                let source = format!(
                    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{}/{version}/{region}/index.json",
                    offer.offer_code
                );
                found
                    .entry((entry.id.to_string(), region.to_string()))
                    .or_default()
                    .push((price, source, as_of.clone()));
            }
        }
    }
    settle(found, &mut report);
    Ok(report)
}

/// One price per entry and region: the candidates' price when they agree (dated today when the
/// offer has no publication date), a conflict when they do not.
fn settle(found: BTreeMap<(String, String), Vec<Candidate>>, report: &mut ImportReport) {
    for ((id, region), mut candidates) in found {
        candidates.sort_by_key(|c| c.0);
        candidates.dedup_by(|a, b| a.0 == b.0);
        if candidates.len() > 1 {
            let prices: Vec<String> = candidates.iter().map(|c| c.0.to_string()).collect();
            report.conflicts.push(format!(
                "{id} in {region}: several products match, with prices {}; narrow its `pricelist` key",
                prices.join(", ")
            ));
            continue;
        }
        let (price, source, as_of) = candidates.remove(0);
        let as_of = if as_of.is_empty() {
            time::OffsetDateTime::now_utc().date().to_string()
        } else {
            as_of
        };
        report.prices.push(RegionalSpec {
            id,
            region,
            usd: price.normalize().to_string(),
            source,
            as_of,
        });
    }
}

/// `EUW1-Requests-Tier1`, `us-east-1-KMS-Requests` and `Requests-Tier1` are all the usage type
/// `Requests-Tier1` / `KMS-Requests` with or without a region prefix.
fn same_usage_type(have: &str, want: &str) -> bool {
    if have == want {
        return true;
    }
    let Some(prefix) = have.strip_suffix(want).and_then(|p| p.strip_suffix('-')) else {
        return false;
    };
    let abbreviation = prefix.len() <= 5
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    abbreviation || crate::aws::host::is_region(prefix)
}

/// The first non-zero tier's price per unit (a $0 first tier is a free allowance, which reports
/// show apart); zero when every tier is zero.
fn on_demand_price(offer: &Offer, sku: &str) -> Option<Decimal> {
    let terms = offer.terms.on_demand.get(sku)?;
    let mut tiers: Vec<(Decimal, Decimal)> = terms
        .values()
        .flat_map(|term| term.price_dimensions.values())
        .filter_map(|dimension| {
            let usd = Decimal::from_str_exact(dimension.price_per_unit.get("USD")?).ok()?;
            let begin = dimension
                .begin_range
                .as_deref()
                .and_then(|b| Decimal::from_str_exact(b).ok())
                .unwrap_or(Decimal::ZERO);
            Some((begin, usd))
        })
        .collect();
    tiers.sort();
    tiers
        .iter()
        .find(|(_, usd)| !usd.is_zero())
        .or(tiers.first())
        .map(|(_, usd)| *usd)
}

/// Merges new regional prices into an imported-prices file's text (same id and region replaced),
/// as `[[pricing.regional]]` entries.
pub fn merge_into(existing: &str, new: &[RegionalSpec]) -> Result<String, toml::de::Error> {
    #[derive(Deserialize, Default)]
    struct File {
        #[serde(default)]
        pricing: Section,
    }
    #[derive(Deserialize, Default)]
    struct Section {
        #[serde(default)]
        regional: Vec<RegionalSpec>,
    }
    let mut merged: BTreeMap<(String, String), RegionalSpec> = BTreeMap::new();
    let old: File = if existing.trim().is_empty() {
        File::default()
    } else {
        toml::from_str(existing)?
    };
    for spec in old.pricing.regional.into_iter().chain(new.iter().cloned()) {
        merged.insert((spec.id.clone(), spec.region.clone()), spec);
    }
    let mut out = String::from(
        "# Regional prices imported from AWS Price List offer files by `tollgate pricing import`.\n\
         # Each one overrides the built-in entry's price in that region.\n",
    );
    for spec in merged.values() {
        out.push_str("\n[[pricing.regional]]\n");
        out.push_str(&toml::to_string(spec).expect("a RegionalSpec serialises"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_types_match_with_any_region_prefix() {
        assert!(same_usage_type("Requests-Tier1", "Requests-Tier1"));
        assert!(same_usage_type("EUW1-Requests-Tier1", "Requests-Tier1"));
        assert!(same_usage_type("us-east-1-KMS-Requests", "KMS-Requests"));
        assert!(same_usage_type("USE1-DataScannedInTB", "DataScannedInTB"));
        assert!(!same_usage_type("Requests-INT-Tier1", "Requests-Tier1"));
        assert!(!same_usage_type(
            "EUW1-Requests-SIA-Tier1",
            "Requests-Tier1"
        ));
    }
}
