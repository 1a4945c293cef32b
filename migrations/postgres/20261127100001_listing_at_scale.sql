-- Listing at a million users (docs/api.md §3): every sort order served by an index, counts kept by triggers, and
-- trigram indexes for q.

-- A descending timestamp with ties by id ascending is an order of its own: an index for each.
CREATE INDEX users_created_at_desc_idx ON users (created_at DESC, id ASC);
CREATE INDEX users_updated_at_desc_idx ON users (updated_at DESC, id ASC);

-- Counts of users per role, moved in the same transaction as every insert, delete and role change (whoever writes:
-- the service, an import, an operator's SQL), so a listing's total needs no scan. Each role has 16 slots: a
-- writer moves the slot of its own connection, so concurrent writers seldom wait for one another's commit; a
-- count is the sum of the slots.
CREATE TABLE user_counts (
    role  TEXT     NOT NULL,
    slot  SMALLINT NOT NULL,
    users BIGINT   NOT NULL,
    PRIMARY KEY (role, slot)
);

-- Inserts and deletes: once per statement, so a batch moves each counter once. Counters are taken in the order
-- of their role, as every counting write takes them: two writers never wait for each other in a circle.
CREATE FUNCTION users_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved RECORD;
    own_slot SMALLINT := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR moved IN SELECT role, count(*) AS n FROM new_rows GROUP BY role ORDER BY role LOOP
            UPDATE user_counts SET users = users + moved.n WHERE role = moved.role AND slot = own_slot;
        END LOOP;
    ELSE
        FOR moved IN SELECT role, count(*) AS n FROM old_rows GROUP BY role ORDER BY role LOOP
            UPDATE user_counts SET users = users - moved.n WHERE role = moved.role AND slot = own_slot;
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

-- A role change: a row trigger that fires only when the role really changes.
CREATE FUNCTION users_count_role_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    own_slot SMALLINT := pg_backend_pid() % 16;
BEGIN
    IF OLD.role < NEW.role THEN
        UPDATE user_counts SET users = users - 1 WHERE role = OLD.role AND slot = own_slot;
        UPDATE user_counts SET users = users + 1 WHERE role = NEW.role AND slot = own_slot;
    ELSE
        UPDATE user_counts SET users = users + 1 WHERE role = NEW.role AND slot = own_slot;
        UPDATE user_counts SET users = users - 1 WHERE role = OLD.role AND slot = own_slot;
    END IF;
    RETURN NULL;
END $$;

-- The triggers first: they lock the table against writers, so the counts taken below miss no write.
CREATE TRIGGER users_counted_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_rows();
CREATE TRIGGER users_counted_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_rows();
CREATE TRIGGER users_counted_role_change AFTER UPDATE OF role ON users
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role) EXECUTE FUNCTION users_count_role_change();

INSERT INTO user_counts (role, slot, users)
SELECT roles.role, slots.slot,
       CASE WHEN slots.slot = 0 THEN (SELECT count(*) FROM users WHERE users.role = roles.role) ELSE 0 END
  FROM (VALUES ('user'), ('admin')) AS roles (role), generate_series(0, 15) AS slots (slot);

-- q: trigram indexes on the folded columns find the candidates of a substring of 3 characters or more; the
-- LIKEs on those columns decide, so the answer is the Rust folding's (pg_trgm's own case folding only widens the
-- candidates). The extension is the database's, in `public` unless it is there already: a schema per instance
-- (a search_path) shares it, and dropping such a schema leaves it.
DO $$
DECLARE
    home TEXT;
BEGIN
    SELECT n.nspname INTO home FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF home IS NULL THEN
        CREATE EXTENSION pg_trgm WITH SCHEMA public;
        home := 'public';
    END IF;
    EXECUTE format('CREATE INDEX users_username_trgm_idx ON users USING gin (username_lower %I.gin_trgm_ops)', home);
    EXECUTE format('CREATE INDEX users_email_trgm_idx ON users USING gin (email %I.gin_trgm_ops)', home);
    EXECUTE format('CREATE INDEX users_name_trgm_idx ON users USING gin (name_lower %I.gin_trgm_ops)', home);
END $$;
