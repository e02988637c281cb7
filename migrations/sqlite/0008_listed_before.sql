-- HEAD after listing, counted honestly (issue 24 item 3). Per call about one S3 object
-- (HeadObject): 1 when an earlier S3 listing in the run returned its key, 0 when none did, NULL
-- for other calls and for runs recorded before. Keys are never stored: the proxy compares
-- 64-bit hashes in memory. By operation and resource: how many first attempts were of listed
-- keys, and what they cost (what reading the listing instead would save).
ALTER TABLE calls ADD COLUMN listed_before INTEGER;
ALTER TABLE resource_totals ADD COLUMN listed_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN listed_before_usd TEXT NOT NULL DEFAULT '0';
