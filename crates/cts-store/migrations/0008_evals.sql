-- Benchmark evaluation runs (issue 12): one row per `eval.completed` event.
-- Every column but `dir` is derived from the event (the projection check
-- compares them); `dir` is where the run's folder was written on this
-- machine, like a release's output folder.
CREATE TABLE eval_runs (
    id               TEXT PRIMARY KEY,   -- eval-<time>-<digest>
    model_key        TEXT NOT NULL,      -- weights SHA-256 (local) or name@url (HTTP)
    model            TEXT NOT NULL,      -- JSON model identity
    mode             TEXT NOT NULL,      -- generate | loglik
    template         TEXT NOT NULL,      -- e.g. mcq-plain/v1
    manifest_sha256  TEXT NOT NULL,      -- SHA-256 of the run's run.json
    results          TEXT NOT NULL,      -- JSON: per-benchmark counts, macro and micro averages
    dir              TEXT NOT NULL,
    leaf             INTEGER NOT NULL,   -- the eval.completed event
    completed        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX eval_runs_by_model ON eval_runs (model_key);
