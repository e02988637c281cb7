-- The calls table loses its foreign key to runs (issue 16, the writer's throughput): checking
-- it is a lookup in runs for every call written, half the server's time in a batch's COPY. Only
-- a run's own writer inserts its calls, with the id `runs` gave it, and `push` copies a run's
-- row before its calls, in one transaction, so the key never caught anything.
-- Deleting runs (`tollgate prune`) still deletes their calls: one statement-level trigger,
-- instead of the cascade, fired once per DELETE rather than per row written.
ALTER TABLE calls DROP CONSTRAINT calls_run_id_fkey;

CREATE FUNCTION tollgate_delete_calls_of_deleted_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM calls WHERE run_id IN (SELECT id FROM deleted_runs);
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_deleted_delete_their_calls
    AFTER DELETE ON runs
    REFERENCING OLD TABLE AS deleted_runs
    FOR EACH STATEMENT
    EXECUTE FUNCTION tollgate_delete_calls_of_deleted_runs();
