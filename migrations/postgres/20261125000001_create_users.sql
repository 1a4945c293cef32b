-- Users. Case-insensitive uniqueness and filtering compare the lower-cased columns, which the application fills
-- (Rust's lower-casing, the same for every backend). An identity column never reuses an id. Text that is sorted
-- uses the "C" collation: byte order, the same as the other backends.
CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       TEXT        NOT NULL,
    username_lower TEXT        NOT NULL COLLATE "C",
    email          TEXT        NOT NULL COLLATE "C",
    name           TEXT,
    name_lower     TEXT,
    age            SMALLINT    CHECK (age BETWEEN 1 AND 150),
    role           TEXT        NOT NULL CHECK (role IN ('user', 'admin')),
    password_hash  TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX users_username_lower_key ON users (username_lower);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_role_idx ON users (role, id);
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_updated_at_idx ON users (updated_at, id);
