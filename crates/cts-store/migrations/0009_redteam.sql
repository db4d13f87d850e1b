-- Red-teaming runs (issue 13): one row per `redteam.completed` event.
-- Every column but `dir` is derived from the event (the projection check
-- compares them); `dir` is where the run's folder was written on this
-- machine, as for evaluation runs.
CREATE TABLE redteam_runs (
    id               TEXT PRIMARY KEY,   -- redteam-<time>-<digest>
    target_key       TEXT NOT NULL,      -- weights SHA-256 (local) or name@url (HTTP)
    target           TEXT NOT NULL,      -- JSON model identity
    judge            TEXT NOT NULL,      -- e.g. rules/v1, or model name with rubric id
    strategies       TEXT NOT NULL,      -- JSON list of versioned strategy ids
    manifest_sha256  TEXT NOT NULL,      -- SHA-256 of the run's run.json
    results          TEXT NOT NULL,      -- JSON: instance counts, unsafe, risk, over-refusal
    dir              TEXT NOT NULL,
    leaf             INTEGER NOT NULL,   -- the redteam.completed event
    completed        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX redteam_runs_by_target ON redteam_runs (target_key);
