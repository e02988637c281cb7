//! The label book: the call sites and tests of a run's calls, interned. A run of a million calls
//! from one loop names the same call site (`sync.py:42 copy_all`, up to 512 bytes) and test a
//! million times; `calls` keeps an integer per call instead (`callsite_label`, `test_label`), and
//! each distinct text is stored once, in `call_labels (run_id, label_id, kind, text)`.
//!
//! Labels are numbered per run (1, 2, … in the order the writer first met them), so that a run's
//! rows mean the same wherever they are copied (`tollgate push` copies them unchanged under the
//! run's new id) and go with their run (`prune` deletes by run).
//!
//! The writer keeps each run's book in memory: text -> id. A batch's new labels are inserted in
//! the batch's own transaction, and the book takes them only once it committed (a batch that
//! failed leaves the book as it was, and its labels were rolled back with it). Past
//! [`LabelBook::CAPACITY`] bytes the book stops growing: a label it does not hold may then be in
//! the table already, so the batch inserts its new labels only where they are missing and reads
//! back their ids (one more statement per batch that meets one): slower, never inexact.

use rustc_hash::FxHashMap;

use crate::record::Call;

/// What a label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelKind {
    /// The line of the client's program that made the call.
    Callsite,
    /// The test that was running.
    Test,
}

impl LabelKind {
    /// As stored in `call_labels.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelKind::Callsite => "callsite",
            LabelKind::Test => "test",
        }
    }

    /// The kind [`LabelKind::as_str`] names.
    pub fn parse(text: &str) -> Option<LabelKind> {
        [LabelKind::Callsite, LabelKind::Test]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    fn index(self) -> usize {
        match self {
            LabelKind::Callsite => 0,
            LabelKind::Test => 1,
        }
    }
}

/// A label to insert: its id in the run, kind and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLabel<'a> {
    pub id: i64,
    pub kind: LabelKind,
    pub text: &'a str,
}

/// The labels of one run (one writer per run, from its first batch).
#[derive(Debug)]
pub struct LabelBook {
    /// Text -> id, by kind.
    ids: [FxHashMap<Box<str>, i64>; 2],
    /// The next id to give (those a batch that failed gave are given again: nothing was stored
    /// under them).
    next: i64,
    /// The bytes the book holds (texts and a fixed cost per entry).
    bytes: usize,
    capacity: usize,
}

impl Default for LabelBook {
    fn default() -> Self {
        Self::with_capacity(Self::CAPACITY)
    }
}

/// The memory an entry costs besides its text (the map's slot and the box).
const ENTRY_BYTES: usize = 48;

/// What a batch changed in the book; applied once its transaction commits.
#[derive(Debug, Default)]
pub struct LabelChanges {
    /// Labels to remember: (kind, text, id).
    learned: Vec<(LabelKind, Box<str>, i64)>,
    /// The next id to give after the batch.
    next: i64,
}

/// A batch's labels (see [`LabelBook::plan`]).
#[derive(Debug)]
pub struct LabelPlan<'a> {
    /// Each call's (call site, test) label ids, in batch order.
    pub ids: Vec<(Option<i64>, Option<i64>)>,
    /// The labels to insert before the calls.
    pub new: Vec<NewLabel<'a>>,
    /// The book is full: some of `new` may be in the table already (under the id a batch gave
    /// them before), so they are inserted where missing and their ids read back
    /// ([`LabelPlan::settle`]).
    pub may_exist: bool,
    pub changes: LabelChanges,
}

impl LabelBook {
    /// 8 MiB: about 100,000 labels of 40 bytes (a test suite's worth of tests), 14,000 of the
    /// longest (512 bytes).
    pub const CAPACITY: usize = 8 << 20;

    /// A book of at most `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ids: [FxHashMap::default(), FxHashMap::default()],
            next: 1,
            bytes: 0,
            capacity,
        }
    }

    /// The labels the book holds.
    pub fn len(&self) -> usize {
        self.ids[0].len() + self.ids[1].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of a label the book holds.
    pub fn get(&self, kind: LabelKind, text: &str) -> Option<i64> {
        self.ids[kind.index()].get(text).copied()
    }

    pub fn apply(&mut self, changes: LabelChanges) {
        self.next = self.next.max(changes.next);
        for (kind, text, id) in changes.learned {
            self.bytes += text.len() + ENTRY_BYTES;
            self.ids[kind.index()].insert(text, id);
        }
    }

    /// The ids of the batch's calls' labels: those the book holds, and new ones (numbered from
    /// the book's next id) for the others, to insert with the batch. The book is unchanged
    /// until [`LabelBook::apply`] takes the plan's changes.
    pub fn plan<'a>(&self, calls: &'a [Call]) -> LabelPlan<'a> {
        let mut next = self.next;
        let mut bytes = self.bytes;
        let mut new: Vec<NewLabel<'a>> = Vec::new();
        let mut learned = Vec::new();
        // Labels new in this batch, by kind: text -> id (a batch names a few).
        let mut fresh: [FxHashMap<&'a str, i64>; 2] = [FxHashMap::default(), FxHashMap::default()];
        let mut may_exist = false;
        let mut id_of = |kind: LabelKind, text: Option<&'a str>| -> Option<i64> {
            let text = text?;
            if let Some(id) = self.ids[kind.index()].get(text) {
                return Some(*id);
            }
            let fresh = &mut fresh[kind.index()];
            if let Some(id) = fresh.get(text) {
                return Some(*id);
            }
            let id = next;
            next += 1;
            fresh.insert(text, id);
            new.push(NewLabel { id, kind, text });
            let cost = text.len() + ENTRY_BYTES;
            if bytes + cost <= self.capacity {
                bytes += cost;
                learned.push((kind, Box::from(text), id));
            } else {
                may_exist = true;
            }
            Some(id)
        };
        let ids = calls
            .iter()
            .map(|call| {
                (
                    id_of(LabelKind::Callsite, call.callsite.as_deref()),
                    id_of(LabelKind::Test, call.test.as_deref()),
                )
            })
            .collect();
        LabelPlan {
            ids,
            new,
            may_exist,
            changes: LabelChanges { learned, next },
        }
    }
}

impl LabelPlan<'_> {
    /// The ids the table holds for the plan's new labels, read back after inserting them where
    /// missing (a full book): (kind, text, id). Calls then refer to those; a label the book
    /// learns keeps the table's id.
    pub fn settle(&mut self, stored: &[(LabelKind, String, i64)]) {
        let mut renumbered: FxHashMap<i64, i64> = FxHashMap::default();
        for label in &self.new {
            let found = stored
                .iter()
                .find(|(kind, text, _)| *kind == label.kind && text == label.text);
            if let Some((_, _, id)) = found {
                if *id != label.id {
                    renumbered.insert(label.id, *id);
                }
            }
        }
        if renumbered.is_empty() {
            return;
        }
        let renumber = |id: &mut Option<i64>| {
            if let Some(new) = id.and_then(|id| renumbered.get(&id)) {
                *id = Some(*new);
            }
        };
        for (callsite, test) in &mut self.ids {
            renumber(callsite);
            renumber(test);
        }
        for (_, _, id) in &mut self.changes.learned {
            if let Some(new) = renumbered.get(id) {
                *id = *new;
            }
        }
        for label in &mut self.new {
            if let Some(new) = renumbered.get(&label.id) {
                label.id = *new;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(callsite: Option<&str>, test: Option<&str>) -> Call {
        Call {
            callsite: callsite.map(str::to_string),
            test: test.map(str::to_string),
            ..Call::sample("s3", "GetObject")
        }
    }

    #[test]
    fn each_distinct_label_gets_one_id_per_kind_and_keeps_it() {
        let mut book = LabelBook::default();
        let batch = vec![
            call(Some("sync.py:42 copy"), Some("t.py::a")),
            call(Some("sync.py:42 copy"), None),
            call(None, Some("t.py::a")),
            // The same text as a call site and as a test: two labels.
            call(Some("t.py::a"), Some("t.py::b")),
        ];
        let plan = book.plan(&batch);
        assert_eq!(
            plan.ids,
            vec![
                (Some(1), Some(2)),
                (Some(1), None),
                (None, Some(2)),
                (Some(3), Some(4))
            ]
        );
        let new: Vec<(i64, &str, &str)> = plan
            .new
            .iter()
            .map(|l| (l.id, l.kind.as_str(), l.text))
            .collect();
        assert_eq!(
            new,
            vec![
                (1, "callsite", "sync.py:42 copy"),
                (2, "test", "t.py::a"),
                (3, "callsite", "t.py::a"),
                (4, "test", "t.py::b"),
            ]
        );
        assert!(!plan.may_exist);
        book.apply(plan.changes);
        assert_eq!(book.len(), 4);

        // The next batch reuses them, and numbers only what is new.
        let batch = vec![
            call(Some("sync.py:42 copy"), Some("t.py::b")),
            call(Some("sync.py:43 copy"), Some("t.py::a")),
        ];
        let plan = book.plan(&batch);
        assert_eq!(plan.ids, vec![(Some(1), Some(4)), (Some(5), Some(2))]);
        assert_eq!(plan.new.len(), 1);
        assert_eq!(plan.new[0].text, "sync.py:43 copy");
        book.apply(plan.changes);
        assert_eq!(book.get(LabelKind::Callsite, "sync.py:43 copy"), Some(5));
        assert_eq!(book.get(LabelKind::Test, "sync.py:43 copy"), None);

        // A batch naming nothing inserts nothing.
        let unnamed = [call(None, None)];
        let plan = book.plan(&unnamed);
        assert_eq!(plan.ids, vec![(None, None)]);
        assert!(plan.new.is_empty());
    }

    #[test]
    fn a_batch_that_failed_leaves_the_book_as_it_was() {
        let mut book = LabelBook::default();
        let first = [call(Some("a.py:1 f"), None)];
        book.apply(book.plan(&first).changes);
        // Planned, never applied: its transaction rolled back.
        let failing = [call(Some("b.py:2 g"), Some("t::x"))];
        let failed = book.plan(&failing);
        assert_eq!(failed.ids, vec![(Some(2), Some(3))]);
        drop(failed);
        assert_eq!(book.len(), 1);
        assert_eq!(book.get(LabelKind::Callsite, "b.py:2 g"), None);
        // The batch again (the writer retries nothing, but a later batch names the same): the
        // labels are new again, with the same ids, since nothing was stored under them.
        let retried = [call(Some("b.py:2 g"), Some("t::x"))];
        let again = book.plan(&retried);
        assert_eq!(again.ids, vec![(Some(2), Some(3))]);
        assert_eq!(again.new.len(), 2);
    }

    #[test]
    fn past_its_capacity_the_book_stops_learning_and_asks_the_table() {
        // Room for two labels of 8 bytes.
        let mut book = LabelBook::with_capacity(2 * (8 + ENTRY_BYTES));
        let filling = [
            call(Some("a.py:1 f"), Some("t.py::a")),
            call(Some("b.py:2 g"), None),
        ];
        let plan = book.plan(&filling);
        assert!(plan.may_exist, "the third label does not fit");
        assert_eq!(plan.new.len(), 3);
        book.apply(plan.changes);
        assert_eq!(book.len(), 2);
        assert!(book.bytes <= book.capacity);
        assert_eq!(book.get(LabelKind::Callsite, "b.py:2 g"), None);

        // The next batch names b.py again: the book gives it a new id, and the table's (3)
        // replaces it once read back.
        let past_capacity = [
            call(Some("b.py:2 g"), Some("t.py::a")),
            call(Some("c.py:3 h"), None),
        ];
        let mut plan = book.plan(&past_capacity);
        assert!(plan.may_exist);
        assert_eq!(plan.ids, vec![(Some(4), Some(2)), (Some(5), None)]);
        plan.settle(&[
            (LabelKind::Callsite, "b.py:2 g".into(), 3),
            (LabelKind::Callsite, "c.py:3 h".into(), 5),
        ]);
        assert_eq!(plan.ids, vec![(Some(3), Some(2)), (Some(5), None)]);
        assert_eq!(plan.new[0].id, 3);
        book.apply(plan.changes);
        assert_eq!(book.len(), 2, "still full");
        // Ids given are never given again.
        let later = [call(Some("d.py:4 i"), None)];
        let plan = book.plan(&later);
        assert_eq!(plan.ids, vec![(Some(6), None)]);
    }
}
