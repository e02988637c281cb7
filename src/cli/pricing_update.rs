//! `tollgate pricing update`: fetch the AWS Price List's offer files for the regions the recorded
//! runs called (and us-east-1), and import their regional prices.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use crate::pricing::import;
use crate::pricing::table::{PriceTable, BASE_REGION};
use crate::pricing::update::{self, Source, Wanted, PRICE_LIST};
use crate::record::RunFilter;
use crate::roots::Roots;
use crate::store;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// A region to fetch prices for (repeatable). Default: every region of the recorded runs,
    /// and us-east-1.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// A service to fetch, by its botocore name (`s3`, `dynamodb`; repeatable). Default: every
    /// service whose prices the table takes from the Price List.
    #[arg(long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// A mirror of the Price List, for air-gapped machines: a directory holding its paths
    /// (`DIR/offers/v1.0/aws/index.json`, ...), or an http(s):// URL in place of AWS's.
    #[arg(long, value_name = "DIR|URL")]
    pub from: Option<String>,
    /// Trust the CA certificates in FILE (PEM) for the Price List's server, besides the system
    /// roots (a mirror behind a private CA, a TLS-inspecting proxy).
    #[arg(long = "ca", value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Where to write the regional prices (default: pricing-imported.toml in tollgate's data
    /// directory, which every run reads). Existing prices there are kept unless replaced.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The history whose regions are fetched by default: a SQLite file as PATH, sqlite://PATH
    /// or sqlite:PATH, or postgres://USER@HOST/DB (default: $TOLLGATE_DB, else tollgate.db in
    /// $XDG_STATE_HOME/tollgate).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

pub async fn execute(args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let table = PriceTable::built_in()?;
    let wanted = Wanted {
        offers: offers(&table, &args.services)?,
        regions: regions(&args).await?,
    };
    let source = match &args.from {
        Some(dir) if !dir.starts_with("http://") && !dir.starts_with("https://") => {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                bail!(
                    "--from {}: no such directory (or give an http(s):// URL)",
                    dir.display()
                );
            }
            Source::Dir(dir)
        }
        from => {
            let mut roots = Roots::system();
            for file in &args.ca {
                roots.add_pem_file(file)?;
            }
            Source::http(from.as_deref().unwrap_or(PRICE_LIST), roots.store())?
        }
    };
    let data = crate::home::data_dir().context("cannot find tollgate's data directory")?;
    crate::home::ensure_private_dir(&data)
        .with_context(|| format!("cannot use {}", data.display()))?;
    let cache = data.join("pricelist");
    eprintln!(
        "tollgate: fetching {} offer{} for {}",
        wanted.offers.len(),
        if wanted.offers.len() == 1 { "" } else { "s" },
        wanted.regions.join(", ")
    );
    let fetched = update::fetch(&source, &cache, &wanted).await?;
    for offer in &fetched.unknown_offers {
        eprintln!(
            "tollgate: the Price List's index has no offer {offer}; its prices stay as they were"
        );
    }
    for (offer, region) in &fetched.not_offered {
        eprintln!("tollgate: {offer} has no prices for {region} (not offered there)");
    }
    // Every file is read before anything is written: one bad file leaves the prices in use as
    // they were.
    let files: Vec<(&std::path::Path, Option<&str>)> = fetched
        .files
        .iter()
        .map(|file| (file.file.as_path(), Some(file.offer.as_str())))
        .collect();
    let report = match import::import_expecting(&table, &files) {
        Ok(report) => report,
        Err(error) => {
            // The file refused is dropped from the cache, so the next update fetches it again.
            for file in &fetched.files {
                if file.file.display().to_string() == error.path() {
                    update::forget(file);
                }
            }
            return Err(error).context("nothing was imported; the prices in use are unchanged");
        }
    };
    for file in &fetched.files {
        eprintln!(
            "{} {} {} ({}, {})",
            file.origin.as_str(),
            file.offer,
            file.region,
            file.url_path,
            human_bytes(file.bytes)
        );
    }
    eprintln!("tollgate: {} downloaded", human_bytes(fetched.downloaded));
    super::imported_prices::write_imported(&table, &report, args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// The offer codes to fetch: those of the table's entries with a Price List key, for the
/// services named (all when none are).
fn offers(table: &PriceTable, services: &[String]) -> anyhow::Result<Vec<String>> {
    let mut offers = BTreeSet::new();
    for service in services {
        if !table.services.contains_key(service.as_str()) {
            let known: Vec<&str> = table.services.keys().map(|s| s.as_ref()).collect();
            bail!(
                "--service {service}: the table prices no such service (it has {})",
                known.join(", ")
            );
        }
    }
    for (name, service) in &table.services {
        if !services.is_empty() && !services.iter().any(|s| s.as_str() == name.as_ref() as &str) {
            continue;
        }
        for entry in &service.prices {
            if let Some(offer) = entry.pricelist.as_ref().and_then(|key| key.offer.clone()) {
                offers.insert(offer);
            }
        }
    }
    if offers.is_empty() {
        bail!("the services named take no prices from the Price List");
    }
    Ok(offers.into_iter().collect())
}

/// The regions to fetch: `--region`, else us-east-1 and every region of the recorded runs.
async fn regions(args: &UpdateArgs) -> anyhow::Result<Vec<String>> {
    if !args.regions.is_empty() {
        for region in &args.regions {
            if !crate::aws::host::is_region(region) {
                bail!("--region {region}: not an AWS region code (for example eu-west-1)");
            }
        }
        let unique: BTreeSet<String> = args.regions.iter().cloned().collect();
        return Ok(unique.into_iter().collect());
    }
    let mut regions = BTreeSet::from([BASE_REGION.to_string()]);
    let db = super::history_arg::database_or_env(args.db.as_deref());
    match store::open_existing(db.as_deref()).await {
        Ok(store) => {
            // Every run: since the epoch.
            let all = RunFilter {
                since_us: Some(0),
                ..RunFilter::default()
            };
            let runs = store.select_runs(&all).await;
            let seen = match runs {
                Ok(runs) => store.regions(&runs).await,
                Err(error) => Err(error),
            };
            store.close().await;
            for group in seen? {
                if let Some(region) = group.region.filter(|r| crate::aws::host::is_region(r)) {
                    regions.insert(region);
                }
            }
        }
        // No history yet: us-east-1 alone, which the bundled table already has.
        Err(store::StoreError::Missing { .. }) => {}
        Err(error) => {
            return Err(error)
                .context("cannot read the regions of the recorded runs; pass --region")
        }
    }
    Ok(regions.into_iter().collect())
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
