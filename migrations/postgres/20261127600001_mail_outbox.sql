-- Mail (docs/api.md §7): the outbox keeps each mail's intent (user, kind, address) until a sender has sent it or
-- given up (next_attempt_at NULL; kept a while to count mails per address); tokens are stored only hashed, with the
-- address they were sent to.
CREATE TABLE mail_outbox (
    id              BIGSERIAL   PRIMARY KEY,
    user_id         BIGINT      NOT NULL,
    kind            TEXT        NOT NULL,
    address         TEXT        NOT NULL,
    attempts        BIGINT      NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX mail_outbox_address_idx ON mail_outbox (address, created_at);

CREATE TABLE mail_tokens (
    token_hash TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT        NOT NULL,
    address    TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mail_tokens_user_idx ON mail_tokens (user_id);
CREATE INDEX mail_tokens_expires_idx ON mail_tokens (expires_at);
