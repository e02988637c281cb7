-- As migrations/sqlite/0012_head_then_get_and_ranges.sql: per S3 GetObject, whether it
-- answered an earlier HEAD of its object, and the bytes earlier GETs of the object had already
-- received; by operation and resource, their sums. Keys and ranges are never stored.
ALTER TABLE calls ADD COLUMN after_head BOOLEAN;
ALTER TABLE calls ADD COLUMN refetched_bytes BIGINT;
ALTER TABLE resource_totals ADD COLUMN after_head BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_usd NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_calls BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_calls_usd NUMERIC NOT NULL DEFAULT 0;
