-- Calls by who made them, kept by the writer as the other totals are (as SQLite's 0011): a
-- report groups a million calls by call site, test, SDK, app id or command by reading a few
-- rows. Key '' for the calls that named none; resource '' except for call sites.
CREATE TABLE group_totals (
    run_id    BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    grouped_by  TEXT    NOT NULL,
    group_key TEXT    NOT NULL,
    service   TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    resource  TEXT    NOT NULL,
    attempts  BIGINT  NOT NULL,
    retries   BIGINT  NOT NULL,
    errors    BIGINT  NOT NULL,
    total_usd NUMERIC NOT NULL,
    PRIMARY KEY (run_id, grouped_by, group_key, service, operation, resource)
);

ALTER TABLE loops ADD COLUMN callsite TEXT;

INSERT INTO group_totals
SELECT c.run_id, g.grouped_by,
       coalesce(CASE g.grouped_by WHEN 'callsite' THEN c.callsite WHEN 'test' THEN c.test
                                WHEN 'sdk' THEN c.sdk WHEN 'app' THEN c.app_id
                                ELSE c.client_command END, ''),
       c.service, c.operation,
       CASE g.grouped_by WHEN 'callsite' THEN coalesce(c.resource, '') ELSE '' END,
       count(*),
       count(*) FILTER (WHERE coalesce(c.attempt, 1) > 1),
       count(*) FILTER (WHERE c.status IS NULL OR c.status >= 400 OR c.error_code IS NOT NULL),
       sum(c.cost_usd + c.transfer_usd + c.implied_usd)
FROM calls c
CROSS JOIN (VALUES ('callsite'), ('test'), ('sdk'), ('app'), ('command')) AS g (grouped_by)
GROUP BY 1, 2, 3, 4, 5, 6;

UPDATE loops SET callsite = first.callsite
FROM (SELECT DISTINCT ON (run_id, loop_id) run_id, loop_id, callsite
      FROM calls WHERE loop_id IS NOT NULL AND callsite IS NOT NULL
      ORDER BY run_id, loop_id, started_at_us) AS first
WHERE loops.run_id = first.run_id AND loops.loop_id = first.loop_id;

-- The S3 object writes and multipart calls, read from this index alone (the relisting and
-- small-multipart findings need them; reading them from the calls took a million-call report a
-- second more). Partial: kept only for those calls, and covering: it holds every column the
-- store's query asks for. The list is `record::S3_OBJECT_WRITES`, in its order; the query
-- repeats it word for word, as SQLite needs to use the index.
CREATE INDEX calls_s3_object_writes ON calls (run_id, started_at_us, operation, resource,
                                              status, error_code, attempt, bytes_sent, cost_usd)
    WHERE service = 's3' AND operation IN ('PutObject', 'CopyObject', 'DeleteObject', 'DeleteObjects', 'RestoreObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload');
