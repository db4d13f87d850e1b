-- The transparency log, stored the way C2SP tlog-tiles serves it.

-- Entry bundles: leaves idx*256 .. idx*256+255, each entry prefixed by its
-- big-endian 16-bit length (C2SP tile/entries/<N>). Every bundle but the
-- last holds 256 entries; the last is rewritten as the log grows.
CREATE TABLE entry_bundles (
    idx     INTEGER PRIMARY KEY,
    entries BLOB NOT NULL
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
