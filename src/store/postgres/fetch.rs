//! PostgreSQL's rows as plain [`Row`]s for the shared reads ([`crate::store::sql::read`]).
//!
//! Reads go through the simple query protocol, whose values are text: `numeric` money arrives
//! as its exact decimal text (a sum may hold more digits than a `Decimal`; it is rounded once,
//! where it is parsed, as SQLite's text is). The few parameters of a read (numbers, tag keys and
//! values) are written into the SQL as literals, quoted.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};

use super::PostgresStore;
use crate::store::sql::{column_names, plain_rows, Bind, Fetch, Row, Value};
use crate::store::StoreError;

#[async_trait::async_trait]
impl Fetch for PostgresStore {
    async fn fetch_rows(&self, sql: &str, binds: &[Bind]) -> Result<Vec<Row>, StoreError> {
        let sql = with_literals(sql, binds)?;
        let rows = sqlx::raw_sql(&sql).fetch_all(self.pool()).await?;
        plain_rows(&rows, plain_row)
    }

    fn stream_rows(&self, sql: String, binds: Vec<Bind>) -> BoxStream<'_, Result<Row, StoreError>> {
        Box::pin(async_stream::try_stream! {
            let sql = with_literals(&sql, &binds)?;
            // A cursor in a transaction: the rows arrive in pages, never all at once.
            let mut connection = self.pool().acquire().await?;
            run(&mut connection, format!("BEGIN; DECLARE tollgate_rows NO SCROLL CURSOR FOR {sql}"))
                .await?;
            let mut columns: Option<Arc<[String]>> = None;
            loop {
                let page = page(&mut connection).await?;
                if page.is_empty() {
                    break;
                }
                for row in &page {
                    let names = columns.get_or_insert_with(|| column_names(row)).clone();
                    yield plain_row(row, names)?;
                }
            }
            run(&mut connection, "ROLLBACK".to_string()).await?;
        })
    }
}

// Boxed: the driver's futures, borrowed inside a stream, would not be provably `Send`.
// SQL text without parameters goes by the simple query protocol: its rows are text too.
fn run(connection: &mut PgConnection, sql: String) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute_many(connection, sql.as_str())
            .try_collect::<Vec<_>>()
            .await
            .map(|_| ())
    })
}

fn page(connection: &mut PgConnection) -> BoxFuture<'_, Result<Vec<PgRow>, sqlx::Error>> {
    sqlx::Executor::fetch_all(connection, "FETCH 10000 FROM tollgate_rows")
}

/// `sql` with each `?` replaced by its parameter as a literal.
fn with_literals(sql: &str, binds: &[Bind]) -> Result<String, StoreError> {
    let mut out = String::with_capacity(sql.len() + binds.len() * 8);
    let mut binds = binds.iter();
    for piece in sql.split_inclusive('?') {
        let Some(text) = piece.strip_suffix('?') else {
            out.push_str(piece);
            continue;
        };
        out.push_str(text);
        match binds.next() {
            Some(Bind::Null) => out.push_str("NULL"),
            Some(Bind::Int(n)) => out.push_str(&n.to_string()),
            Some(Bind::Text(value)) => {
                if value.contains('\0') {
                    return Err(StoreError::Query(sqlx::Error::Protocol(
                        "a text parameter holds a NUL byte".into(),
                    )));
                }
                // Standard-conforming strings (the default since PostgreSQL 9.1): only the
                // quote is special.
                out.push('\'');
                out.push_str(&value.replace('\'', "''"));
                out.push('\'');
            }
            None => {
                return Err(StoreError::Query(sqlx::Error::Protocol(
                    "more placeholders than parameters".into(),
                )))
            }
        }
    }
    Ok(out)
}

fn plain_row(row: &PgRow, columns: Arc<[String]>) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(columns.len());
    for index in 0..columns.len() {
        let raw = row.try_get_raw(index)?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let kind = raw.type_info().name().to_string();
        let text = raw
            .as_str()
            .map_err(|source| sqlx::Error::ColumnDecode {
                index: columns[index].clone(),
                source,
            })?
            .to_string();
        let bad = |what: &str| {
            StoreError::Query(sqlx::Error::ColumnDecode {
                index: columns[index].clone(),
                source: format!("{text:?} is not {what}").into(),
            })
        };
        let value = match kind.as_str() {
            "INT2" | "INT4" | "INT8" => Value::Int(text.parse().map_err(|_| bad("an integer"))?),
            "FLOAT4" | "FLOAT8" => Value::Real(text.parse().map_err(|_| bad("a number"))?),
            "BOOL" => Value::Bool(text == "t"),
            // NUMERIC (money, and sums of integers) and text stay text.
            _ => Value::Text(text),
        };
        values.push(value);
    }
    Ok(Row { columns, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_quoted_literals() {
        let sql = with_literals(
            "SELECT id FROM runs WHERE started_at_us >= ? AND key = ? AND value = ?",
            &[
                Bind::Int(-5),
                Bind::Text("team".into()),
                Bind::Text("o'brien'; DROP TABLE runs; --".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT id FROM runs WHERE started_at_us >= -5 AND key = 'team' AND \
             value = 'o''brien''; DROP TABLE runs; --'"
        );
        assert!(with_literals("? ?", &[Bind::Int(1)]).is_err());
        assert!(with_literals("?", &[Bind::Text("a\0b".into())]).is_err());
    }
}
