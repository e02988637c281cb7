-- The data stack's HEAD-then-GET and overlapping ranges (issue 24 item 4).
--
-- Per S3 GetObject: 1 when it came after a HEAD of the same object in the run that no listing
-- had named and no other GET had answered (the HEAD it makes unneeded), 0 when not, NULL for
-- other calls and older runs; and how many of the bytes it received earlier GETs of the same
-- object (same ETag) had received by other requests (NULL where not known). Keys and ranges are
-- never stored: the proxy compares 64-bit hashes and byte spans in memory, for the run.
-- By operation and resource: the GETs that answered a HEAD; the bytes received again and their
-- share of the data transfer; the first attempts all of whose bytes had been received before,
-- and their own cost.
ALTER TABLE calls ADD COLUMN after_head INTEGER;
ALTER TABLE calls ADD COLUMN refetched_bytes INTEGER;
ALTER TABLE resource_totals ADD COLUMN after_head INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_usd TEXT NOT NULL DEFAULT '0';
ALTER TABLE resource_totals ADD COLUMN refetched_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN refetched_calls_usd TEXT NOT NULL DEFAULT '0';
