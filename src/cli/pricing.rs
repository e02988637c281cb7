//! `tollgate pricing show|check|import`: the prices that apply, whether the table is sound, and
//! regional prices from AWS Price List offer files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::aws::model::Model;
use crate::pricing::overlay::Settings;
use crate::pricing::table::{
    Condition, FreeEntry, OperationPattern, PriceEntry, PriceTable, BASE_REGION,
};
use crate::pricing::{check, import, overlay};

use super::price_sources::SourceArgs;

#[derive(Debug, Subcommand)]
pub enum PricingCommand {
    /// Print the prices that apply, with their sources.
    Show(ShowArgs),
    /// Validate the table and the overlay: operations exist, no overlaps, sources and dates.
    Check(SourceArgs),
    /// Read AWS Price List offer files (JSON) and record their regional prices.
    Import(ImportArgs),
    /// Fetch the AWS Price List's offer files for the regions you call and import their prices
    /// (no AWS account needed).
    Update(super::pricing_update::UpdateArgs),
    /// Which prices are in use, from where, how old, and which regions are still estimated.
    Status(super::pricing_status::StatusArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// `SERVICE` or `SERVICE:OPERATION` (botocore names: `s3:GetObject`); all when omitted.
    pub what: Option<String>,
    /// Show the prices in this region.
    #[arg(long, default_value = BASE_REGION)]
    pub region: String,
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    #[command(flatten)]
    pub sources: SourceArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Offer files: `.../offers/v1.0/aws/<offerCode>/current/<region>/index.json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the regional prices (default: pricing-imported.toml in tollgate's data
    /// directory, which every run reads). Existing prices there are kept unless replaced.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn execute(command: PricingCommand) -> anyhow::Result<ExitCode> {
    match command {
        PricingCommand::Show(args) => show(args),
        PricingCommand::Check(args) => check_command(args),
        PricingCommand::Import(args) => import_command(args),
        PricingCommand::Update(args) => super::pricing_update::execute(args).await,
        PricingCommand::Status(args) => super::pricing_status::execute(args).await,
    }
}

#[derive(Serialize)]
struct ShownEntry<'a> {
    id: &'a str,
    service: &'a str,
    operations: Vec<String>,
    when: Vec<String>,
    /// `free`, or the unit billed.
    unit: String,
    /// The price per unit in the region shown, as an exact decimal string; `null` when free.
    usd: Option<String>,
    region: &'a str,
    /// True when the region has no price of its own and the us-east-1 price stands in.
    estimated: bool,
    reason: Option<&'a str>,
    source: &'a str,
    as_of: &'a str,
    origin: String,
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let (table, settings) = overlay::load(&args.sources.sources()?)?;
    let (service_filter, operation_filter) = match args.what.as_deref() {
        Some(what) => match what.split_once(':') {
            Some((service, operation)) => (Some(service), Some(operation)),
            None => (Some(what), None),
        },
        None => (None, None),
    };
    if let Some(service) = service_filter {
        if table.service(service).is_none() {
            let known = Model::in_use().service_named(service).is_some();
            if known {
                super::print(&format!(
                    "{service}: no prices in the table; its calls are shown as unpriced.\n"
                ))?;
                return Ok(ExitCode::SUCCESS);
            }
            bail!("no service `{service}` (use botocore's names: s3, dynamodb, sqs, bedrock-runtime, ...)");
        }
    }
    let mut shown = Vec::new();
    for (name, service) in &table.services {
        if service_filter.is_some_and(|s| s != name) {
            continue;
        }
        let names = |patterns: &[OperationPattern]| -> bool {
            match operation_filter {
                None => true,
                Some(op) => patterns
                    .iter()
                    .any(|p| p.names(op) || *p == OperationPattern::Rest),
            }
        };
        for entry in service.prices.iter().filter(|e| names(&e.operations)) {
            shown.push(shown_price(entry, &args.region));
        }
        for entry in service.free.iter().filter(|e| names(&e.operations)) {
            shown.push(shown_free(entry, &args.region));
        }
    }
    match args.format {
        ShowFormat::Json => super::print(&(serde_json::to_string_pretty(&shown)? + "\n"))?,
        ShowFormat::Text => super::print(render_shown(&table, &settings, &shown)?.trim_start())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The entries shown as text, by service, with the discount and each service's billed failures.
fn render_shown(
    table: &PriceTable,
    settings: &Settings,
    shown: &[ShownEntry],
) -> anyhow::Result<String> {
    let mut out = String::new();
    if !settings.discount_percent.is_zero() {
        writeln!(
            out,
            "Discount: {}% off every price below (overlay).",
            settings.discount_percent
        )?;
    }
    let mut last_service = "";
    for entry in shown {
        if entry.service != last_service {
            writeln!(out, "\n{}", entry.service)?;
            last_service = entry.service;
            if let Some(errors) = table.service(entry.service).and_then(|s| s.errors.as_ref()) {
                writeln!(
                    out,
                    "  failed attempts billed: {}{} ({}, {})",
                    errors.billed,
                    if errors.except.is_empty() {
                        String::new()
                    } else {
                        format!(" except {}", errors.except.join(", "))
                    },
                    errors.source,
                    errors.as_of
                )?;
            }
        }
        let price = match &entry.usd {
            Some(usd) => format!(
                "${usd} per {}{}",
                entry.unit,
                if entry.estimated {
                    format!(" (no {} price: us-east-1's)", entry.region)
                } else {
                    String::new()
                }
            ),
            None => format!("free: {}", entry.reason.unwrap_or("")),
        };
        let when = if entry.when.is_empty() {
            String::new()
        } else {
            format!(" when {}", entry.when.join(", "))
        };
        writeln!(out, "  {}  {}{when}", entry.id, price)?;
        writeln!(out, "      operations: {}", entry.operations.join(", "))?;
        writeln!(
            out,
            "      source: {} (as of {}, {})",
            entry.source, entry.as_of, entry.origin
        )?;
    }
    if shown.is_empty() {
        writeln!(out, "No entries match; such calls are shown as unpriced.")?;
    }
    Ok(out)
}

fn shown_price<'a>(entry: &'a PriceEntry, region: &'a str) -> ShownEntry<'a> {
    let (usd, estimated) = entry.price_in(region);
    let (source, as_of, origin) = match entry.regions.get(region) {
        Some(regional) => (
            regional.source.as_str(),
            regional.as_of.as_str(),
            regional.origin.to_string(),
        ),
        None => (
            entry.source.as_str(),
            entry.as_of.as_str(),
            entry.origin.to_string(),
        ),
    };
    ShownEntry {
        id: &entry.id,
        service: &entry.service,
        operations: shown_operations(&entry.operations),
        when: shown_conditions(&entry.when),
        unit: entry.unit.to_string(),
        usd: Some(usd.normalize().to_string()),
        region,
        estimated,
        reason: None,
        source,
        as_of,
        origin,
    }
}

/// An entry's operation patterns as the table writes them.
fn shown_operations(patterns: &[OperationPattern]) -> Vec<String> {
    patterns.iter().map(|p| p.to_string()).collect()
}

/// An entry's `when` conditions: `dimension=value|value`.
fn shown_conditions(conditions: &[Condition]) -> Vec<String> {
    conditions
        .iter()
        .map(|c| format!("{}={}", c.dimension.as_str(), c.values.join("|")))
        .collect()
}

fn shown_free<'a>(entry: &'a FreeEntry, region: &'a str) -> ShownEntry<'a> {
    ShownEntry {
        id: &entry.id,
        service: &entry.service,
        operations: shown_operations(&entry.operations),
        when: shown_conditions(&entry.when),
        unit: "free".into(),
        usd: None,
        region,
        estimated: false,
        reason: Some(&entry.reason),
        source: &entry.source,
        as_of: &entry.as_of,
        origin: entry.origin.to_string(),
    }
}

fn check_command(args: SourceArgs) -> anyhow::Result<ExitCode> {
    let sources = args.sources()?;
    let (table, _) = overlay::load(&sources)?;
    let problems = check::check(&table, Model::embedded());
    let read: Vec<String> = table.origins.iter().map(|o| o.to_string()).collect();
    if problems.is_empty() {
        super::print(&format!(
            "pricing: {} entries over {} services, table {}, read from {}: ok\n",
            table.entry_count(),
            table.services.len(),
            table.version,
            read.join(", ")
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("pricing: {problem}");
    }
    eprintln!(
        "pricing: {} problem(s) in {}",
        problems.len(),
        read.join(", ")
    );
    Ok(super::Exit::Negative.into())
}

fn import_command(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let table = PriceTable::built_in()?;
    let paths: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    let report = import::import(&table, &paths)?;
    for file in &report.files {
        eprintln!("read {file}");
    }
    super::imported_prices::write_imported(&table, &report, args.output)?;
    Ok(ExitCode::SUCCESS)
}
