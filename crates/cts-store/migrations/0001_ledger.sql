-- The transparency log: one row per leaf, in leaf order, never updated.
CREATE TABLE events (
    leaf  INTEGER PRIMARY KEY,  -- leaf index, 0-based, contiguous
    kind  TEXT NOT NULL,        -- copy of the entry's kind, for filtering
    entry BLOB NOT NULL         -- canonical entry bytes (RFC 8785 JSON)
);

-- C2SP hash tiles (height 8): level 0 holds leaf hashes. Partial tiles are
-- rewritten as the log grows; every other tree level is rebuilt in memory.
CREATE TABLE tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Content committed to by events, stored beside the log. Erasure sets
-- salt and bytes to NULL and records the content.redacted leaf.
CREATE TABLE content (
    commitment    BLOB PRIMARY KEY,
    leaf          INTEGER NOT NULL,   -- the event that committed to it
    salt          BLOB,
    bytes         BLOB,
    redacted_leaf INTEGER
) WITHOUT ROWID;

-- Every signed checkpoint, oldest first.
CREATE TABLE checkpoints (
    id        INTEGER PRIMARY KEY,
    size      INTEGER NOT NULL,
    root      BLOB NOT NULL,
    note      BLOB NOT NULL,
    signed_at TEXT NOT NULL
);
