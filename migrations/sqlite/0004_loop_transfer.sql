-- A loop's cost is defined as an operation's: its requests, the data transfer of its answers and
-- the costs they imply. Requests stay in cost_usd (a small-pages saving counts only those).
-- Loops recorded before this migration have 0 here: their transfer was not kept.
ALTER TABLE loops ADD COLUMN transfer_usd TEXT NOT NULL DEFAULT '0';
ALTER TABLE loops ADD COLUMN implied_usd TEXT NOT NULL DEFAULT '0';
