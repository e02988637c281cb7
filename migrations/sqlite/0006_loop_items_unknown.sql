-- Why a loop's items are unknown (issue 13): an ItemsUnknown code (`compressed`, `cut-short`,
-- `unparseable`, `too-deep`, `no-list`, `beyond-capture`); NULL when they were counted, and for
-- runs recorded before.
ALTER TABLE loops ADD COLUMN items_unknown TEXT;
