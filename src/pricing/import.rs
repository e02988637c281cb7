//! `tollgate pricing import`: regional prices from AWS Price List bulk offer files.
//!
//! An offer file (`offers/v1.0/aws/<offerCode>/<version>/<region>/index.json`) lists products
//! (`sku` → `productFamily`, `attributes{regionCode, usagetype, group, operation, ...}`) and their
//! on-demand terms (`terms.OnDemand[sku][term].priceDimensions[rate].pricePerUnit.USD`). Each table
//! entry with a `pricelist` key is looked up by those attributes; usage types are compared
//! without their region prefix (`EUW1-Requests-Tier1` is `Requests-Tier1`), since the prefix
//! differs by service and region.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rust_decimal::Decimal;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::overlay::RegionalSpec;
use super::table::{PriceEntry, PriceListKey, PriceTable};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    // Every variant names the file it is about: see [`ImportError::path`].
    // The causes are part of the message and deliberately not `source`s, so they print once.
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path} is not an AWS Price List offer file (JSON with offerCode, products, terms): {error}")]
    Format {
        path: String,
        error: serde_json::Error,
    },
    #[error("{path} holds the offer {found}, not {expected}: the Price List's index points at the wrong file")]
    WrongOffer {
        path: String,
        expected: String,
        found: String,
    },
}

/// The attributes of one product that a `pricelist` key can name.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Product {
    #[serde(default)]
    product_family: Option<String>,
    #[serde(default)]
    attributes: HashMap<String, serde_json::Value>,
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

impl ImportError {
    /// The file the error is about, as it was given.
    pub fn path(&self) -> &str {
        match self {
            Self::Read { path, .. } | Self::Format { path, .. } | Self::WrongOffer { path, .. } => {
                path
            }
        }
    }
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

/// What one offer file says, kept to what the table can use: its header, the products some
/// entry's key matches, and the on-demand price of those products. An offer file runs to tens of
/// MB; it is read as a stream and everything else is dropped as it goes by.
#[derive(Debug, Default)]
pub struct ParsedOffer {
    pub offer_code: String,
    pub version: Option<String>,
    pub publication_date: Option<String>,
    /// (sku, index of the entry in the import's entry list, region).
    matches: Vec<(String, usize, String)>,
    /// sku → its first non-zero on-demand price, for matched skus (for every sku when the terms
    /// came before the products).
    prices: HashMap<String, Decimal>,
}

/// The table entries an import looks for, with their Price List keys.
struct Wanted<'t> {
    entries: Vec<(&'t PriceEntry, &'t PriceListKey)>,
}

impl<'t> Wanted<'t> {
    fn of(table: &'t PriceTable) -> Self {
        let entries = table
            .services
            .values()
            .flat_map(|s| s.prices.iter())
            .filter_map(|entry| Some((entry, entry.pricelist.as_ref()?)))
            .collect();
        Self { entries }
    }

    /// The entries (by index) whose key `product` matches, whatever their offer: the offer code
    /// may come after the products in the file, so it is checked at the end.
    fn matching(&self, product: &Product) -> Vec<usize> {
        let attribute = |name: &str| product.attributes.get(name).and_then(|v| v.as_str());
        let equal = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, (_, key))| {
                equal(&key.group, attribute("group"))
                    && equal(&key.operation, attribute("operation"))
                    && equal(&key.product_family, product.product_family.as_deref())
                    && key.usagetype.as_deref().is_none_or(|want| {
                        attribute("usagetype").is_some_and(|have| same_usage_type(have, want))
                    })
                    && (key.group.is_some() || key.usagetype.is_some() || key.operation.is_some())
            })
            .map(|(index, _)| index)
            .collect()
    }
}

/// Reads offer files and finds the regional price of every table entry they map to.
pub fn import(table: &PriceTable, paths: &[&Path]) -> Result<ImportReport, ImportError> {
    let files: Vec<(&Path, Option<&str>)> = paths.iter().map(|path| (*path, None)).collect();
    import_expecting(table, &files)
}

/// [`import`], where each file may be expected to hold one offer (`AmazonS3`): a file that
/// holds another is refused.
pub fn import_expecting(
    table: &PriceTable,
    files: &[(&Path, Option<&str>)],
) -> Result<ImportReport, ImportError> {
    let wanted = Wanted::of(table);
    let mut parsed = Vec::with_capacity(files.len());
    for (path, expected) in files {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|error| ImportError::Read {
            path: shown.clone(),
            error,
        })?;
        let offer = parse_offer(&wanted, std::io::BufReader::new(file)).map_err(|error| {
            ImportError::Format {
                path: shown.clone(),
                error,
            }
        })?;
        if let Some(expected) = expected.filter(|e| *e != offer.offer_code) {
            return Err(ImportError::WrongOffer {
                path: shown,
                expected: expected.to_string(),
                found: offer.offer_code,
            });
        }
        parsed.push((shown, offer));
    }
    Ok(collect(&wanted, parsed))
}

/// Reads one offer file as a stream, keeping only what `wanted` can use.
fn parse_offer<R: std::io::Read>(
    wanted: &Wanted<'_>,
    reader: R,
) -> Result<ParsedOffer, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let offer = OfferSeed { wanted }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    if offer.offer_code.is_empty() {
        return Err(serde::de::Error::missing_field("offerCode"));
    }
    Ok(offer)
}

/// The regional prices of parsed offers, one per entry and region.
fn collect(wanted: &Wanted<'_>, parsed: Vec<(String, ParsedOffer)>) -> ImportReport {
    let mut report = ImportReport::default();
    // (entry id, region) -> (price, source, as_of)
    let mut found: BTreeMap<(String, String), Vec<Candidate>> = BTreeMap::new();
    for (shown, offer) in parsed {
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
        for (sku, index, region) in &offer.matches {
            let (entry, key) = wanted.entries[*index];
            if key.offer.as_deref().is_some_and(|o| o != offer.offer_code) {
                continue;
            }
            let Some(price) = offer.prices.get(sku) else {
                continue;
            };
            let source = format!(
                "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{}/{version}/{region}/index.json",
                offer.offer_code
            );
            found
                .entry((entry.id.to_string(), region.clone()))
                .or_default()
                .push((*price, source, as_of.clone()));
        }
    }
    settle(found, &mut report);
    report
}

/// The top level of an offer file: `{"offerCode", "version", "publicationDate", "products",
/// "terms", ...}` in any order.
struct OfferSeed<'w, 't> {
    wanted: &'w Wanted<'t>,
}

impl<'de> DeserializeSeed<'de> for OfferSeed<'_, '_> {
    type Value = ParsedOffer;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OfferSeed<'_, '_> {
    type Value = ParsedOffer;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an AWS Price List offer (an object with offerCode, products and terms)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut offer = ParsedOffer::default();
        let mut products_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "offerCode" => offer.offer_code = map.next_value()?,
                "version" => offer.version = map.next_value()?,
                "publicationDate" => offer.publication_date = map.next_value()?,
                "products" => {
                    offer.matches = map.next_value_seed(ProductsSeed {
                        wanted: self.wanted,
                    })?;
                    products_seen = true;
                    // Terms read before the products kept every sku's price: drop the rest.
                    if !offer.prices.is_empty() {
                        let kept: HashSet<&str> =
                            offer.matches.iter().map(|(sku, ..)| sku.as_str()).collect();
                        offer.prices.retain(|sku, _| kept.contains(sku.as_str()));
                    }
                }
                "terms" => {
                    let keep: Option<HashSet<String>> = products_seen
                        .then(|| offer.matches.iter().map(|(sku, ..)| sku.clone()).collect());
                    offer.prices = map.next_value_seed(TermsSeed {
                        keep: keep.as_ref(),
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(offer)
    }
}

/// `products`: sku → product, kept as (sku, entry, region) for the products an entry matches.
struct ProductsSeed<'w, 't> {
    wanted: &'w Wanted<'t>,
}

impl<'de> DeserializeSeed<'de> for ProductsSeed<'_, '_> {
    type Value = Vec<(String, usize, String)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProductsSeed<'_, '_> {
    type Value = Vec<(String, usize, String)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("products: an object of sku to product")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut matches = Vec::new();
        while let Some(sku) = map.next_key::<String>()? {
            let product: Product = map.next_value()?;
            // Data transfer products are placed by where the bytes leave from.
            let region = ["regionCode", "fromRegionCode"]
                .iter()
                .find_map(|name| product.attributes.get(*name).and_then(|v| v.as_str()));
            let Some(region) = region else {
                continue;
            };
            for index in self.wanted.matching(&product) {
                matches.push((sku.clone(), index, region.to_string()));
            }
        }
        Ok(matches)
    }
}

/// `terms`: `OnDemand` sku → term → price dimensions, kept as sku → price for the skus in `keep`
/// (all, when the products are yet to come). Reserved and other terms are skipped.
struct TermsSeed<'k> {
    keep: Option<&'k HashSet<String>>,
}

impl<'de> DeserializeSeed<'de> for TermsSeed<'_> {
    type Value = HashMap<String, Decimal>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TermsSeed<'_> {
    type Value = HashMap<String, Decimal>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("terms: an object with OnDemand")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut prices = HashMap::new();
        while let Some(kind) = map.next_key::<String>()? {
            if kind != "OnDemand" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            prices = map.next_value_seed(OnDemandSeed { keep: self.keep })?;
        }
        Ok(prices)
    }
}

struct OnDemandSeed<'k> {
    keep: Option<&'k HashSet<String>>,
}

impl<'de> DeserializeSeed<'de> for OnDemandSeed<'_> {
    type Value = HashMap<String, Decimal>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OnDemandSeed<'_> {
    type Value = HashMap<String, Decimal>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("OnDemand: an object of sku to terms")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut prices = HashMap::new();
        while let Some(sku) = map.next_key::<String>()? {
            if self.keep.is_some_and(|keep| !keep.contains(&sku)) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let terms: HashMap<String, Term> = map.next_value()?;
            if let Some(price) = on_demand_price(&terms) {
                prices.insert(sku, price);
            }
        }
        Ok(prices)
    }
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
fn on_demand_price(terms: &HashMap<String, Term>) -> Option<Decimal> {
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

    fn offer_file(terms_first: bool, code: &str) -> String {
        let products = r#""products": {
            "A": {"sku": "A", "productFamily": "API Request", "attributes": {"regionCode": "eu-west-1", "group": "S3-API-Tier1", "usagetype": "EUW1-Requests-Tier1"}},
            "B": {"sku": "B", "productFamily": "Storage", "attributes": {"regionCode": "eu-west-1", "usagetype": "EUW1-TimedStorage-ByteHrs"}}
        }"#;
        let terms = r#""terms": {"OnDemand": {
            "A": {"A.T": {"priceDimensions": {"A.T.R": {"beginRange": "0", "pricePerUnit": {"USD": "0.0000054000"}}}}},
            "B": {"B.T": {"priceDimensions": {"B.T.R": {"beginRange": "0", "pricePerUnit": {"USD": "0.021"}}}}}
        }, "Reserved": {"A": {}}}"#;
        let (first, second) = if terms_first {
            (terms, products)
        } else {
            (products, terms)
        };
        format!(
            r#"{{"formatVersion": "v1.0", {first}, "offerCode": "{code}", "version": "1", "publicationDate": "2026-07-01T00:00:00Z", {second}}}"#
        )
    }

    /// The stream is read in whatever order AWS writes it; only matched products are kept.
    #[test]
    fn an_offer_is_read_in_any_member_order_keeping_only_matched_products() {
        let table = PriceTable::built_in().unwrap();
        let wanted = Wanted::of(&table);
        for terms_first in [false, true] {
            let offer =
                parse_offer(&wanted, offer_file(terms_first, "AmazonS3").as_bytes()).unwrap();
            assert_eq!(offer.offer_code, "AmazonS3");
            let skus: HashSet<&str> = offer.matches.iter().map(|(sku, ..)| sku.as_str()).collect();
            assert_eq!(skus, HashSet::from(["A"]), "terms first: {terms_first}");
            assert_eq!(offer.prices.len(), 1, "terms first: {terms_first}");
            let report = collect(&wanted, vec![("f".into(), offer)]);
            let tier1: Vec<_> = report
                .prices
                .iter()
                .filter(|p| p.id == "s3/standard/tier1")
                .collect();
            assert_eq!(tier1.len(), 1);
            assert_eq!(tier1[0].usd, "0.0000054");
        }
        // The same products under another offer code price nothing of S3's.
        let other = parse_offer(&wanted, offer_file(false, "AmazonOther").as_bytes()).unwrap();
        assert!(collect(&wanted, vec![("f".into(), other)])
            .prices
            .is_empty());
        // Cut short, or not an offer: refused.
        let text = offer_file(false, "AmazonS3");
        assert!(parse_offer(&wanted, &text.as_bytes()[..text.len() / 2]).is_err());
        assert!(parse_offer(&wanted, &b"{\"products\": {}}"[..]).is_err());
    }

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
