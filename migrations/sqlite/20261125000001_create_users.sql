-- Users. Case-insensitive uniqueness and filtering compare the lower-cased columns, which the application fills
-- (Rust's lower-casing, the same for every backend). AUTOINCREMENT: an id is never reused after a delete.
-- Timestamps are microseconds since the Unix epoch.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    username_lower TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    name           TEXT,
    name_lower     TEXT,
    age            INTEGER CHECK (age BETWEEN 1 AND 150),
    role           TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE UNIQUE INDEX users_username_lower_key ON users (username_lower);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_role_idx ON users (role, id);
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_updated_at_idx ON users (updated_at, id);
