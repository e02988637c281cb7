-- tollgate's history: runs, the calls they made, and the paginator loops those calls formed.
-- Portable SQL (INTEGER, TEXT): the same schema is meant for PostgreSQL through sqlx.
-- Times are microseconds since the Unix epoch; money is exact decimal text (USD), never REAL.
-- Nothing secret is stored: no credentials, signatures, parameter values or bodies.

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    uuid             TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,              -- run | serve
    state            TEXT    NOT NULL,              -- running | complete | incomplete
    started_at_us    INTEGER NOT NULL,
    ended_at_us      INTEGER,
    exit_code        INTEGER,
    command          TEXT,                          -- JSON array of arguments
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
    pid              INTEGER,
    lost_calls       INTEGER NOT NULL DEFAULT 0,    -- calls that could not be recorded
    lost_reason      TEXT
);

CREATE TABLE run_tags (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,              -- the proxy's exchange number in the run
    started_at_us    INTEGER NOT NULL,
    duration_us      INTEGER NOT NULL,
    kind             TEXT    NOT NULL,              -- operation | unknown | not-aws
    service          TEXT    NOT NULL,
    operation        TEXT    NOT NULL,
    region           TEXT,
    host             TEXT    NOT NULL,
    access_key       TEXT,                          -- a fingerprint, never the key id
    sdk              TEXT,
    app_id           TEXT,
    status           INTEGER,                       -- NULL: no response from upstream
    error_code       TEXT,
    throttled        INTEGER NOT NULL,
    upstream_failure TEXT,
    attempt          INTEGER,
    invocation_id    TEXT,
    bytes_sent       INTEGER NOT NULL,
    bytes_received   INTEGER NOT NULL,
    price_status     TEXT    NOT NULL,              -- priced | free | not_billed | unpriced
    cost_usd         TEXT    NOT NULL,              -- the call's own charge
    transfer_usd     TEXT    NOT NULL,              -- data transfer out
    implied_usd      TEXT    NOT NULL,              -- KMS behind SSE-KMS, CloudTrail data events
    units            TEXT,                          -- JSON {unit: quantity}
    estimated        TEXT,                          -- why the cost is an estimate
    loop_id          INTEGER,
    fingerprint      TEXT,                          -- digest of the parameters
    resource         TEXT,
    client_pid       INTEGER,
    client_command   TEXT
);

CREATE INDEX calls_by_run ON calls (run_id, service, operation);

CREATE TABLE loops (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    loop_id       INTEGER NOT NULL,
    service       TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    resource      TEXT,
    access_key    TEXT,
    listing       TEXT    NOT NULL,                 -- digest of the non-token parameters
    started_at_us INTEGER NOT NULL,
    ended_at_us   INTEGER NOT NULL,
    pages         INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    items         INTEGER,
    page_size     INTEGER,
    page_size_max INTEGER,
    complete      INTEGER NOT NULL,                 -- reached the last page
    resumed       INTEGER NOT NULL,                 -- first page seen carried a token
    relisting     INTEGER NOT NULL,                 -- the same listing was read before
    cost_usd      TEXT    NOT NULL,
    PRIMARY KEY (run_id, loop_id)
);
