-- Reasoning traces: one row per (case version, generation run, sample).
-- The full trace (prompt, raw output, reasoning, answer, steps with byte
-- spans) is content behind `commitment`; this row is what queues and lists need.
CREATE TABLE traces (
    id                TEXT PRIMARY KEY,   -- deterministic: case, version, run key, sample
    case_id           TEXT NOT NULL,
    case_version      INTEGER NOT NULL,
    sample            INTEGER NOT NULL,
    run_key           TEXT NOT NULL,      -- digest of model identity, parameters and prompt template
    model             TEXT NOT NULL,      -- JSON model identity
    params            TEXT NOT NULL,      -- JSON generation parameters
    template          TEXT NOT NULL,      -- prompt template label, e.g. cts-stepwise@1
    answer_choice     TEXT,               -- option letter, when the case is multiple choice and one was found
    steps             INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    prompt_ms         REAL NOT NULL,
    generation_ms     REAL NOT NULL,
    commitment        BLOB NOT NULL,
    leaf              INTEGER NOT NULL,   -- the trace.generated event
    created           TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX traces_by_case ON traces (case_id, case_version);
