-- As migrations/sqlite/0008_listed_before.sql: whether a HeadObject's key was returned by an
-- earlier S3 listing in the run (NULL for other calls and older runs), the messages or records
-- a receive returned, and by operation and resource, the first attempts of listed keys and the
-- empty receives, with their cost. Keys are never stored.
ALTER TABLE calls ADD COLUMN listed_before BOOLEAN;
ALTER TABLE resource_totals ADD COLUMN listed_before BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN listed_before_usd NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN received BIGINT;
ALTER TABLE resource_totals ADD COLUMN empty_receives BIGINT NOT NULL DEFAULT 0;
ALTER TABLE resource_totals ADD COLUMN empty_receives_usd NUMERIC NOT NULL DEFAULT 0;
