//! Where `pricing import` and `pricing update` write the regional prices they found.

use std::path::PathBuf;

use anyhow::Context;

use crate::pricing::table::PriceTable;
use crate::pricing::{import, overlay};

/// Merges an import's prices into the imported-prices file (`output`, else the data
/// directory's), after checking that what would be read back is a sound overlay; then says what
/// was written.
pub fn write_imported(
    table: &PriceTable,
    report: &import::ImportReport,
    output: Option<PathBuf>,
) -> anyhow::Result<PathBuf> {
    let output = match output {
        Some(path) => path,
        None => {
            let dir = crate::home::data_dir().context("cannot find tollgate's data directory")?;
            crate::home::ensure_private_dir(&dir)
                .with_context(|| format!("cannot use {}", dir.display()))?;
            dir.join(overlay::IMPORTED_FILE)
        }
    };
    let existing = match std::fs::read_to_string(&output) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", output.display())),
    };
    let merged = import::merge_into(&existing, &report.prices)
        .with_context(|| format!("{} is not an imported-prices file", output.display()))?;
    // Validate what would be read back before replacing anything.
    let mut check_table = (*table).clone();
    let config = overlay::parse(&output, &merged)?;
    overlay::apply(
        &mut check_table,
        &output,
        config,
        crate::pricing::table::Origin::Imported(output.clone()),
    )?;
    crate::home::write_output(&output, merged.as_bytes())
        .with_context(|| format!("cannot write {}", output.display()))?;
    let mut regions: Vec<&str> = report.prices.iter().map(|p| p.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    eprintln!(
        "{} regional prices for {} regions written to {}",
        report.prices.len(),
        regions.len(),
        output.display()
    );
    for conflict in &report.conflicts {
        eprintln!("skipped: {conflict}");
    }
    Ok(output)
}
