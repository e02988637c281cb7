-- tollgate's history in PostgreSQL: the same tables as SQLite's (migrations/sqlite/, up to its
-- 0006) in one step, so that one reader (src/store/sql/read.rs) serves both. Times are
-- microseconds since the Unix epoch; money is exact NUMERIC (USD), never floating point.
-- Nothing secret is stored: no credentials, signatures, parameter values or bodies.
-- Keys use '' and 0 for "none", as in SQLite, so that upserts have keys that conflict.

CREATE TABLE runs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid             TEXT    NOT NULL UNIQUE,        -- the run's identity across machines
    kind             TEXT    NOT NULL,               -- run | serve
    state            TEXT    NOT NULL,               -- running | complete | incomplete
    started_at_us    BIGINT  NOT NULL,
    ended_at_us      BIGINT,
    exit_code        BIGINT,
    command          TEXT,                           -- JSON array of arguments
    cwd              TEXT,
    git_repo         TEXT,
    git_branch       TEXT,
    git_commit       TEXT,
    ci_provider      TEXT,
    ci_job           TEXT,
    ci_ref           TEXT,
    ci_pr            TEXT,
    tollgate_version TEXT    NOT NULL,
    pricing_version  TEXT    NOT NULL,
    model_version    TEXT    NOT NULL,
    hostname         TEXT,
    pid              BIGINT,
    lost_calls       BIGINT  NOT NULL DEFAULT 0,     -- calls that could not be recorded
    lost_reason      TEXT,
    totals           BIGINT  NOT NULL DEFAULT 1      -- 1: the writer keeps the run's totals (as SQLite)
);

CREATE INDEX runs_by_start ON runs (started_at_us);

CREATE TABLE run_tags (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT   NOT NULL,
    value  TEXT   NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE calls (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq              BIGINT  NOT NULL,
    started_at_us    BIGINT  NOT NULL,
    duration_us      BIGINT  NOT NULL,
    kind             TEXT    NOT NULL,               -- operation | unknown | not-aws | not-in-model
    service          TEXT    NOT NULL,
    operation        TEXT    NOT NULL,
    region           TEXT,
    host             TEXT    NOT NULL,
    access_key       TEXT,                           -- a fingerprint, never the key id
    sdk              TEXT,
    app_id           TEXT,
    status           BIGINT,                         -- NULL: no response from upstream
    error_code       TEXT,
    throttled        BOOLEAN NOT NULL,
    upstream_failure TEXT,
    attempt          BIGINT,
    invocation_id    TEXT,
    bytes_sent       BIGINT  NOT NULL,
    bytes_received   BIGINT  NOT NULL,
    price_status     TEXT    NOT NULL,
    cost_usd         NUMERIC NOT NULL,
    transfer_usd     NUMERIC NOT NULL,
    implied_usd      NUMERIC NOT NULL,
    units            TEXT,                           -- JSON {unit: quantity}
    estimated        TEXT,
    loop_id          BIGINT,
    fingerprint      TEXT,
    resource         TEXT,
    client_pid       BIGINT,
    client_command   TEXT
);

-- A run's calls, in order; the writer finds a repeated group's first call by its sequence number.
CREATE INDEX calls_of_run ON calls (run_id, seq);

CREATE TABLE loops (
    run_id        BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    loop_id       BIGINT  NOT NULL,
    service       TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    resource      TEXT,
    access_key    TEXT,
    listing       TEXT    NOT NULL,
    started_at_us BIGINT  NOT NULL,
    ended_at_us   BIGINT  NOT NULL,
    pages         BIGINT  NOT NULL,
    attempts      BIGINT  NOT NULL,
    items         BIGINT,
    items_unknown TEXT,
    page_size     BIGINT,
    page_size_max BIGINT,
    complete      BOOLEAN NOT NULL,
    resumed       BOOLEAN NOT NULL,
    relisting     BOOLEAN NOT NULL,
    cost_usd      NUMERIC NOT NULL,
    transfer_usd  NUMERIC NOT NULL DEFAULT 0,
    implied_usd   NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, loop_id)
);

CREATE TABLE operation_totals (
    run_id         BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    calls          BIGINT  NOT NULL,
    retries        BIGINT  NOT NULL,
    errors         BIGINT  NOT NULL,
    throttled      BIGINT  NOT NULL,
    bytes_sent     BIGINT  NOT NULL,
    bytes_received BIGINT  NOT NULL,
    cost_usd       NUMERIC NOT NULL,
    transfer_usd   NUMERIC NOT NULL,
    implied_usd    NUMERIC NOT NULL,
    priced         BIGINT  NOT NULL,
    free           BIGINT  NOT NULL,
    not_billed     BIGINT  NOT NULL,
    unpriced       BIGINT  NOT NULL,
    estimated      BIGINT  NOT NULL,
    first_us       BIGINT  NOT NULL,
    last_us        BIGINT  NOT NULL,
    latency_max_us BIGINT  NOT NULL DEFAULT 0,
    not_in_model   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, service, operation)
);

CREATE TABLE operation_units (
    run_id    BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service   TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    unit      TEXT    NOT NULL,
    quantity  NUMERIC NOT NULL,
    PRIMARY KEY (run_id, service, operation, unit)
);

CREATE TABLE operation_latency (
    run_id    BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service   TEXT   NOT NULL,
    operation TEXT   NOT NULL,
    bucket_us BIGINT NOT NULL,
    calls     BIGINT NOT NULL,
    PRIMARY KEY (run_id, service, operation, bucket_us)
);

CREATE TABLE failure_totals (
    run_id     BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service    TEXT    NOT NULL,
    operation  TEXT    NOT NULL,
    status     BIGINT  NOT NULL,                     -- 0: no response
    error_code TEXT    NOT NULL,                     -- '': none
    throttled  BOOLEAN NOT NULL,
    calls      BIGINT  NOT NULL,
    priced     BIGINT  NOT NULL,
    cost_usd   NUMERIC NOT NULL,
    first_us   BIGINT  NOT NULL,
    last_us    BIGINT  NOT NULL,
    PRIMARY KEY (run_id, service, operation, status, error_code, throttled)
);

CREATE TABLE region_totals (
    run_id   BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service  TEXT    NOT NULL,
    region   TEXT    NOT NULL,                       -- '': none
    calls    BIGINT  NOT NULL,
    cost_usd NUMERIC NOT NULL,
    PRIMARY KEY (run_id, service, region)
);

CREATE TABLE resource_totals (
    run_id         BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    resource       TEXT    NOT NULL,                 -- '': none
    first_attempts BIGINT  NOT NULL,
    first_cost_usd NUMERIC NOT NULL,
    first_us       BIGINT  NOT NULL,
    last_us        BIGINT  NOT NULL,
    implied_calls  BIGINT  NOT NULL,
    implied_usd    NUMERIC NOT NULL,
    PRIMARY KEY (run_id, service, operation, resource)
);

-- Groups of identical calls that repeated in a run (a group seen once stays in the writer's
-- memory until it repeats, as in SQLite: src/store/digest_book.rs).
CREATE TABLE digest_totals (
    run_id         BIGINT           NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    digest         BIGINT           NOT NULL,
    service        TEXT             NOT NULL,
    operation      TEXT             NOT NULL,
    fingerprint    TEXT             NOT NULL,
    resource       TEXT,
    calls          BIGINT           NOT NULL,
    cost_usd       NUMERIC          NOT NULL,
    first_us       BIGINT           NOT NULL,
    last_us        BIGINT           NOT NULL,
    latest_us      BIGINT           NOT NULL,
    batch_first_us BIGINT           NOT NULL,
    gap_sq_sum     DOUBLE PRECISION NOT NULL,        -- µs², a statistic, not money
    examples       TEXT             NOT NULL,
    PRIMARY KEY (run_id, digest)
);

CREATE TABLE timeline_totals (
    run_id   BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    width_us BIGINT  NOT NULL,
    slot     BIGINT  NOT NULL,
    calls    BIGINT  NOT NULL,
    cost_usd NUMERIC NOT NULL,
    PRIMARY KEY (run_id, width_us, slot)
);
