//! The digest book: which groups of identical calls (same operation and parameter digest) a
//! batch writes to `digest_totals`, for every SQL backend. Most calls are unique, and an upsert
//! per call into a table of a million groups costs the writer most of its time; so a group seen
//! once stays in the writer's memory as its one call's key, and reaches the table only when it
//! repeats, copied from `calls` together with the repeat. The backends differ only in how they
//! copy it (their SQL); what to copy and what to upsert is decided here, once.

use rustc_hash::FxHashMap;

use super::tally::DigestTotals;

/// Digest groups (identical calls) of one run. Most calls are unique, and an upsert per call
/// into a table of a million groups reads and writes a random page each time (the writer fell
/// from 106,000 to 21,000 calls/s). So a group seen once stays here, as its first call's id,
/// and reaches `digest_totals` only when it repeats, copied from `calls` together with the
/// repeat. Past [`DigestBook::CAPACITY`] groups (~18 MB) the ones seen once are written out
/// and every group is upserted from then on: slower, never inexact.
#[derive(Debug)]
pub struct DigestBook {
    /// Digest -> the key of its only call so far (its id in `calls` in SQLite, its sequence
    /// number + 1 in PostgreSQL), or `STORED` (0). (The digests are
    /// hashes already: Fx is enough.)
    seen: FxHashMap<i64, i64>,
    /// Every group goes to the table (after an overflow, or when rebuilding).
    upsert_all: bool,
    capacity: usize,
}

impl Default for DigestBook {
    fn default() -> Self {
        Self::with_capacity(Self::CAPACITY)
    }
}

/// The group has a row in `digest_totals`.
const STORED: i64 = 0;

/// What a batch changed in the book; applied once its transaction commits, so that a batch
/// that failed leaves the book as it was.
#[derive(Debug, Default)]
pub struct DigestChanges {
    seen: Vec<(i64, i64)>,
    overflowed: bool,
}

impl DigestBook {
    pub const CAPACITY: usize = 900_000;

    /// A book of at most `capacity` groups before it overflows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            seen: FxHashMap::default(),
            upsert_all: false,
            capacity,
        }
    }

    /// A book that sends every group to the table.
    pub fn upsert_all() -> Self {
        Self {
            upsert_all: true,
            ..Self::with_capacity(0)
        }
    }

    /// Whether every group goes to the table now (after an overflow).
    pub fn upserts_all(&self) -> bool {
        self.upsert_all
    }

    pub fn apply(&mut self, changes: DigestChanges) {
        if changes.overflowed {
            self.seen = FxHashMap::default();
            self.upsert_all = true;
        }
        if !self.upsert_all {
            self.seen.extend(changes.seen);
        }
    }

    /// What the batch's groups `digests` need: the earlier single calls to copy in first, the
    /// groups to upsert, and the book's changes once the batch commits. `call_keys` are the
    /// batch's calls' keys, in batch order (never 0, which marks a stored group).
    pub fn plan<'t, 'a>(
        &self,
        digests: &'t FxHashMap<i64, DigestTotals<'a>>,
        call_keys: &[i64],
    ) -> DigestPlan<'t, 'a> {
        let mut changes = DigestChanges::default();
        let overflow = !self.upsert_all && self.seen.len() + digests.len() > self.capacity;
        // Groups whose earlier single call must be copied in from `calls` first.
        let mut promote: Vec<(i64, i64)> = Vec::new();
        let mut stored: Vec<(&i64, &DigestTotals<'_>)> = Vec::new();
        if overflow {
            promote.extend(
                self.seen
                    .iter()
                    .filter(|(_, &id)| id != STORED)
                    .map(|(&digest, &id)| (digest, id)),
            );
            changes.overflowed = true;
        }
        for (digest, group) in digests {
            match self.seen.get(digest).copied() {
                _ if self.upsert_all || overflow => stored.push((digest, group)),
                Some(STORED) => stored.push((digest, group)),
                Some(first_call) => {
                    promote.push((*digest, first_call));
                    stored.push((digest, group));
                    changes.seen.push((*digest, STORED));
                }
                None if group.cadence.calls == 1 => {
                    let id = call_keys.get(group.first_row).copied().unwrap_or(STORED);
                    changes.seen.push((*digest, id));
                }
                None => {
                    stored.push((digest, group));
                    changes.seen.push((*digest, STORED));
                }
            }
        }
        DigestPlan {
            promote,
            stored,
            changes,
        }
    }
}

/// What one batch writes to `digest_totals` (see [`DigestBook::plan`]).
pub struct DigestPlan<'t, 'a> {
    /// (digest, the key of its earlier single call), to copy from `calls` before the upserts.
    pub promote: Vec<(i64, i64)>,
    /// The groups to upsert.
    pub stored: Vec<(&'t i64, &'t DigestTotals<'a>)>,
    pub changes: DigestChanges,
}
