//! `tollgate pricing status`: which prices are in use, from where and how old, and which regions
//! of the recorded runs are still priced at us-east-1 rates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::pricing::overlay;
use crate::pricing::table::{PriceTable, BASE_REGION};
use crate::record::RunFilter;
use crate::store;

/// An imported offer older than this is called stale: AWS changes prices (DynamoDB on-demand
/// fell by half in November 2024), and a quarter is long enough to have missed one.
const STALE_DAYS: i64 = 90;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub sources: super::price_sources::SourceArgs,
    /// The history whose regions are checked: a SQLite file as PATH, sqlite://PATH or
    /// sqlite:PATH, or postgres://USER@HOST/DB (default: $TOLLGATE_DB, else tollgate.db in
    /// $XDG_STATE_HOME/tollgate).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// One imported offer: the prices taken from one offer file.
#[derive(Debug, Default)]
struct OfferUse {
    /// Entry ids priced from it.
    entries: BTreeSet<String>,
    published: String,
}

pub async fn execute(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let sources = args.sources.sources()?;
    let (table, _) = overlay::load(&sources)?;
    let today = time::OffsetDateTime::now_utc().date();
    let mut out = String::new();
    let built_in = PriceTable::built_in()?;
    let (oldest, newest) = as_of_range(&built_in);
    let _ = writeln!(
        out,
        "built-in table {}: {} entries, us-east-1, sources dated {oldest} to {newest}",
        built_in.version,
        built_in.entry_count()
    );

    // Imported prices, by offer file (its URL names offer, version and region).
    let mut offers: BTreeMap<String, OfferUse> = BTreeMap::new();
    for service in table.services.values() {
        for entry in &service.prices {
            for price in entry.regions.values() {
                if !price.source.contains("/offers/v1.0/aws/") {
                    continue;
                }
                let used = offers.entry(price.source.clone()).or_default();
                used.entries.insert(entry.id.to_string());
                used.published = price.as_of.clone();
            }
        }
    }
    match &sources.imported {
        Some(path) => {
            let _ = writeln!(out, "imported prices: {}", path.display());
        }
        None => {
            let _ = writeln!(
                out,
                "imported prices: none (`tollgate pricing update` fetches the regions you call)"
            );
        }
    }
    let mut stale = 0;
    for (url, used) in &offers {
        let age = time::Date::parse(
            &used.published,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(|date| (today - date).whole_days())
        .ok();
        let shown_age = match age {
            Some(days) if days > STALE_DAYS => {
                stale += 1;
                format!("{days} days old: STALE")
            }
            Some(days) => format!("{days} days old"),
            None => "age unknown".into(),
        };
        let _ = writeln!(
            out,
            "  {} ({} entr{}, published {}, {shown_age})",
            offer_name(url),
            used.entries.len(),
            if used.entries.len() == 1 { "y" } else { "ies" },
            used.published
        );
    }
    if let Some(path) = &sources.overlay {
        let _ = writeln!(out, "overlay: {}", path.display());
    }

    // Regions of the recorded runs that have no prices of their own for a service they called.
    let db = super::history_arg::database_or_env(args.db.as_deref());
    let estimated = match store::open_existing(db.as_deref()).await {
        Ok(store) => {
            let all = RunFilter {
                since_us: Some(0),
                ..RunFilter::default()
            };
            let groups = match store.select_runs(&all).await {
                Ok(runs) => store.regions(&runs).await,
                Err(error) => Err(error),
            };
            store.close().await;
            Some(still_estimated(&table, &groups?))
        }
        Err(store::StoreError::Missing { .. }) => None,
        Err(error) => return Err(error.into()),
    };
    match estimated {
        None => {
            let _ = writeln!(out, "recorded runs: none yet");
        }
        Some(estimated) if estimated.is_empty() => {
            let _ = writeln!(
                out,
                "recorded runs: every region they called has its own prices"
            );
        }
        Some(estimated) => {
            let _ = writeln!(
                out,
                "recorded runs: priced at us-east-1 rates (~) in {} region{}:",
                estimated.len(),
                if estimated.len() == 1 { "" } else { "s" }
            );
            for (region, (calls, services)) in &estimated {
                let services: Vec<&str> = services.iter().map(String::as_str).collect();
                let _ = writeln!(out, "  {region}: {calls} calls ({})", services.join(", "));
            }
            let flags: Vec<String> = estimated
                .keys()
                .map(|region| format!("--region {region}"))
                .collect();
            let _ = writeln!(
                out,
                "  `tollgate pricing update {}` makes them exact",
                flags.join(" ")
            );
        }
    }
    if stale > 0 {
        let _ = writeln!(
            out,
            "warning: {stale} imported offer{} older than {STALE_DAYS} days: `tollgate pricing update` \
             fetches the current ones",
            if stale == 1 { " is" } else { "s are" }
        );
    }
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `https://.../offers/v1.0/aws/AmazonS3/20260701000000/eu-west-1/index.json` →
/// `AmazonS3 eu-west-1 version 20260701000000`.
fn offer_name(url: &str) -> String {
    let parts: Vec<&str> = url.split('/').collect();
    match parts.as_slice() {
        [.., offer, version, region, "index.json"] => {
            format!("{offer} {region} version {version}")
        }
        _ => url.to_string(),
    }
}

/// The oldest and newest `as_of` of the table's prices.
fn as_of_range(table: &PriceTable) -> (String, String) {
    let dates: BTreeSet<&str> = table
        .services
        .values()
        .flat_map(|s| s.prices.iter())
        .map(|entry| entry.as_of.as_str())
        .collect();
    (
        dates.first().copied().unwrap_or("?").to_string(),
        dates.last().copied().unwrap_or("?").to_string(),
    )
}

/// Region → (calls, services) for the recorded calls in a region other than us-east-1 to a
/// service none of whose prices has that region's own.
fn still_estimated(
    table: &PriceTable,
    groups: &[crate::record::RegionGroup],
) -> BTreeMap<String, (u64, BTreeSet<String>)> {
    let mut estimated: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    for group in groups {
        let Some(region) = group.region.as_deref().filter(|r| *r != BASE_REGION) else {
            continue;
        };
        let Some(service) = table.service(&group.service) else {
            // Unpriced services are not estimated: they are shown as unpriced.
            continue;
        };
        let has_own = service
            .prices
            .iter()
            .any(|entry| entry.regions.contains_key(region));
        if !has_own && !service.prices.is_empty() {
            let slot = estimated.entry(region.to_string()).or_default();
            slot.0 += group.count;
            slot.1.insert(group.service.clone());
        }
    }
    estimated
}
