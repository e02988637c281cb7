//! What the SQL backends share: the reads ([`read`]), written once over [`Fetch`], so that a
//! report, the gate and the weekly report give the same answer from SQLite and PostgreSQL for the
//! same history.
//!
//! A backend hands rows back as plain [`Row`]s of [`Value`]s: SQLite's values carry their
//! storage class, PostgreSQL's are read as text (its exact `numeric` money can hold more digits
//! than a `Decimal`, and is rounded once, here, exactly as SQLite's decimal text is parsed).
//! Reads are a few rows per operation, outcome or slot; the cost of the plain rows does not
//! show next to the query.

pub mod read;
pub mod runs;

use std::str::FromStr;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use rust_decimal::Decimal;

use super::{Batch, Pruned, RunStore, StoreError, StoredFinding};
use crate::record::{
    CallGroupRow, FailureGroup, GroupBy, ImpliedGroup, LoopRow, ObjectWrite, OperationTally,
    RegionGroup, RepeatGroup, ResourceGroup, RunEnd, RunFilter, RunMeta, RunRow, StoredCall,
    TimelinePoint,
};

/// An SQL backend: how it writes a batch, and [`Fetch`] for every other statement. Every SQL
/// backend is a [`RunStore`] through the one implementation below: a run's start, end and
/// retention are the shared statements of [`runs`], its reads the shared ones of [`read`].
#[async_trait::async_trait]
pub trait SqlBackend: Fetch {
    fn location(&self) -> String;
    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError>;
    /// The run ended: the writer's state for it (its digest book) can go.
    async fn forget_run(&self, run: i64);
    async fn close(&self);
}

#[async_trait::async_trait]
impl<T: SqlBackend> RunStore for T {
    fn location(&self) -> String {
        SqlBackend::location(self)
    }

    async fn begin_run(&self, meta: &RunMeta) -> Result<i64, StoreError> {
        runs::begin_run(self, meta).await
    }

    async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        SqlBackend::write_batch(self, run, batch).await
    }

    async fn end_run(&self, run: i64, end: &RunEnd) -> Result<(), StoreError> {
        self.forget_run(run).await;
        runs::end_run(self, run, end).await
    }

    async fn note_unrecorded(&self, uuid: &str, answered: u64) -> Result<Option<u64>, StoreError> {
        runs::note_unrecorded(self, uuid, answered).await
    }

    async fn select_runs(&self, filter: &RunFilter) -> Result<Vec<i64>, StoreError> {
        read::select_runs(self, filter).await
    }

    async fn runs(&self, ids: Option<&[i64]>, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        read::runs(self, ids, limit).await
    }

    async fn operations(&self, runs: &[i64]) -> Result<Vec<OperationTally>, StoreError> {
        read::operations(self, runs).await
    }

    async fn loops(&self, runs: &[i64]) -> Result<Vec<LoopRow>, StoreError> {
        read::loops(self, runs).await
    }

    async fn repeated_calls(&self, runs: &[i64], min: u64) -> Result<Vec<RepeatGroup>, StoreError> {
        read::repeated_calls(self, runs, min).await
    }

    async fn calls_by_resource(
        &self,
        runs: &[i64],
        operations: &[(&str, &str)],
    ) -> Result<Vec<ResourceGroup>, StoreError> {
        read::calls_by_resource(self, runs, operations).await
    }

    async fn failures(&self, runs: &[i64]) -> Result<Vec<FailureGroup>, StoreError> {
        read::failures(self, runs).await
    }

    async fn regions(&self, runs: &[i64]) -> Result<Vec<RegionGroup>, StoreError> {
        read::regions(self, runs).await
    }

    async fn implied(&self, runs: &[i64]) -> Result<Vec<ImpliedGroup>, StoreError> {
        read::implied(self, runs).await
    }

    async fn timeline(&self, runs: &[i64], slices: i64) -> Result<Vec<TimelinePoint>, StoreError> {
        read::timeline(self, runs, slices).await
    }

    async fn call_groups(
        &self,
        runs: &[i64],
        by: GroupBy,
    ) -> Result<Vec<CallGroupRow>, StoreError> {
        read::call_groups(self, runs, by).await
    }

    fn calls<'a>(&'a self, runs: &'a [i64]) -> BoxStream<'a, Result<StoredCall, StoreError>> {
        read::calls(self, runs)
    }

    async fn s3_object_writes(&self, runs: &[i64]) -> Result<Vec<ObjectWrite>, StoreError> {
        read::s3_object_writes(self, runs).await
    }

    async fn save_findings(&self, run: i64, findings: &[StoredFinding]) -> Result<(), StoreError> {
        runs::save_findings(self, run, findings).await
    }

    async fn findings(&self, runs: &[i64]) -> Result<Vec<StoredFinding>, StoreError> {
        read::findings(self, runs).await
    }

    async fn prune(&self, before_us: i64) -> Result<Pruned, StoreError> {
        runs::prune(self, before_us).await
    }

    async fn close(&self) {
        SqlBackend::close(self).await
    }
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    /// Text, and decimals as their text (money).
    Text(String),
}

/// One result row: its values by column.
#[derive(Debug, Clone)]
pub struct Row {
    pub columns: Arc<[String]>,
    pub values: Vec<Value>,
}

/// A parameter of a statement (`?` in the SQL).
#[derive(Debug, Clone)]
pub enum Bind {
    Null,
    Int(i64),
    Text(String),
}

impl Bind {
    pub fn opt_text(value: Option<&str>) -> Bind {
        value.map_or(Bind::Null, |text| Bind::Text(text.to_string()))
    }
}

/// How a backend runs a read.
#[async_trait::async_trait]
pub trait Fetch: Send + Sync {
    /// Every row of `sql` (with `?` placeholders for `binds`); a statement that returns no rows
    /// (an INSERT, an UPDATE) runs the same way.
    async fn fetch_rows(&self, sql: &str, binds: &[Bind]) -> Result<Vec<Row>, StoreError>;

    /// The rows of `sql`, streamed: memory stays bounded however many there are.
    fn stream_rows(&self, sql: String, binds: Vec<Bind>) -> BoxStream<'_, Result<Row, StoreError>>;
}

fn decode_error(column: &str, message: String) -> StoreError {
    StoreError::Query(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: message.into(),
    })
}

impl Row {
    fn value(&self, column: &str) -> Result<&Value, StoreError> {
        self.columns
            .iter()
            .position(|name| name == column)
            .map(|index| &self.values[index])
            .ok_or_else(|| StoreError::Query(sqlx::Error::ColumnNotFound(column.to_string())))
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            // PostgreSQL's sum of integers is `numeric`.
            Value::Text(text) => text
                .parse::<i64>()
                .map(Some)
                .map_err(|_| decode_error(column, format!("{text:?} is not an integer"))),
            Value::Real(_) => Err(decode_error(column, "a real, not an integer".into())),
        }
    }

    pub fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.opt_int(column)?
            .ok_or_else(|| decode_error(column, "NULL where a number was expected".into()))
    }

    /// A count: never negative.
    pub fn count(&self, column: &str) -> Result<u64, StoreError> {
        Ok(self.int(column)?.max(0) as u64)
    }

    pub fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            Value::Int(n) => Ok(Some(n.to_string())),
            other => Err(decode_error(column, format!("{other:?} is not text"))),
        }
    }

    pub fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?
            .ok_or_else(|| decode_error(column, "NULL where text was expected".into()))
    }

    pub fn flag(&self, column: &str) -> Result<bool, StoreError> {
        match self.value(column)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            other => Err(decode_error(column, format!("{other:?} is not a flag"))),
        }
    }

    pub fn real(&self, column: &str) -> Result<f64, StoreError> {
        match self.value(column)? {
            Value::Real(x) => Ok(*x),
            Value::Int(n) => Ok(*n as f64),
            other => Err(decode_error(column, format!("{other:?} is not a number"))),
        }
    }

    /// The sum of exact decimal money columns. A damaged amount is an error, never a silent $0.
    pub fn money(&self, columns: &[&str]) -> Result<Decimal, StoreError> {
        let mut sum = Decimal::ZERO;
        for column in columns {
            let text = self.text(column)?;
            sum += Decimal::from_str(&text)
                .map_err(|error| decode_error(column, format!("{text:?}: {error}")))?
                .normalize();
        }
        Ok(sum)
    }
}

/// A result's column names, from one of its rows (the same for every row of a result).
pub fn column_names<R: sqlx::Row>(row: &R) -> Arc<[String]> {
    use sqlx::Column as _;
    row.columns()
        .iter()
        .map(|column| column.name().to_string())
        .collect()
}

/// A whole result as plain rows, each converted by the backend's `plain_row`.
pub fn plain_rows<R: sqlx::Row>(
    rows: &[R],
    plain_row: impl Fn(&R, Arc<[String]>) -> Result<Row, StoreError>,
) -> Result<Vec<Row>, StoreError> {
    let columns = rows
        .first()
        .map(column_names)
        .unwrap_or_else(|| Arc::new([]));
    rows.iter()
        .map(|row| plain_row(row, columns.clone()))
        .collect()
}

/// A call's units as stored: a JSON object of exact decimal strings, in unit order.
pub fn units_json(call: &crate::record::Call) -> Option<String> {
    let units: std::collections::BTreeMap<&str, String> = call
        .recorded_units()
        .map(|(unit, quantity)| (unit.as_str(), crate::record::exact(quantity)))
        .collect();
    if units.is_empty() {
        return None;
    }
    serde_json::to_string(&units).ok()
}

/// Run ids as an SQL list (`1,2,3`): numbers only, never text from outside.
pub fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// "" and 0 stand for "none" in the totals' keys.
pub fn none_if_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: Vec<(&str, Value)>) -> Row {
        Row {
            columns: values.iter().map(|(c, _)| c.to_string()).collect(),
            values: values.into_iter().map(|(_, v)| v).collect(),
        }
    }

    #[test]
    fn values_read_as_what_the_column_holds() {
        let r = row(vec![
            ("n", Value::Int(-3)),
            ("sum", Value::Text("12".into())),
            ("flag_i", Value::Int(1)),
            ("flag_b", Value::Bool(false)),
            ("cost", Value::Text("0.000000400000".into())),
            ("more", Value::Text("1.5".into())),
            ("none", Value::Null),
            ("gap", Value::Int(4)),
        ]);
        assert_eq!(r.int("n").unwrap(), -3);
        assert_eq!(r.count("n").unwrap(), 0);
        assert_eq!(r.int("sum").unwrap(), 12);
        assert!(r.flag("flag_i").unwrap());
        assert!(!r.flag("flag_b").unwrap());
        assert_eq!(r.money(&["cost", "more"]).unwrap().to_string(), "1.5000004");
        assert_eq!(r.opt_text("none").unwrap(), None);
        assert_eq!(r.opt_int("none").unwrap(), None);
        assert_eq!(r.real("gap").unwrap(), 4.0);
    }

    #[test]
    fn damaged_or_missing_values_are_errors_not_zero() {
        let r = row(vec![
            ("cost", Value::Text("1,5".into())),
            ("n", Value::Null),
        ]);
        assert!(r.money(&["cost"]).unwrap_err().to_string().contains("cost"));
        assert!(r.int("n").is_err());
        assert!(r.int("absent").is_err());
    }
}
