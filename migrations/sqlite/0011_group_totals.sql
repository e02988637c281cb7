-- Calls by who made them (issue 21), kept by the writer as the other totals are, so that a
-- report groups a million calls by call site, test, SDK, app id or command by reading a few
-- rows instead of every call. One row per run, grouped_by, key ('': the calls that named none),
-- operation and, for call sites only, resource ('' otherwise). Money is exact decimal text.
CREATE TABLE group_totals (
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    grouped_by  TEXT    NOT NULL,                   -- callsite | test | sdk | app | command
    group_key TEXT    NOT NULL,                   -- '': none
    service   TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    resource  TEXT    NOT NULL,                   -- '': none, or not kept for this grouped_by
    attempts  INTEGER NOT NULL,
    retries   INTEGER NOT NULL,
    errors    INTEGER NOT NULL,
    total_usd TEXT    NOT NULL,                   -- own charge, transfer and implied costs
    PRIMARY KEY (run_id, grouped_by, group_key, service, operation, resource)
) WITHOUT ROWID;

-- The line that asked for a loop's first page.
ALTER TABLE loops ADD COLUMN callsite TEXT;

-- The runs recorded before: their groups from their calls, summed exactly (dec_sum). Runs
-- without totals at all (totals = 0) get these with the rest of their totals when opened.
INSERT INTO group_totals
SELECT c.run_id, g.grouped_by,
       coalesce(CASE g.grouped_by WHEN 'callsite' THEN c.callsite WHEN 'test' THEN c.test
                                WHEN 'sdk' THEN c.sdk WHEN 'app' THEN c.app_id
                                ELSE c.client_command END, ''),
       c.service, c.operation,
       CASE g.grouped_by WHEN 'callsite' THEN coalesce(c.resource, '') ELSE '' END,
       count(*),
       sum(coalesce(c.attempt, 1) > 1),
       sum(c.status IS NULL OR c.status >= 400 OR c.error_code IS NOT NULL),
       dec_sum(dec_add(dec_add(c.cost_usd, c.transfer_usd), c.implied_usd))
FROM calls c
JOIN runs r ON r.id = c.run_id AND r.totals = 1
CROSS JOIN (SELECT 'callsite' AS grouped_by UNION ALL SELECT 'test' UNION ALL SELECT 'sdk'
            UNION ALL SELECT 'app' UNION ALL SELECT 'command') g
GROUP BY 1, 2, 3, 4, 5, 6;

UPDATE loops SET callsite = first.callsite
FROM (SELECT run_id, loop_id, callsite, min(started_at_us)
      FROM calls WHERE loop_id IS NOT NULL AND callsite IS NOT NULL
      GROUP BY run_id, loop_id) AS first
WHERE loops.run_id = first.run_id AND loops.loop_id = first.loop_id;

-- The S3 object writes and multipart calls, read from this index alone (the relisting and
-- small-multipart findings need them; reading them from the calls took a million-call report a
-- second more). Partial: kept only for those calls, and covering: it holds every column the
-- store's query asks for. The list is `record::S3_OBJECT_WRITES`, in its order; the query
-- repeats it word for word, as SQLite needs to use the index.
CREATE INDEX calls_s3_object_writes ON calls (run_id, started_at_us, operation, resource,
                                              status, error_code, attempt, bytes_sent, cost_usd)
    WHERE service = 's3' AND operation IN ('PutObject', 'CopyObject', 'DeleteObject', 'DeleteObjects', 'RestoreObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload');
