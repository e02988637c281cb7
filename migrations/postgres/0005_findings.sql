-- Each run's findings, stored when the run ends (issue 17): what `tollgate report` says of the
-- run alone, kept so that a dashboard can show findings over time without running the rules.
-- One row per finding in the report's order; money is exact NUMERIC. `calls` are the calls the
-- finding looked at; `claimed_calls` and `saving_usd` what it claims to save (NULL when it
-- claims no saving: the detail says why).
CREATE TABLE findings (
    run_id        BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ordinal       BIGINT  NOT NULL,
    finding_id    TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    resource      TEXT,
    calls         BIGINT  NOT NULL,
    cost_usd      NUMERIC NOT NULL,
    claimed_calls BIGINT,
    saving_usd    NUMERIC,
    PRIMARY KEY (run_id, ordinal)
);

-- Findings over time for the history dashboard: by rule, per run.
CREATE INDEX findings_by_rule ON findings (rule, run_id);
