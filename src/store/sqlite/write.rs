//! Writing a batch: the calls, their totals and the finished loops, in one transaction, on the
//! writer's own connection ([`super::writer`]), through statements prepared once and kept, with
//! each call's fields bound straight from the [`Call`](crate::record::Call).

use rusqlite::{params, Connection, TransactionBehavior};

use super::saturating;
use super::totals;
use super::SqliteStore;
use crate::record::exact;
use crate::record::priced_json;
use crate::store::digest_book::{DigestBook, DigestChanges};
use crate::store::label_book::{LabelBook, LabelChanges, LabelPlan};
use crate::store::sql::units_json;
use crate::store::tally::Totals;
use crate::store::{duration_micros, micros, Batch, StoreError};

impl SqliteStore {
    /// Writes a batch in one transaction. The run's digest and label books (see [`DigestBook`],
    /// [`LabelBook`]) take the batch's changes only once it committed.
    pub(super) async fn write_batch(&self, run: i64, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut books = self.books.lock().await;
        let (digests, labels) = books.entry(run).or_default();
        let (digest_changes, label_changes) =
            write_batch(self, run, batch, digests, labels).await?;
        digests.apply(digest_changes);
        labels.apply(label_changes);
        Ok(())
    }
}

pub(super) async fn write_batch(
    store: &SqliteStore,
    run_id: i64,
    batch: Batch<'_>,
    digests: &DigestBook,
    labels: &LabelBook,
) -> Result<(DigestChanges, LabelChanges), StoreError> {
    let labels = labels.plan(batch.calls);
    store
        .writer
        .with(|connection| write_in_transaction(connection, run_id, batch, digests, labels))
}

const INSERT_CALL: &str = "INSERT INTO calls (run_id, seq, started_at_us, duration_us, kind, \
     service, operation, region, host, access_key, sdk, app_id, status, error_code, throttled, \
     upstream_failure, attempt, invocation_id, bytes_sent, bytes_received, price_status, \
     cost_usd, transfer_usd, implied_usd, units, estimated, loop_id, fingerprint, resource, \
     client_pid, client_command, listed_before, received, priced, callsite_label, test_label, \
     after_head, refetched_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
     ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const INSERT_LOOP: &str = "INSERT OR REPLACE INTO loops (run_id, loop_id, service, operation, \
     resource, access_key, listing, started_at_us, ended_at_us, pages, attempts, items, \
     items_unknown, page_size, page_size_max, complete, resumed, relisting, cost_usd, \
     transfer_usd, implied_usd, callsite) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
     ?, ?, ?, ?, ?, ?, ?)";

fn write_in_transaction(
    connection: &mut Connection,
    run_id: i64,
    batch: Batch<'_>,
    digests: &DigestBook,
    mut labels: LabelPlan<'_>,
) -> rusqlite::Result<(DigestChanges, LabelChanges)> {
    let Batch {
        calls,
        processes,
        loops,
    } = batch;
    // The write lock at once: a deferred transaction that read first could not wait for it.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_labels(&tx, run_id, &mut labels)?;
    let mut call_ids = Vec::with_capacity(calls.len());
    {
        let mut insert = tx.prepare_cached(INSERT_CALL)?;
        for ((row, process), (callsite, test)) in calls.iter().zip(processes).zip(&labels.ids) {
            call_ids.push(insert.insert(params![
                run_id,
                saturating(row.seq),
                micros(row.started_at),
                duration_micros(row.duration),
                row.kind.as_str(),
                row.service,
                row.operation,
                row.region,
                row.host,
                row.access_key,
                row.sdk,
                row.app_id,
                row.status.map(i64::from),
                row.error_code,
                row.is_throttled(),
                row.upstream_failure.map(|failure| failure.as_str()),
                row.attempt.map(i64::from),
                row.invocation_id,
                saturating(row.bytes_sent),
                saturating(row.bytes_received),
                row.price.class(),
                exact(row.cost),
                exact(row.transfer),
                exact(row.implied_total()),
                units_json(row),
                row.estimated,
                row.loop_id.map(saturating),
                row.fingerprint,
                row.resource,
                process.as_ref().map(|p| i64::from(p.pid)),
                process.as_ref().map(|p| p.command.as_str()),
                row.listed_before.map(i64::from),
                row.received.map(saturating),
                priced_json(&row.priced),
                callsite,
                test,
                row.after_head.map(i64::from),
                row.refetched_bytes.map(saturating),
            ])?);
        }
    }
    let totals = Totals::of(calls.iter().zip(processes.iter().map(Option::as_ref)));
    let changes = totals::write(&totals, &tx, run_id, digests, &call_ids)?;
    {
        let mut insert = tx.prepare_cached(INSERT_LOOP)?;
        for record in loops {
            insert.execute(params![
                run_id,
                saturating(record.id),
                record.service,
                record.operation,
                record.resource,
                record.access_key,
                record.listing,
                micros(record.started_at),
                micros(record.ended_at),
                saturating(record.pages),
                saturating(record.attempts),
                record.items.map(saturating),
                record.items_unknown.map(|reason| reason.code()),
                record.page_size.map(saturating),
                record.page_size_max.map(saturating),
                record.complete,
                record.resumed,
                record.relisting,
                exact(record.cost),
                exact(record.transfer),
                exact(record.implied),
                record.callsite,
            ])?;
        }
    }
    tx.commit()?;
    Ok((changes, labels.changes))
}

/// The batch's new labels (a batch names a few new ones at most: most name none). When the book
/// is full, a label it does not hold may be stored already: it is inserted only where missing,
/// and the ids the table holds are read back.
fn insert_labels(tx: &Connection, run_id: i64, labels: &mut LabelPlan<'_>) -> rusqlite::Result<()> {
    if labels.new.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO call_labels (run_id, label_id, kind, text) VALUES (?, ?, ?, ?) \
         ON CONFLICT (run_id, kind, text) DO NOTHING",
    )?;
    for label in &labels.new {
        insert.execute(params![run_id, label.id, label.kind.as_str(), label.text])?;
    }
    if labels.may_exist {
        let mut select = tx.prepare_cached(
            "SELECT label_id FROM call_labels WHERE run_id = ? AND kind = ? AND text = ?",
        )?;
        let mut stored = Vec::with_capacity(labels.new.len());
        for label in &labels.new {
            let id: i64 = select
                .query_row(params![run_id, label.kind.as_str(), label.text], |row| {
                    row.get(0)
                })?;
            stored.push((label.kind, label.text.to_string(), id));
        }
        labels.settle(&stored);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{exact, Cadence, Call, RepeatGroup, RunMeta, Unit};
    use crate::store::digest_book::DigestBook;
    use crate::store::label_book::LabelKind;
    use crate::store::sqlite::totals::rebuild;
    use crate::store::RunStore;
    use rust_decimal::Decimal;

    fn call(fingerprint: &str, at_us: i64, cost: &str) -> Call {
        Call {
            cost: cost.parse().unwrap(),
            units: vec![(Unit::ReadRequestUnit, Decimal::ONE)],
            fingerprint: Some(fingerprint.into()),
            resource: Some("table".into()),
            ..Call::sample("dynamodb", "GetItem").at_us(at_us)
        }
    }

    /// Groups a, b and c repeat (a across batches, b within one, c before and after an
    /// overflow of a small book); u0..u5 are single calls.
    fn batches() -> Vec<Vec<Call>> {
        vec![
            vec![
                call("a", 1_000, "0.000000125"),
                call("b", 1_100, "0.0000001"),
                call("b", 1_300, "0.0000001"),
                call("u0", 1_350, "1"),
                call("b", 1_700, "0.0000003"),
                call("c", 1_800, "0.5"),
            ],
            vec![call("u1", 2_000, "1"), call("a", 2_500, "0.000000125")],
            vec![
                call("u2", 3_000, "1"),
                call("u3", 3_100, "1"),
                call("u4", 3_200, "1"),
                call("c", 3_900, "0.25"),
            ],
            vec![
                call("a", 4_000, "0.00000025"),
                call("u5", 4_100, "1"),
                call("a", 4_700, "0.000000125"),
            ],
        ]
    }

    async fn recorded(book: &mut DigestBook) -> (SqliteStore, i64, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        for calls in batches() {
            let processes = vec![None; calls.len()];
            let batch = Batch {
                calls: &calls,
                processes: &processes,
                loops: &[],
            };
            let (changes, _) = write_batch(&store, run, batch, book, &LabelBook::default())
                .await
                .unwrap();
            book.apply(changes);
        }
        (store, run, dir)
    }

    fn summary(groups: &[RepeatGroup]) -> Vec<(String, u64, String, Cadence, Vec<i64>)> {
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                (
                    g.fingerprint.clone(),
                    g.count,
                    exact(g.cost),
                    g.cadence,
                    g.examples_us.clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// 777 calls in one batch: every call is stored, in order, with ids that follow one
    /// another, and the repeated groups (five, spread over the whole batch) are counted from the
    /// right ids.
    #[tokio::test]
    async fn a_batch_of_many_calls_records_every_call_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        let calls: Vec<Call> = (0..777)
            .map(|i| Call {
                seq: i,
                ..call(&format!("g{}", i % 5), 1_000 + i as i64 * 10, "0.001")
            })
            .collect();
        let processes = vec![None; calls.len()];
        let mut book = DigestBook::default();
        let (changes, _) = write_batch(
            &store,
            run,
            Batch {
                calls: &calls,
                processes: &processes,
                loops: &[],
            },
            &book,
            &LabelBook::default(),
        )
        .await
        .unwrap();
        book.apply(changes);
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, seq FROM calls ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(rows.len(), 777);
        for (index, (id, seq)) in rows.iter().enumerate() {
            assert_eq!(*seq, index as i64);
            assert_eq!(*id, rows[0].0 + index as i64);
        }
        let groups = store.repeated_calls(&[run], 2).await.unwrap();
        assert_eq!(groups.len(), 5);
        for group in &groups {
            let residue: i64 = group.fingerprint[1..].parse().unwrap();
            let count = (0..777).filter(|i| i % 5 == residue).count() as u64;
            assert_eq!(group.count, count, "{}", group.fingerprint);
            let first: Vec<i64> = (0..777i64)
                .filter(|i| i % 5 == residue)
                .take(3)
                .map(|i| 1_000 + i * 10)
                .collect();
            assert_eq!(group.examples_us, first, "{}", group.fingerprint);
        }
    }

    #[tokio::test]
    async fn repeated_groups_are_exact_however_the_book_stores_them() {
        let expected = |fingerprint: &str| {
            let calls: Vec<Call> = batches()
                .into_iter()
                .flatten()
                .filter(|c| c.fingerprint.as_deref() == Some(fingerprint))
                .collect();
            let times: Vec<i64> = calls
                .iter()
                .map(|c| crate::store::micros(c.started_at))
                .collect();
            let cost: Decimal = calls.iter().map(|c| c.cost).sum();
            let mut cadence = Cadence::of(&times).unwrap();
            cadence.batch_first_us = 0;
            (
                fingerprint.to_string(),
                times.len() as u64,
                exact(cost),
                cadence,
                times.iter().take(3).copied().collect::<Vec<i64>>(),
            )
        };
        let want = vec![expected("a"), expected("b"), expected("c")];
        // batch_first_us depends on how the rows were batched: not compared.
        let compare = |mut got: Vec<(String, u64, String, Cadence, Vec<i64>)>| {
            for group in &mut got {
                group.3.batch_first_us = 0;
            }
            got
        };

        let (store, run, _dir) = recorded(&mut DigestBook::default()).await;
        let roomy = compare(summary(&store.repeated_calls(&[run], 2).await.unwrap()));
        assert_eq!(roomy, want);
        // Singles stay in the book: only repeated groups have rows.
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM digest_totals")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 3);

        // A book of 4 groups overflows in the second batch: its singles are written out, and
        // every group is upserted from then on.
        let mut small = DigestBook::with_capacity(4);
        let (store, run, _dir) = recorded(&mut small).await;
        assert!(small.upserts_all());
        let overflowed = compare(summary(&store.repeated_calls(&[run], 2).await.unwrap()));
        assert_eq!(overflowed, want);
        let singles: i64 = sqlx::query_scalar("SELECT count(*) FROM digest_totals WHERE calls = 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(
            singles, 6,
            "u0 written at the overflow, u1..u5 upserted after it"
        );

        // Rebuilt from the calls (a run recorded before totals existed): the same groups.
        crate::store::sqlite::totals::forget_totals(store.pool()).await;
        sqlx::query("UPDATE runs SET state = 'complete'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(rebuild(store.pool(), &store.writer, run).await.unwrap());
        assert!(
            !rebuild(store.pool(), &store.writer, run).await.unwrap(),
            "only once"
        );
        let rebuilt = compare(summary(&store.repeated_calls(&[run], 2).await.unwrap()));
        assert_eq!(rebuilt, want);
        let operations = store.operations(&[run]).await.unwrap();
        assert_eq!(operations.len(), 1);
        assert_eq!(operations[0].attempts, 15);
        let cost: Decimal = batches().iter().flatten().map(|c| c.cost).sum();
        assert_eq!(exact(cost), "6.750001125");
        assert_eq!(operations[0].cost, cost);
        assert_eq!(
            operations[0].units[&Unit::ReadRequestUnit],
            Decimal::from(15)
        );
    }

    /// Calls naming `sites` call sites and `tests` tests in turn (some naming none), at 1 ms.
    fn labelled(count: usize, sites: usize, tests: usize, from_us: i64) -> Vec<Call> {
        (0..count)
            .map(|n| Call {
                seq: n as u64,
                callsite: (n % 7 != 3).then(|| format!("src/sync.py:{} copy_all", 40 + n % sites)),
                test: (n % 5 != 0).then(|| format!("tests/t.py::test_{}", n / 10 % tests)),
                ..Call::sample("s3", "GetObject").at_us(from_us + n as i64 * 1_000)
            })
            .collect()
    }

    /// Each call's (started, call site, test) as the store gives them back.
    async fn labels_read(
        store: &dyn RunStore,
        run: i64,
    ) -> Vec<(i64, Option<String>, Option<String>)> {
        use futures_util::TryStreamExt as _;
        store
            .calls(&[run])
            .map_ok(|c| (c.started_at_us, c.callsite, c.test))
            .try_collect()
            .await
            .unwrap()
    }

    fn labels_written(calls: &[Call]) -> Vec<(i64, Option<String>, Option<String>)> {
        calls
            .iter()
            .map(|c| (micros(c.started_at), c.callsite.clone(), c.test.clone()))
            .collect()
    }

    /// Writes `batches` into a new run of `store` through `labels` (a book of the test's size).
    async fn write_labelled(
        store: &SqliteStore,
        batches: &[Vec<Call>],
        labels: &mut LabelBook,
    ) -> i64 {
        let run = RunStore::begin_run(store, &RunMeta::new("run"))
            .await
            .unwrap();
        let mut digests = DigestBook::default();
        for calls in batches {
            let processes = vec![None; calls.len()];
            let batch = Batch {
                calls,
                processes: &processes,
                loops: &[],
            };
            let (d, l) = write_batch(store, run, batch, &digests, labels)
                .await
                .unwrap();
            digests.apply(d);
            labels.apply(l);
        }
        run
    }

    /// Issue 21 item 7: a call keeps the numbers of its call site and test; each distinct label
    /// is stored once per run, numbered in the order the run first named it, and read back as
    /// written, with a book of any size (one too small for the run's labels asks the table).
    #[tokio::test]
    async fn call_sites_and_tests_are_stored_once_per_run_and_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        // 900 calls naming 12 call sites and 9 tests, in three batches.
        let calls = labelled(900, 12, 9, 1_000_000);
        let batches: Vec<Vec<Call>> = calls.chunks(300).map(<[Call]>::to_vec).collect();
        let mut roomy = LabelBook::default();
        let run = write_labelled(&store, &batches, &mut roomy).await;
        assert_eq!(roomy.len(), 21);
        assert_eq!(labels_read(&store, run).await, labels_written(&calls));
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT label_id, kind, text FROM call_labels WHERE run_id = ? ORDER BY label_id",
        )
        .bind(run)
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), 21);
        assert_eq!(
            rows[..3],
            [
                (1, "callsite".into(), "src/sync.py:40 copy_all".into()),
                (2, "callsite".into(), "src/sync.py:41 copy_all".into()),
                (3, "test".into(), "tests/t.py::test_0".into()),
            ]
        );
        assert!(rows
            .iter()
            .enumerate()
            .all(|(n, row)| row.0 == n as i64 + 1));
        let named: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM calls WHERE run_id = ? AND callsite_label IS NOT NULL",
        )
        .bind(run)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(
            named,
            calls.iter().filter(|c| c.callsite.is_some()).count() as i64
        );

        // A book of 5 labels: past it, every batch finds the others in the table. The same
        // labels, stored once each, and the same calls read back.
        let mut small = LabelBook::with_capacity(5 * (24 + 48));
        let second = write_labelled(&store, &batches, &mut small).await;
        assert!(small.len() <= 5, "{}", small.len());
        assert_eq!(labels_read(&store, second).await, labels_written(&calls));
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM call_labels WHERE run_id = ?")
            .bind(second)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(stored, 21);
        // The memory store gives the same calls back.
        let memory = crate::store::MemoryStore::default();
        let in_memory = memory.begin_run(&RunMeta::new("run")).await.unwrap();
        for calls in &batches {
            let processes = vec![None; calls.len()];
            let batch = Batch {
                calls,
                processes: &processes,
                loops: &[],
            };
            memory.write_batch(in_memory, batch).await.unwrap();
        }
        assert_eq!(
            labels_read(&memory, in_memory).await,
            labels_read(&store, run).await
        );
        store.close().await;
    }

    /// A batch that fails after inserting its new labels rolls them back with its calls, and
    /// leaves the run's book as it was: the next batch naming them stores them again.
    #[tokio::test]
    async fn a_failed_batch_leaves_no_label_and_the_book_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER boom BEFORE INSERT ON calls WHEN NEW.operation = 'Boom' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let first = labelled(10, 2, 1, 0);
        let written = labels_written(&first);
        let run = RunStore::begin_run(&store, &RunMeta::new("run"))
            .await
            .unwrap();
        // Through the store, with its own book.
        let write = |calls: Vec<Call>| {
            let store = store.clone();
            async move {
                let processes = vec![None; calls.len()];
                let batch = Batch {
                    calls: &calls,
                    processes: &processes,
                    loops: &[],
                };
                RunStore::write_batch(&store, run, batch).await
            }
        };
        write(first.clone()).await.unwrap();
        let book_before = store.books.lock().await[&run].1.len();
        assert_eq!(book_before, 3);
        let mut failing = labelled(4, 1, 1, 100_000);
        for call in &mut failing {
            call.callsite = Some("src/new.py:7 f".into());
            call.test = Some("tests/new.py::test_new".into());
        }
        failing[3].operation = "Boom".into();
        let error = write(failing.clone()).await.unwrap_err().to_string();
        assert!(error.contains("boom"), "{error}");
        let books = store.books.lock().await;
        let book = &books[&run].1;
        assert_eq!(book.len(), book_before);
        assert_eq!(book.get(LabelKind::Callsite, "src/new.py:7 f"), None);
        drop(books);
        let labels: i64 = sqlx::query_scalar("SELECT count(*) FROM call_labels WHERE run_id = ?")
            .bind(run)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(labels, 3, "the failed batch's labels were rolled back");
        // The same labels in a batch that succeeds: stored, and read back.
        failing[3].operation = "GetObject".into();
        write(failing.clone()).await.unwrap();
        let mut want = written;
        want.extend(labels_written(&failing));
        assert_eq!(labels_read(&store, run).await, want);
        let books = store.books.lock().await;
        assert_eq!(
            books[&run].1.get(LabelKind::Callsite, "src/new.py:7 f"),
            Some(4)
        );
        drop(books);
        store.close().await;
    }

    /// A database written by the previous release (migration 0001 only, no totals) is migrated
    /// on open and its runs get their totals from their calls.
    #[tokio::test]
    async fn a_database_from_before_totals_is_migrated_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/0001_runs_calls_loops.sql"
            ),
            migrations.join("0001_runs_calls_loops.sql"),
        )
        .unwrap();
        let path = dir.path().join("old.db");
        {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            sqlx::migrate::Migrator::new(migrations.as_path())
                .await
                .unwrap()
                .run(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO runs (id, uuid, kind, state, started_at_us, tollgate_version, \
                 pricing_version, model_version) VALUES (1, 'u', 'run', 'complete', 0, '0', '0', '0')",
            )
            .execute(&pool)
            .await
            .unwrap();
            for (seq, (operation, cost, status)) in [
                ("GetObject", "0.0000004", 200),
                ("GetObject", "0.0000004", 200),
                ("PutObject", "0.000005", 503),
            ]
            .into_iter()
            .enumerate()
            {
                sqlx::query(
                    "INSERT INTO calls (run_id, seq, started_at_us, duration_us, kind, service, \
                     operation, host, status, throttled, bytes_sent, bytes_received, \
                     price_status, cost_usd, transfer_usd, implied_usd, units, fingerprint) \
                     VALUES (1, ?, ?, 2000, 'operation', 's3', ?, 'h', ?, 0, 1, 2, 'priced', ?, \
                     '0', '0', '{\"request\":\"1\"}', 'f')",
                )
                .bind(seq as i64)
                .bind(1_000_000 * seq as i64)
                .bind(operation)
                .bind(status)
                .bind(cost)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }

        let store = SqliteStore::open(&path).await.unwrap();
        let mut operations = store.operations(&[1]).await.unwrap();
        operations.sort_by(|a, b| a.operation.cmp(&b.operation));
        let got: Vec<(&str, u64, u64, String)> = operations
            .iter()
            .map(|o| (o.operation.as_str(), o.attempts, o.errors, exact(o.cost)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("GetObject", 2, 0, "0.0000008".to_string()),
                ("PutObject", 1, 1, "0.000005".to_string())
            ]
        );
        assert_eq!(operations[0].units[&Unit::Request], Decimal::from(2));
        let repeated = store.repeated_calls(&[1], 2).await.unwrap();
        assert_eq!(repeated.len(), 1);
        assert_eq!(repeated[0].count, 2);
        let runs = store.runs(None, 10).await.unwrap();
        assert_eq!(runs[0].calls, 3);
    }
}
