//! A paginator loop: the pages of one listing, linked by their tokens.

use std::time::SystemTime;

use rust_decimal::Decimal;

use super::page::ItemsUnknown;

/// A finished (or abandoned) loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    /// Unique within the run, in order of the loops' first pages.
    pub id: u64,
    pub service: String,
    pub operation: String,
    pub resource: Option<String>,
    pub access_key: Option<String>,
    pub listing: String,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    /// Successful pages.
    pub pages: u64,
    /// Attempts, retries and failures included.
    pub attempts: u64,
    /// Items over all pages, where every page could be counted.
    pub items: Option<u64>,
    /// Why `items` is `None`: the first page whose items could not be counted.
    pub items_unknown: Option<ItemsUnknown>,
    pub page_size: Option<u64>,
    pub page_size_max: Option<u64>,
    /// The last page said there was no more.
    pub complete: bool,
    /// The first page came with a token: the loop was picked up part-way.
    pub resumed: bool,
    /// The same listing was read from its start before in this run.
    pub relisting: bool,
    /// The pages' own charge (requests, every attempt).
    pub cost: Decimal,
    /// Data transfer out of the pages' answers.
    pub transfer: Decimal,
    /// Costs the pages imply elsewhere (KMS for SSE-KMS objects, ...).
    pub implied: Decimal,
    /// The line of the program that asked for the first page (`x-tollgate-callsite`).
    pub callsite: Option<String>,
}

impl Loop {
    /// Everything the loop's calls cost: the same definition as an operation's cost.
    pub fn total(&self) -> Decimal {
        self.cost + self.transfer + self.implied
    }
}
