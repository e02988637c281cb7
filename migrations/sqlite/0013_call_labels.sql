-- Call sites and tests interned (issue 21 item 7): a run of a million calls from one loop named
-- the same call site (`sync.py:42 copy_all`, up to 512 bytes) and test a million times, in every
-- row of `calls`. Each distinct label is now stored once per run, and a call keeps its number.
-- Numbered per run (1, 2, ... in the order the run first named them), so that a run's rows mean
-- the same wherever `push` copies them, and go with the run when it is pruned. No foreign key
-- from `calls`: checking one costs a lookup per call written, and only the run's own writer
-- numbers its labels, inserting each in the transaction of the batch that first names it.
CREATE TABLE call_labels (
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    label_id INTEGER NOT NULL,
    kind     TEXT    NOT NULL,                       -- callsite | test
    text     TEXT    NOT NULL,
    PRIMARY KEY (run_id, label_id),
    UNIQUE (run_id, kind, text)
) WITHOUT ROWID;

ALTER TABLE calls ADD COLUMN callsite_label INTEGER;
ALTER TABLE calls ADD COLUMN test_label INTEGER;

-- The labels calls recorded before named, numbered per run in the order of their first call.
INSERT INTO call_labels (run_id, label_id, kind, text)
SELECT run_id, row_number() OVER (PARTITION BY run_id ORDER BY first_id, kind), kind, text
FROM (SELECT run_id, kind, text, min(id) AS first_id
      FROM (SELECT run_id, 'callsite' AS kind, callsite AS text, id FROM calls
            WHERE callsite IS NOT NULL
            UNION ALL
            SELECT run_id, 'test', test, id FROM calls WHERE test IS NOT NULL)
      GROUP BY run_id, kind, text);

UPDATE calls SET
    callsite_label = (SELECT label_id FROM call_labels l
                      WHERE l.run_id = calls.run_id AND l.kind = 'callsite'
                        AND l.text = calls.callsite),
    test_label = (SELECT label_id FROM call_labels l
                  WHERE l.run_id = calls.run_id AND l.kind = 'test' AND l.text = calls.test)
WHERE callsite IS NOT NULL OR test IS NOT NULL;

-- No index, view or trigger uses them (calls_s3_object_writes does not).
ALTER TABLE calls DROP COLUMN callsite;
ALTER TABLE calls DROP COLUMN test;
