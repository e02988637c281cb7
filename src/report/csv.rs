//! The calls of the selected runs as CSV, one row per recorded attempt, for spreadsheets and
//! scripts. Rows stream from the database to the writer: memory stays bounded however many
//! calls there are. Money columns are the exact decimal strings of the database (USD).

use futures_util::TryStreamExt as _;
use sqlx::Row;

use super::rfc3339;
use crate::store::{Store, StoreError};

/// The header row, in order.
pub const CALLS_CSV_COLUMNS: [&str; 23] = [
    "run_id",
    "started_at",
    "service",
    "operation",
    "region",
    "resource",
    "status",
    "error_code",
    "throttled",
    "attempt",
    "latency_ms",
    "bytes_sent",
    "bytes_received",
    "price_status",
    "cost_usd",
    "transfer_usd",
    "implied_usd",
    "estimated",
    "loop_id",
    "sdk",
    "app_id",
    "client_pid",
    "client_command",
];

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the CSV: {0}")]
    Write(#[from] std::io::Error),
}

impl From<sqlx::Error> for CsvError {
    fn from(error: sqlx::Error) -> Self {
        CsvError::Store(StoreError::Query(error))
    }
}

impl From<csv::Error> for CsvError {
    fn from(error: csv::Error) -> Self {
        CsvError::Write(error.into())
    }
}

/// Writes the calls of `runs` (oldest run first, each in the order its calls started) with a
/// header row; returns the number of calls written. Empty fields are unknown (SQL NULL);
/// `estimated` says why a cost is an estimate, empty when it is not one.
pub async fn write_calls_csv(
    store: &Store,
    runs: &[i64],
    out: &mut impl std::io::Write,
) -> Result<u64, CsvError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CALLS_CSV_COLUMNS)?;
    let mut written = 0u64;
    if !runs.is_empty() {
        let ids = runs
            .iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT run_id, started_at_us, service, operation, region, resource, status, \
             error_code, throttled, attempt, duration_us, bytes_sent, bytes_received, \
             price_status, cost_usd, transfer_usd, implied_usd, estimated, loop_id, sdk, app_id, \
             client_pid, client_command \
             FROM calls WHERE run_id IN ({ids}) ORDER BY run_id, started_at_us, id"
        );
        let mut rows = sqlx::query(&sql).fetch(store.pool());
        while let Some(row) = rows.try_next().await? {
            let int = |column: &str| -> Result<String, sqlx::Error> {
                Ok(row
                    .try_get::<Option<i64>, _>(column)?
                    .map(|n| n.to_string())
                    .unwrap_or_default())
            };
            let text = |column: &str| -> Result<String, sqlx::Error> {
                Ok(defuse(
                    row.try_get::<Option<String>, _>(column)?
                        .unwrap_or_default(),
                ))
            };
            let duration_us: i64 = row.try_get("duration_us")?;
            let throttled: bool = row.try_get("throttled")?;
            let record: [String; 23] = [
                int("run_id")?,
                rfc3339(row.try_get("started_at_us")?),
                text("service")?,
                text("operation")?,
                text("region")?,
                text("resource")?,
                int("status")?,
                text("error_code")?,
                throttled.to_string(),
                int("attempt")?,
                latency_ms(duration_us),
                int("bytes_sent")?,
                int("bytes_received")?,
                text("price_status")?,
                text("cost_usd")?,
                text("transfer_usd")?,
                text("implied_usd")?,
                text("estimated")?,
                int("loop_id")?,
                text("sdk")?,
                text("app_id")?,
                int("client_pid")?,
                text("client_command")?,
            ];
            writer.write_record(&record)?;
            written += 1;
        }
    }
    writer.flush()?;
    Ok(written)
}

/// Text from the traffic (a bucket name, a client's command line) that a spreadsheet would run
/// as a formula gets a leading `'`, the spreadsheet convention for "this is text".
fn defuse(text: String) -> String {
    if text.starts_with(['=', '+', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// Microseconds as exact milliseconds: `12.345`.
fn latency_ms(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let us = us.unsigned_abs();
    format!("{sign}{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunMeta;

    #[test]
    fn formulas_from_the_traffic_are_not_run_by_spreadsheets() {
        assert_eq!(defuse("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(defuse("logs-bucket".into()), "logs-bucket");
    }

    async fn insert_call(
        store: &Store,
        run: i64,
        seq: i64,
        started_at_us: i64,
        resource: Option<&str>,
        command: Option<&str>,
    ) {
        sqlx::query(
            "INSERT INTO calls (run_id, seq, started_at_us, duration_us, kind, service, \
             operation, region, host, sdk, app_id, status, error_code, throttled, attempt, \
             bytes_sent, bytes_received, price_status, cost_usd, transfer_usd, implied_usd, \
             estimated, loop_id, resource, client_pid, client_command) \
             VALUES (?, ?, ?, 12345, 'operation', 's3', 'ListObjectsV2', 'eu-west-1', \
             's3.eu-west-1.amazonaws.com', 'Boto3/1.40.0', NULL, 503, 'SlowDown', 1, 2, 310, \
             2048, 'priced', '0.000005', '0.0000001', '0', 'page count from MaxKeys', 3, ?, \
             4242, ?)",
        )
        .bind(run)
        .bind(seq)
        .bind(started_at_us)
        .bind(resource)
        .bind(command)
        .execute(store.pool())
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn calls_round_trip_through_csv_with_commas_and_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("calls.db")).await.unwrap();
        let meta = RunMeta::current("run", vec!["python".into()], vec![], "test".into());
        let run = store.begin_run(&meta).await.unwrap();
        let other = store
            .begin_run(&RunMeta::current("run", vec![], vec![], "test".into()))
            .await
            .unwrap();
        let tricky = "logs, \"2026\"\nand more";
        let command = "python -c \"print('a,b')\"";
        // Inserted out of order: the CSV is in the order calls started.
        insert_call(
            &store,
            run,
            2,
            1_790_000_001_000_000,
            Some(tricky),
            Some(command),
        )
        .await;
        insert_call(&store, run, 1, 1_790_000_000_000_000, None, None).await;
        insert_call(&store, other, 1, 1_790_000_000_500_000, None, None).await;

        let mut out = Vec::new();
        let written = write_calls_csv(&store, &[run], &mut out).await.unwrap();
        assert_eq!(written, 2);
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(header, CALLS_CSV_COLUMNS, "{text}");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2, "{text}");
        let field = |row: usize, name: &str| -> String {
            let index = CALLS_CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
            rows[row][index].to_string()
        };
        assert_eq!(field(0, "started_at"), "2026-09-21T14:13:20Z", "{text}");
        assert_eq!(field(0, "resource"), "", "{text}");
        assert_eq!(field(1, "started_at"), "2026-09-21T14:13:21Z", "{text}");
        assert_eq!(field(1, "resource"), tricky, "{text}");
        assert_eq!(field(1, "client_command"), command, "{text}");
        assert_eq!(field(1, "run_id"), run.to_string());
        assert_eq!(field(1, "status"), "503");
        assert_eq!(field(1, "error_code"), "SlowDown");
        assert_eq!(field(1, "throttled"), "true");
        assert_eq!(field(1, "attempt"), "2");
        assert_eq!(field(1, "latency_ms"), "12.345");
        assert_eq!(field(1, "bytes_sent"), "310");
        assert_eq!(field(1, "bytes_received"), "2048");
        assert_eq!(field(1, "price_status"), "priced");
        assert_eq!(field(1, "cost_usd"), "0.000005");
        assert_eq!(field(1, "transfer_usd"), "0.0000001");
        assert_eq!(field(1, "implied_usd"), "0");
        assert_eq!(field(1, "estimated"), "page count from MaxKeys");
        assert_eq!(field(1, "loop_id"), "3");
        assert_eq!(field(1, "sdk"), "Boto3/1.40.0");
        assert_eq!(field(1, "app_id"), "");
        assert_eq!(field(1, "client_pid"), "4242");
        assert_eq!(field(1, "region"), "eu-west-1");

        // Both runs, the older first; none: just the header.
        let mut out = Vec::new();
        let written = write_calls_csv(&store, &[other, run], &mut out)
            .await
            .unwrap();
        assert_eq!(written, 3);
        let mut out = Vec::new();
        assert_eq!(write_calls_csv(&store, &[], &mut out).await.unwrap(), 0);
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
        store.close().await;
    }

    #[test]
    fn latency_is_exact_milliseconds() {
        assert_eq!(latency_ms(0), "0.000");
        assert_eq!(latency_ms(1_000_001), "1000.001");
        assert_eq!(latency_ms(-1500), "-1.500");
    }
}
