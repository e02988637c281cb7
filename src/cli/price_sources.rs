//! `--pricing FILE`: where every pricing-aware command takes its prices from.

use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;

use crate::pricing::Sources;

/// Where prices come from, shared by every pricing-aware command.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Overlay file (default: tollgate.toml in the working directory or a parent).
    #[arg(long, value_name = "FILE", env = "TOLLGATE_PRICING")]
    pub pricing: Option<PathBuf>,
}

impl SourceArgs {
    pub fn sources(&self) -> anyhow::Result<Sources> {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        if let Some(path) = &self.pricing {
            if !path.is_file() {
                bail!("--pricing {}: no such file", path.display());
            }
        }
        Ok(Sources::discover(self.pricing.clone(), &cwd))
    }
}
