-- Totals the writer keeps with every batch of calls, in the same transaction, so that a report
-- reads a few rows per operation instead of every call (a report over 1,000,000 calls scanned
-- the calls table once per aggregate). Money is exact decimal text added with dec_add (a
-- function tollgate registers on its connections). Keys use '' and 0 for "none": SQLite's
-- UNIQUE treats NULLs as distinct, and upserts need keys that conflict.

-- 1: the run's writer keeps its totals; 0: a run recorded before totals existed, rebuilt from
-- its calls when the database is next opened.
ALTER TABLE runs ADD COLUMN totals INTEGER NOT NULL DEFAULT 0;

CREATE TABLE operation_totals (
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    calls          INTEGER NOT NULL,
    retries        INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    throttled      INTEGER NOT NULL,
    bytes_sent     INTEGER NOT NULL,
    bytes_received INTEGER NOT NULL,
    cost_usd       TEXT    NOT NULL,
    transfer_usd   TEXT    NOT NULL,
    implied_usd    TEXT    NOT NULL,
    priced         INTEGER NOT NULL,
    free           INTEGER NOT NULL,
    not_billed     INTEGER NOT NULL,
    unpriced       INTEGER NOT NULL,
    estimated      INTEGER NOT NULL,
    first_us       INTEGER NOT NULL,
    last_us        INTEGER NOT NULL,
    PRIMARY KEY (run_id, service, operation)
) WITHOUT ROWID;

CREATE TABLE operation_units (
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service   TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    unit      TEXT    NOT NULL,
    quantity  TEXT    NOT NULL,
    PRIMARY KEY (run_id, service, operation, unit)
) WITHOUT ROWID;

-- Latency in buckets of 2-3 significant digits (10 µs below 1 ms, 100 µs below 10 ms, ...).
CREATE TABLE operation_latency (
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service   TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    bucket_us INTEGER NOT NULL,
    calls     INTEGER NOT NULL,
    PRIMARY KEY (run_id, service, operation, bucket_us)
) WITHOUT ROWID;

-- Failed attempts (no response, 4xx/5xx, or an error code) of AWS calls, by outcome.
CREATE TABLE failure_totals (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service    TEXT    NOT NULL,
    operation  TEXT    NOT NULL,
    status     INTEGER NOT NULL,                -- 0: no response
    error_code TEXT    NOT NULL,                -- '': none
    throttled  INTEGER NOT NULL,
    calls      INTEGER NOT NULL,
    priced     INTEGER NOT NULL,                -- attempts AWS bills
    cost_usd   TEXT    NOT NULL,                -- what it bills for them
    first_us   INTEGER NOT NULL,
    last_us    INTEGER NOT NULL,
    PRIMARY KEY (run_id, service, operation, status, error_code, throttled)
) WITHOUT ROWID;

-- AWS calls by service and region; cost includes data transfer.
CREATE TABLE region_totals (
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service  TEXT    NOT NULL,
    region   TEXT    NOT NULL,                  -- '': none
    calls    INTEGER NOT NULL,
    cost_usd TEXT    NOT NULL,
    PRIMARY KEY (run_id, service, region)
) WITHOUT ROWID;

-- Calls by operation and resource: first attempts (per-item patterns) and implied costs.
CREATE TABLE resource_totals (
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    resource       TEXT    NOT NULL,            -- '': none
    first_attempts INTEGER NOT NULL,
    first_cost_usd TEXT    NOT NULL,            -- all money of the first attempts
    first_us       INTEGER NOT NULL,            -- of the first attempts (0: none)
    last_us        INTEGER NOT NULL,
    implied_calls  INTEGER NOT NULL,            -- calls with an implied cost
    implied_usd    TEXT    NOT NULL,
    PRIMARY KEY (run_id, service, operation, resource)
) WITHOUT ROWID;

-- First attempts of AWS operations by parameter digest: repeated calls and polling.
-- The cadence columns let a report tell a polling loop from a burst without reading calls:
-- gap_sq_sum is the sum of squared gaps between consecutive calls (in arrival order), latest_us
-- the last call's time and batch_first_us the first call of the batch that wrote the row last
-- (the upsert adds the squared gap between the two batches).
CREATE TABLE digest_totals (
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    digest         INTEGER NOT NULL,            -- hash of service, operation and fingerprint
    service        TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    resource       TEXT,
    calls          INTEGER NOT NULL,
    cost_usd       TEXT    NOT NULL,
    first_us       INTEGER NOT NULL,
    last_us        INTEGER NOT NULL,
    latest_us      INTEGER NOT NULL,
    batch_first_us INTEGER NOT NULL,
    gap_sq_sum     REAL    NOT NULL,            -- µs², a statistic, not money
    examples       TEXT    NOT NULL,            -- the first call times, space-separated (>= 3)
    PRIMARY KEY (run_id, digest)
) WITHOUT ROWID;

-- Calls and cost per slot of time, at several widths (10 ms, 1 s, 1 min, 1 h) so that a
-- timeline of any span reads at most a few thousand rows.
CREATE TABLE timeline_totals (
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    width_us INTEGER NOT NULL,
    slot     INTEGER NOT NULL,                  -- start time / width
    calls    INTEGER NOT NULL,
    cost_usd TEXT    NOT NULL,                  -- all money: own, transfer, implied
    PRIMARY KEY (run_id, width_us, slot)
) WITHOUT ROWID;

-- Reports no longer group calls by operation; the index only has to find a run's calls (the
-- CSV export, deleting a run). A run id alone is appended in order, which costs the writer far
-- less than keeping (run, service, operation) sorted.
DROP INDEX calls_by_run;
CREATE INDEX calls_of_run ON calls (run_id);
