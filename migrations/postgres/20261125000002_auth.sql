-- Authentication: a per-user token version (bumped by a password change, ending older access tokens), refresh
-- tokens (stored hashed, in families for reuse detection), and failed logins (for the lockout).
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE refresh_families (
    id         TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT        PRIMARY KEY,
    family_id  TEXT        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE login_failures (
    login_key TEXT        NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_key_idx ON login_failures (login_key, failed_at);
CREATE INDEX login_failures_time_idx ON login_failures (failed_at);
