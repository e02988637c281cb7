//! The calls of the selected runs as CSV, one row per recorded attempt, for spreadsheets and
//! scripts. Rows stream from the database to the writer: memory stays bounded however many
//! calls there are. Money columns are decimal strings (USD) to a pico-dollar
//! (`record::PUBLISHED_DECIMALS`), as in the JSON report.

use futures_util::TryStreamExt as _;

use crate::record::{published, rfc3339, CallKind, StatusClass};
use crate::store::{RunStore, StoreError};

/// The header row, in order.
pub const CALLS_CSV_COLUMNS: [&str; 27] = [
    "run_id",
    "started_at",
    "service",
    "operation",
    "region",
    "resource",
    "status",
    "status_class",
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
    "kind",
    "callsite",
    "test",
];

/// What a column holds when the call's value could not be known (a presigned URL's client that
/// was gone before it could be looked up, an attempt no SDK header numbered, a region that
/// neither signature nor host names): said, not left empty.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the CSV: {0}")]
    Write(#[from] std::io::Error),
}

impl From<csv::Error> for CsvError {
    fn from(error: csv::Error) -> Self {
        CsvError::Write(error.into())
    }
}

/// Writes the calls of `runs` (oldest run first, each in the order its calls started) with a
/// header row; returns the number of calls written. The region, attempt and client of an AWS
/// call that could not be known are `unknown`; other empty fields are none (no error code, no
/// loop); `estimated` says why a cost is an estimate, empty when it is not one. `kind` is
/// `operation`, `not-in-model` (named from the request, newer than the AWS model), `unknown`
/// or `not-aws`.
pub async fn write_calls_csv(
    store: &dyn RunStore,
    runs: &[i64],
    out: &mut impl std::io::Write,
) -> Result<u64, CsvError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CALLS_CSV_COLUMNS)?;
    let mut written = 0u64;
    let mut calls = store.calls(runs);
    while let Some(call) = calls.try_next().await? {
        let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let text = |t: &Option<String>| defuse(t.clone().unwrap_or_default());
        // Facts every AWS call has, even when this one's could not be known.
        let aws = call.kind != CallKind::NotAws;
        let known = |value: String| {
            if value.is_empty() && aws {
                UNKNOWN.to_string()
            } else {
                value
            }
        };
        let record: [String; 27] = [
            call.run_id.to_string(),
            rfc3339(call.started_at_us),
            defuse(call.service),
            defuse(call.operation),
            known(text(&call.region)),
            text(&call.resource),
            number(call.status.map(u64::from)),
            StatusClass::of(call.status, call.upstream_failure)
                .as_str()
                .to_string(),
            text(&call.error_code),
            call.throttled.to_string(),
            known(number(call.attempt.map(u64::from))),
            latency_ms(call.duration_us),
            call.bytes_sent.to_string(),
            call.bytes_received.to_string(),
            defuse(call.price_status),
            published(call.cost),
            published(call.transfer),
            published(call.implied),
            text(&call.estimated),
            number(call.loop_id),
            text(&call.sdk),
            text(&call.app_id),
            known(number(call.client_pid.map(u64::from))),
            known(text(&call.client_command)),
            call.kind.as_str().to_string(),
            text(&call.callsite),
            text(&call.test),
        ];
        writer.write_record(&record)?;
        written += 1;
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
    use crate::record::{Call, ClientProcess, RunMeta, UpstreamFailure};
    use crate::store::{Batch, MemoryStore};

    #[test]
    fn formulas_from_the_traffic_are_not_run_by_spreadsheets() {
        assert_eq!(defuse("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(defuse("logs-bucket".into()), "logs-bucket");
    }

    /// A throttled retry of a listing page, as the recorder would write it.
    async fn write_call(
        store: &MemoryStore,
        run: i64,
        started_at_us: i64,
        resource: Option<&str>,
        command: Option<&str>,
    ) {
        let call = Call {
            region: Some("eu-west-1".into()),
            host: "s3.eu-west-1.amazonaws.com".into(),
            sdk: Some("Boto3/1.40.0".into()),
            status: Some(503),
            error_code: Some("SlowDown".into()),
            attempt: Some(2),
            duration: std::time::Duration::from_micros(12345),
            bytes_sent: 310,
            bytes_received: 2048,
            cost: "0.000005".parse().unwrap(),
            transfer: "0.0000001".parse().unwrap(),
            estimated: Some("page count from MaxKeys".into()),
            loop_id: Some(3),
            resource: resource.map(str::to_string),
            ..Call::sample("s3", "ListObjectsV2").at_us(started_at_us)
        };
        let process = command.map(|command| ClientProcess {
            pid: 4242,
            command: command.into(),
        });
        let batch = Batch {
            calls: std::slice::from_ref(&call),
            processes: std::slice::from_ref(&process),
            loops: &[],
        };
        store.write_batch(run, batch).await.unwrap();
    }

    #[tokio::test]
    async fn calls_round_trip_through_csv_with_commas_and_quotes() {
        let store = MemoryStore::new();
        let run = store.begin_run(&RunMeta::new("run")).await.unwrap();
        let other = store.begin_run(&RunMeta::new("run")).await.unwrap();
        let tricky = "logs, \"2026\"\nand more";
        let command = "python -c \"print('a,b')\"";
        // Inserted out of order: the CSV is in the order calls started.
        write_call(
            &store,
            run,
            1_790_000_001_000_000,
            Some(tricky),
            Some(command),
        )
        .await;
        write_call(&store, run, 1_790_000_000_000_000, None, None).await;
        write_call(&store, other, 1_790_000_000_500_000, None, None).await;

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
        assert_eq!(field(1, "status_class"), "server_error");
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

        // Issue 13: a call the upstream never answered had an empty status and error code in
        // the CSV; its class says what happened.
        let unreached = Call {
            status: None,
            upstream_failure: Some(UpstreamFailure::Timeout),
            ..Call::sample("sqs", "ReceiveMessage").at_us(1_790_000_002_000_000)
        };
        let batch = Batch {
            calls: std::slice::from_ref(&unreached),
            processes: &[None],
            loops: &[],
        };
        store.write_batch(other, batch).await.unwrap();
        let mut out = Vec::new();
        write_calls_csv(&store, &[other], &mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect();
        let column = |name: &str| CALLS_CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
        let last = rows.last().unwrap();
        assert_eq!(&last[column("status")], "", "{text}");
        assert_eq!(&last[column("status_class")], "timeout", "{text}");

        // Both runs, the older first; none: just the header.
        let mut out = Vec::new();
        let written = write_calls_csv(&store, &[other, run], &mut out)
            .await
            .unwrap();
        assert_eq!(written, 4);
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
