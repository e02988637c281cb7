-- Call sites (issue 21), as SQLite's 0007: the line of the client's program that made each call
-- and the test that was running. Labels only; NULL when the client said nothing.
ALTER TABLE calls ADD COLUMN callsite TEXT;
ALTER TABLE calls ADD COLUMN test TEXT;
