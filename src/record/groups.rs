//! The groups calls are told apart by who made them: the line of the program (call site), the
//! test, the SDK, the app id, or the process's command. The writer keeps per-run totals for each
//! ([`CallGroupRow`]), so a report groups a million calls by reading a few rows.

use rust_decimal::Decimal;
use serde::Serialize;

/// What calls are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// The line that made the call (`x-tollgate-callsite`).
    Callsite,
    /// The test that was running (`x-tollgate-test`).
    Test,
    /// The SDK and its version, from the User-Agent.
    Sdk,
    /// The app id the SDK was configured with.
    App,
    /// The command line of the process that made the call.
    Command,
}

impl GroupBy {
    /// Every grouping, in the order the writer keeps them.
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Callsite,
        GroupBy::Test,
        GroupBy::Sdk,
        GroupBy::App,
        GroupBy::Command,
    ];

    /// The name, as `report --by` takes it and the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Callsite => "callsite",
            GroupBy::Test => "test",
            GroupBy::Sdk => "sdk",
            GroupBy::App => "app",
            GroupBy::Command => "command",
        }
    }

    /// The column's heading.
    pub fn heading(self) -> &'static str {
        match self {
            GroupBy::Callsite => "call site",
            GroupBy::Test => "test",
            GroupBy::Sdk => "SDK",
            GroupBy::App => "app id",
            GroupBy::Command => "command",
        }
    }

    /// What a call without the key is shown as.
    pub fn missing(self) -> &'static str {
        match self {
            GroupBy::Callsite => "(no call site)",
            GroupBy::Test => "(no test)",
            GroupBy::Sdk => "(no SDK named)",
            GroupBy::App => "(no app id)",
            GroupBy::Command => "(process unknown)",
        }
    }

    /// Whether the groups are kept per resource too: the call sites are, so that a finding
    /// about one bucket or table names the lines that called it.
    pub fn by_resource(self) -> bool {
        self == GroupBy::Callsite
    }
}

/// One run's attempts of one operation in one group (and, for call sites, on one resource).
#[derive(Debug, Clone, PartialEq)]
pub struct CallGroupRow {
    pub run_id: i64,
    /// The call site, test, SDK, app id or command; `None` for the calls that named none.
    pub key: Option<String>,
    pub service: String,
    pub operation: String,
    /// The resource, for [`GroupBy::by_resource`] groupings only.
    pub resource: Option<String>,
    pub attempts: u64,
    pub retries: u64,
    pub errors: u64,
    /// Everything the attempts cost: their own charge, data transfer out and implied costs.
    pub total: Decimal,
}

impl CallGroupRow {
    /// Logical calls: attempts that were not retries.
    pub fn calls(&self) -> u64 {
        self.attempts - self.retries
    }
}
