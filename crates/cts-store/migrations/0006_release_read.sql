-- Covering indexes for reading the reviewed state in case order, as a
-- dataset release does: each holds every column the release reader needs,
-- so the reader walks one index in order instead of seeking each row by
-- its random primary key (and, for reviews, instead of reading through the
-- overflow pages of the review body to reach the columns stored after it).
-- They replace the narrower indexes they extend.
CREATE INDEX traces_for_release
    ON traces (case_id, case_version, id, sample, leaf, commitment, model, params, template);
DROP INDEX traces_by_case;
CREATE INDEX reviews_for_release
    ON reviews (trace_id, user_id, version, leaf, id, rubric, commitment, edit_leaves, submitted);
DROP INDEX reviews_by_trace;
