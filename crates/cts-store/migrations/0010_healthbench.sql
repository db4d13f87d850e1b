-- Rubric-graded open-ended evaluation runs (HealthBench format, issue 13):
-- one row per `healthbench.completed` event. Every column but `dir` is
-- derived from the event (the projection check compares them).
CREATE TABLE healthbench_runs (
    id               TEXT PRIMARY KEY,   -- healthbench-<time>-<digest>
    model_key        TEXT NOT NULL,      -- weights SHA-256 (local) or name@url (HTTP)
    model            TEXT NOT NULL,      -- JSON model identity
    grader           TEXT NOT NULL,      -- grader model name and key with the grader prompt id
    manifest_sha256  TEXT NOT NULL,      -- SHA-256 of the run's run.json
    results          TEXT NOT NULL,      -- JSON: examples, graded, score, bootstrap SE
    dir              TEXT NOT NULL,
    leaf             INTEGER NOT NULL,   -- the healthbench.completed event
    completed        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX healthbench_runs_by_model ON healthbench_runs (model_key);
