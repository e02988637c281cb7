-- Call sites (issue 21): the line of the client's program that made each call
-- (`sync.py:42 copy_all`, from the `x-tollgate-callsite` header) and the test that was running
-- (`tests/t.py::test_a`, from `x-tollgate-test`). Labels only, at most 512 bytes each; NULL when
-- the client said nothing, and for calls recorded before.
ALTER TABLE calls ADD COLUMN callsite TEXT;
ALTER TABLE calls ADD COLUMN test TEXT;
