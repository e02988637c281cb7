//! What makes the gate warn or fail: `[gate]` in `tollgate.toml` (found by walking up from the
//! working directory), then flags on top. The defaults are meant to be kept: a suite whose calls
//! vary by a few percent passes; a change that adds a call per key, or pages ten times smaller,
//! fails.

use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The thresholds. Percentages are of the baseline's figure per run; a change must cross both
/// its percentage and its noise floor (`min_calls` or `min_usd_per_month`) to count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The whole run's cost (or calls) per run up by this much: a warning.
    pub warn_percent: Decimal,
    /// ... and by this much: the build fails.
    pub fail_percent: Decimal,
    /// One operation's calls or cost per run up by this much: a warning.
    pub operation_warn_percent: Decimal,
    /// ... and by this much: the build fails.
    pub operation_fail_percent: Decimal,
    /// A change of fewer calls per run than this is noise.
    pub min_calls: u64,
    /// A change worth less than this a month (at `runs_per_day`) is noise, as a decimal string.
    pub min_usd_per_month: Decimal,
    /// For the month figures: how often the gated suite runs.
    pub runs_per_day: Decimal,
    /// Whether an operation the baseline never called fails the build however small; otherwise
    /// it is judged by the thresholds like any other change, and named.
    pub fail_on_new_operation: bool,
    /// Whether a finding the baseline did not have (a HEAD per listed key, a small page size,
    /// polling) fails the build when what it would save is above the noise floors.
    pub fail_on_new_finding: bool,
    /// Whether prices that rose since the baseline (a new price table, `tollgate pricing
    /// update`, a changed discount) fail the build like more calls would; by default the change
    /// is reported and the build judged on volume alone.
    pub fail_on_price_change: bool,
    /// Operations left out of the comparison: `service:Operation`, or `service:*`.
    pub ignore: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            warn_percent: Decimal::from(5),
            fail_percent: Decimal::from(10),
            operation_warn_percent: Decimal::from(10),
            operation_fail_percent: Decimal::from(25),
            min_calls: 10,
            // A cent a month: under it, no one acts.
            min_usd_per_month: Decimal::new(1, 2),
            runs_per_day: Decimal::from(24),
            fail_on_new_operation: false,
            fail_on_new_finding: true,
            fail_on_price_change: false,
            ignore: Vec::new(),
        }
    }
}

impl Policy {
    /// `[gate]` of a parsed `tollgate.toml`, on top of the defaults.
    pub fn from_table(table: Option<&toml::Table>) -> Result<Self, String> {
        let policy: Policy = match table {
            Some(table) => toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| format!("[gate]: {e}"))?,
            None => Self::default(),
        };
        policy.check()?;
        Ok(policy)
    }

    /// From the overlay file, if there is one.
    pub fn load(overlay: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = overlay else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)?;
        let config = crate::pricing::overlay::parse(path, &text)?;
        Self::from_table(config.gate.as_ref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Thresholds that contradict each other are an error, not a silent reorder.
    pub fn check(&self) -> Result<(), String> {
        if self.warn_percent > self.fail_percent {
            return Err(format!(
                "[gate] warn_percent ({}) is above fail_percent ({})",
                self.warn_percent, self.fail_percent
            ));
        }
        if self.operation_warn_percent > self.operation_fail_percent {
            return Err(format!(
                "[gate] operation_warn_percent ({}) is above operation_fail_percent ({})",
                self.operation_warn_percent, self.operation_fail_percent
            ));
        }
        if self.runs_per_day <= Decimal::ZERO {
            return Err("[gate] runs_per_day must be above 0".into());
        }
        Ok(())
    }

    /// Whether `service`/`operation` is left out.
    pub fn ignores(&self, service: &str, operation: &str) -> bool {
        self.ignore
            .iter()
            .any(|pattern| match pattern.split_once(':') {
                Some((s, "*")) => s == service,
                Some((s, o)) => s == service && o == operation,
                None => pattern == service,
            })
    }

    /// An amount per run, as money per 30-day month at `runs_per_day`.
    pub fn per_month(&self, per_run: Decimal) -> Decimal {
        per_run * self.runs_per_day * Decimal::from(30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_settings_come_from_tollgate_toml_on_top_of_the_defaults() {
        let table: toml::Table =
            toml::from_str("fail_percent = 20\nmin_usd_per_month = \"1.50\"\nignore = [\"sts:*\"]")
                .unwrap();
        let policy = Policy::from_table(Some(&table)).unwrap();
        assert_eq!(policy.fail_percent, Decimal::from(20));
        assert_eq!(policy.min_usd_per_month, Decimal::new(150, 2));
        assert_eq!(policy.warn_percent, Decimal::from(5), "a default kept");
        assert!(policy.ignores("sts", "GetCallerIdentity"));
        assert!(!policy.ignores("s3", "GetObject"));

        let typo: toml::Table = toml::from_str("fail_percnt = 20").unwrap();
        let error = Policy::from_table(Some(&typo)).unwrap_err();
        assert!(error.contains("fail_percnt"), "{error}");
        let upside_down: toml::Table = toml::from_str("warn_percent = 50").unwrap();
        assert!(Policy::from_table(Some(&upside_down)).is_err());
    }
}
