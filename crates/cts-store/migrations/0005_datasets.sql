-- Dataset releases, the examples in them, training runs and behaviour
-- policies. Each row is written in the same transaction as its ledger event,
-- except release_examples, which are staged while a release is built and
-- count only once the release's `dataset.released` row exists (a failed
-- build deletes its staged rows).

CREATE TABLE releases (
    build           TEXT PRIMARY KEY,   -- random id chosen when the build started
    name            TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    checkpoint_size INTEGER NOT NULL,   -- the ledger state the release was built from
    examples        INTEGER NOT NULL,
    counts          TEXT NOT NULL,      -- JSON: examples per export and split
    dir             TEXT NOT NULL,      -- where it was written (informational)
    leaf            INTEGER NOT NULL,   -- the dataset.released event
    released        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX releases_by_manifest ON releases (manifest_sha256);

-- A rowid table filled in release order: inserts append, and only the
-- example-id index takes random inserts (the case index grows in case order).
CREATE TABLE release_examples (
    build        TEXT NOT NULL,
    id           TEXT NOT NULL,
    export       TEXT NOT NULL,
    split        TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    case_version INTEGER NOT NULL,
    traces       TEXT NOT NULL,         -- JSON array of trace ids
    reviews      TEXT NOT NULL          -- JSON array of review ids
);
CREATE INDEX release_examples_by_id ON release_examples (id);
CREATE INDEX release_examples_by_case ON release_examples (case_id);

CREATE TABLE training_runs (
    id              TEXT PRIMARY KEY,   -- digest of the run's record
    build           TEXT NOT NULL,      -- the release trained on
    base_model      TEXT NOT NULL,      -- JSON model identity
    output_model    TEXT NOT NULL,      -- JSON model identity
    output_key      TEXT NOT NULL,      -- sha256 of the output weights, or name@revision
    config_sha256   TEXT NOT NULL,
    trainer         TEXT NOT NULL,
    leaf            INTEGER NOT NULL,   -- the training.recorded event
    recorded        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX training_runs_by_output ON training_runs (output_key);

CREATE TABLE policies (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    title       TEXT NOT NULL,
    behaviour   TEXT NOT NULL,
    digest      TEXT NOT NULL,          -- SHA-256 of the policy's JSON
    leaf        INTEGER NOT NULL,       -- the policy.registered event
    PRIMARY KEY (id, version)
) WITHOUT ROWID;
