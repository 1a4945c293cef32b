-- Sessions: a refresh-token family is a session. It records when it began, when it was last used (login or
-- refresh), when its newest token expires, and the client it was last used from (IP, user agent). Families from
-- before this migration began and were last used "now"; their client is unknown.
ALTER TABLE refresh_families ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE refresh_families ADD COLUMN last_used_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE refresh_families ADD COLUMN expires_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE refresh_families ADD COLUMN ip TEXT;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
UPDATE refresh_families f
   SET expires_at = COALESCE((SELECT max(t.expires_at) FROM refresh_tokens t WHERE t.family_id = f.id), f.expires_at);
ALTER TABLE refresh_families ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE refresh_families ALTER COLUMN last_used_at DROP DEFAULT;
ALTER TABLE refresh_families ALTER COLUMN expires_at DROP DEFAULT;
