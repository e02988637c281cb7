-- The slowest call of each operation, exactly: a percentile read from the latency buckets is
-- never shown above it (a bucket's upper end can be). 0 for runs recorded before.
ALTER TABLE operation_totals ADD COLUMN latency_max_us INTEGER NOT NULL DEFAULT 0;
