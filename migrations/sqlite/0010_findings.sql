-- Each run's findings, stored when the run ends (issue 17): what `tollgate report` says of the
-- run alone, kept so that a dashboard can show findings over time without running the rules.
-- One row per finding in the report's order; money is exact decimal text, never floating
-- point. `calls` are the calls the finding looked at; `claimed_calls` and `saving_usd` what it
-- claims to save (NULL when it claims no saving: the detail says why).
CREATE TABLE findings (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,              -- 0: the report's first finding
    finding_id    TEXT    NOT NULL,              -- rule:service:operation[:resource]
    rule          TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    resource      TEXT,
    calls         INTEGER NOT NULL,
    cost_usd      TEXT    NOT NULL,
    claimed_calls INTEGER,
    saving_usd    TEXT,
    PRIMARY KEY (run_id, ordinal)
);
