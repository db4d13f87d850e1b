-- Clinician review: accounts, sessions, rubrics, the review queue, leases,
-- drafts, submitted review versions and adjudications. Every state change
-- here (drafts and leases aside) commits together with its ledger event.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    pseudonym     TEXT NOT NULL UNIQUE,   -- what the ledger and researchers see, e.g. R-3f9a2c
    role          TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'adjudicator', 'auditor', 'researcher')),
    specialties   TEXT NOT NULL,          -- JSON array; empty = every specialty
    password_hash TEXT NOT NULL,          -- argon2id PHC string
    disabled      INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER NOT NULL DEFAULT 0,  -- unix seconds
    created       TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,          -- SHA-256 of the cookie's token; the token itself is never stored
    user_id    INTEGER NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    expires    INTEGER NOT NULL           -- unix seconds
) WITHOUT ROWID;

CREATE TABLE rubrics (
    key     TEXT PRIMARY KEY,             -- id@version
    digest  TEXT NOT NULL,
    source  TEXT NOT NULL,
    leaf    INTEGER NOT NULL,             -- the rubric.registered event
    created TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE review_queue (
    trace_id  TEXT PRIMARY KEY,
    specialty TEXT NOT NULL,
    rubric    TEXT NOT NULL,
    required  INTEGER NOT NULL,           -- reviewers per trace
    submitted INTEGER NOT NULL DEFAULT 0, -- distinct reviewers who submitted
    state     TEXT NOT NULL CHECK (state IN ('open', 'complete', 'adjudication', 'adjudicated')),
    reasons   TEXT,                       -- JSON: why it went to adjudication
    seq       INTEGER NOT NULL            -- queue order
) WITHOUT ROWID;
CREATE INDEX review_queue_by_state ON review_queue (state, specialty, seq);

CREATE TABLE assignments (
    trace_id     TEXT NOT NULL,
    user_id      INTEGER NOT NULL,
    leased_until INTEGER NOT NULL,        -- unix seconds; ignored once submitted
    submitted    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (trace_id, user_id)
) WITHOUT ROWID;
CREATE INDEX assignments_by_user ON assignments (user_id, submitted);

CREATE TABLE drafts (
    trace_id TEXT NOT NULL,
    user_id  INTEGER NOT NULL,
    body     TEXT NOT NULL,               -- JSON ReviewBody, possibly incomplete
    revision INTEGER NOT NULL,            -- bumps on each save; stale saves are refused
    updated  TEXT NOT NULL,
    PRIMARY KEY (trace_id, user_id)
) WITHOUT ROWID;

CREATE TABLE reviews (
    id          TEXT PRIMARY KEY,         -- <trace>#<pseudonym>#v<version>
    trace_id    TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    rubric      TEXT NOT NULL,
    body        TEXT NOT NULL,            -- JSON ReviewBody (also committed content of the event)
    commitment  BLOB NOT NULL,
    leaf        INTEGER NOT NULL,         -- the review.submitted event
    edit_leaves TEXT NOT NULL,            -- JSON array of step.edited leaves
    submitted   TEXT NOT NULL,
    UNIQUE (trace_id, user_id, version)
) WITHOUT ROWID;
CREATE INDEX reviews_by_trace ON reviews (trace_id, user_id, version);
CREATE INDEX reviews_by_user ON reviews (user_id);

CREATE TABLE adjudications (
    trace_id  TEXT NOT NULL,
    version   INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    chosen    TEXT NOT NULL,              -- the review id that stands
    rationale TEXT NOT NULL,
    leaf      INTEGER NOT NULL,           -- the adjudication.decided event
    decided   TEXT NOT NULL,
    PRIMARY KEY (trace_id, version)
) WITHOUT ROWID;
