-- Call sites and tests interned (issue 21 item 7), as SQLite's 0013: each distinct label stored
-- once per run in `call_labels`, numbered per run in the order the run first named them; a call
-- keeps the numbers. No foreign key from `calls` (see 0006: a check per call written).
CREATE TABLE call_labels (
    run_id   BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    label_id BIGINT NOT NULL,
    kind     TEXT   NOT NULL,                        -- callsite | test
    text     TEXT   NOT NULL,
    PRIMARY KEY (run_id, label_id),
    UNIQUE (run_id, kind, text)
);

ALTER TABLE calls ADD COLUMN callsite_label BIGINT, ADD COLUMN test_label BIGINT;

-- The labels calls recorded before named, numbered per run in the order of their first call.
INSERT INTO call_labels (run_id, label_id, kind, text)
SELECT run_id, row_number() OVER (PARTITION BY run_id ORDER BY first_id, kind), kind, text
FROM (SELECT run_id, kind, text, min(id) AS first_id
      FROM (SELECT run_id, 'callsite' AS kind, callsite AS text, id FROM calls
            WHERE callsite IS NOT NULL
            UNION ALL
            SELECT run_id, 'test', test, id FROM calls WHERE test IS NOT NULL) AS named
      GROUP BY run_id, kind, text) AS labels;

UPDATE calls SET
    callsite_label = (SELECT label_id FROM call_labels l
                      WHERE l.run_id = calls.run_id AND l.kind = 'callsite'
                        AND l.text = calls.callsite),
    test_label = (SELECT label_id FROM call_labels l
                  WHERE l.run_id = calls.run_id AND l.kind = 'test' AND l.text = calls.test)
WHERE callsite IS NOT NULL OR test IS NOT NULL;

-- No index uses them (calls_s3_object_writes does not).
ALTER TABLE calls DROP COLUMN callsite, DROP COLUMN test;
