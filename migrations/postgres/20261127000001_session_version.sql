-- A refresh token carries the user's token version its session began at: a password change (which bumps the
-- version in the same write) ends every session begun before it, even one whose login or refresh raced it.
ALTER TABLE refresh_tokens ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
UPDATE refresh_tokens t SET token_version = u.token_version FROM users u WHERE u.id = t.user_id;
