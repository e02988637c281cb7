-- Findings whose savings are true (issue 24 item 3, issue 20 item 5).
--
-- HEAD after listing, counted honestly: per call about one S3 object (HeadObject), 1 when an
-- earlier S3 listing in the run returned its key, 0 when none did, NULL for other calls and
-- for runs recorded before. Keys are never stored: the proxy compares 64-bit hashes in memory.
-- By operation and resource: how many first attempts were of listed keys, and what they cost
-- (what reading the listing instead would save).
ALTER TABLE calls ADD COLUMN listed_before INTEGER;
ALTER TABLE resource_totals ADD COLUMN listed_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN listed_before_usd TEXT NOT NULL DEFAULT '0';
-- Receives and polls (SQS ReceiveMessage, Kinesis GetRecords): the messages or records a call
-- returned (NULL for other calls, or where they could not be counted), and by operation and
-- resource the first attempts that returned none, and their cost.
ALTER TABLE calls ADD COLUMN received INTEGER;
ALTER TABLE resource_totals ADD COLUMN empty_receives INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN empty_receives_usd TEXT NOT NULL DEFAULT '0';
