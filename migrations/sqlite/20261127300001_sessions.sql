-- Sessions: a refresh-token family is a session. It records when it began, when it was last used (login or
-- refresh), when its newest token expires, and the client it was last used from (IP, user agent). Families from
-- before this migration began and were last used "now"; their client is unknown. Microseconds since the epoch.
ALTER TABLE refresh_families ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN ip TEXT;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
UPDATE refresh_families
   SET created_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER),
       last_used_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER),
       expires_at = COALESCE((SELECT max(t.expires_at) FROM refresh_tokens t WHERE t.family_id = refresh_families.id), 0);
