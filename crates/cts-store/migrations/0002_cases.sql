-- Clinical cases. The case text lives in `content` (erasable); this table
-- holds what is needed to find and version it.
CREATE TABLE cases (
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    digest     BLOB NOT NULL,      -- SHA-256 of the case's canonical JSON
    specialty  TEXT NOT NULL,
    tags       TEXT NOT NULL,      -- JSON array
    commitment BLOB NOT NULL,      -- content commitment of the case JSON
    leaf       INTEGER NOT NULL,   -- the case.imported event
    PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE INDEX cases_by_specialty ON cases (specialty);
