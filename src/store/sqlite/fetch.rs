//! SQLite's rows as plain [`Row`]s for the shared reads ([`crate::store::sql::read`]): each value
//! as its storage class (SQLite's types are the values', not the columns').

use std::sync::Arc;

use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};

use super::SqliteStore;
use crate::store::sql::{column_names, plain_rows, Bind, Fetch, Row, Value};
use crate::store::StoreError;

#[async_trait::async_trait]
impl Fetch for SqliteStore {
    async fn fetch_rows(&self, sql: &str, binds: &[Bind]) -> Result<Vec<Row>, StoreError> {
        let rows = bound(sql, binds).fetch_all(self.pool()).await?;
        plain_rows(&rows, plain_row)
    }

    fn stream_rows(&self, sql: String, binds: Vec<Bind>) -> BoxStream<'_, Result<Row, StoreError>> {
        Box::pin(async_stream::try_stream! {
            let mut rows = bound(&sql, &binds).fetch(self.pool());
            let mut columns: Option<Arc<[String]>> = None;
            while let Some(row) = rows.next().await {
                let row = row?;
                let names = columns.get_or_insert_with(|| column_names(&row)).clone();
                yield plain_row(&row, names)?;
            }
        })
    }
}

/// `sql` with its parameters bound.
fn bound<'q>(
    sql: &'q str,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            Bind::Null => query.bind(None::<i64>),
            Bind::Int(n) => query.bind(*n),
            Bind::Text(text) => query.bind(text.clone()),
        };
    }
    query
}

fn plain_row(row: &SqliteRow, columns: Arc<[String]>) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(columns.len());
    for index in 0..columns.len() {
        let raw = row.try_get_raw(index)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => Value::Int(row.try_get(index)?),
                "REAL" => Value::Real(row.try_get(index)?),
                _ => Value::Text(row.try_get(index)?),
            }
        };
        values.push(value);
    }
    Ok(Row { columns, values })
}
