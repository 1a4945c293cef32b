-- Listing at a million users (docs/api.md §3): every sort order served by an index, counts kept by triggers, and
-- a trigram index for q.

-- A descending timestamp with ties by id ascending is an order of its own: an index for each.
CREATE INDEX users_created_at_desc_idx ON users (created_at DESC, id ASC);
CREATE INDEX users_updated_at_desc_idx ON users (updated_at DESC, id ASC);

-- Counts of users per role, moved in the same transaction as every insert, delete and role change (whoever writes:
-- the service, an import, an operator's SQL), so a listing's total needs no scan. The slots are PostgreSQL's (for
-- concurrent writers); SQLite has one writer at a time and uses slot 0.
CREATE TABLE user_counts (
    role  TEXT    NOT NULL,
    slot  INTEGER NOT NULL,
    users INTEGER NOT NULL,
    PRIMARY KEY (role, slot)
) WITHOUT ROWID;
INSERT INTO user_counts (role, slot, users)
SELECT role, 0, (SELECT count(*) FROM users WHERE users.role = roles.role)
  FROM (SELECT 'user' AS role UNION ALL SELECT 'admin') AS roles;

CREATE TRIGGER users_counted_insert AFTER INSERT ON users BEGIN
    UPDATE user_counts SET users = users + 1 WHERE role = NEW.role AND slot = 0;
END;
CREATE TRIGGER users_counted_delete AFTER DELETE ON users BEGIN
    UPDATE user_counts SET users = users - 1 WHERE role = OLD.role AND slot = 0;
END;
CREATE TRIGGER users_counted_role_change AFTER UPDATE OF role ON users WHEN OLD.role IS NOT NEW.role BEGIN
    UPDATE user_counts SET users = users - 1 WHERE role = OLD.role AND slot = 0;
    UPDATE user_counts SET users = users + 1 WHERE role = NEW.role AND slot = 0;
END;

-- q: an FTS5 index with the trigram tokenizer over the folded columns, case-sensitive (they are folded already,
-- the Rust way; FTS5's own folding would map e.g. KELVIN SIGN to k). It only narrows a substring of 3 characters
-- or more to candidates; the LIKEs decide. External content: the rows stay in users, the triggers keep the index.
CREATE VIRTUAL TABLE users_search USING fts5(
    username_lower, email, name_lower, content = 'users', content_rowid = 'id', tokenize = 'trigram case_sensitive 1'
);
INSERT INTO users_search (users_search) VALUES ('rebuild');

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, username_lower, email, name_lower)
    VALUES (NEW.id, NEW.username_lower, NEW.email, NEW.name_lower);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username_lower, email, name_lower)
    VALUES ('delete', OLD.id, OLD.username_lower, OLD.email, OLD.name_lower);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF username_lower, email, name_lower ON users
WHEN OLD.username_lower IS NOT NEW.username_lower OR OLD.email IS NOT NEW.email
  OR OLD.name_lower IS NOT NEW.name_lower BEGIN
    INSERT INTO users_search (users_search, rowid, username_lower, email, name_lower)
    VALUES ('delete', OLD.id, OLD.username_lower, OLD.email, OLD.name_lower);
    INSERT INTO users_search (rowid, username_lower, email, name_lower)
    VALUES (NEW.id, NEW.username_lower, NEW.email, NEW.name_lower);
END;
