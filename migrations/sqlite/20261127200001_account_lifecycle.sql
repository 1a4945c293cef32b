-- Account lifecycle: a status (existing users are active), the end of a ban (null: until an admin re-enables),
-- whether the email is verified, and the last successful login. A ban with an end lifts itself: reads compare
-- disabled_until with the time, nothing rewrites the row. Disabled rows are few: a partial index counts and
-- lists them without touching the others (the active count is the total less them).
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled'));
ALTER TABLE users ADD COLUMN disabled_until INTEGER CHECK (disabled_until IS NULL OR status = 'disabled');
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
ALTER TABLE users ADD COLUMN last_login_at INTEGER;

CREATE INDEX users_disabled_idx ON users (id, disabled_until) WHERE status = 'disabled';
