//! Reading the reviewed state of the ledger at a checkpoint, one case at a
//! time, for dataset releases.
//!
//! Only rows whose events lie below the checkpoint's size count, so the same
//! checkpoint always reads the same state however far the log has grown
//! since. Four queries (cases, traces, latest reviews, latest
//! adjudications), each ordered by case, are merged as they stream, on two
//! blocking threads (cases and traces; reviews and adjudications) joined by
//! key on the caller's: memory holds the batches in flight, never the whole
//! store. Every piece of content is checked against its commitment as it is
//! read.

use cts_cases::Case;
use cts_ledger::{Commitment, Salt, TreeSize};
use cts_review::ReviewBody;
use cts_trace::TraceDocument;

use crate::log::content_join;
use crate::{Store, StoreError};

/// Content read for a dataset: present and verified, erased, or failing
/// its commitment (the store was altered).
#[derive(Clone, Debug)]
pub enum Content<T> {
    /// Present and opening its commitment.
    Present(T),
    /// Erased by a `content.redacted` event.
    Redacted,
    /// Present but not matching its commitment, or unreadable: what is wrong.
    Tampered(String),
}

impl<T> Content<T> {
    /// The value, if present and intact.
    pub fn get(&self) -> Option<&T> {
        match self {
            Content::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// A case version with everything reviewed about it at the checkpoint.
#[derive(Debug)]
pub struct CaseGroup {
    /// Case id.
    pub case_id: String,
    /// Case version.
    pub case_version: i64,
    /// Specialty.
    pub specialty: String,
    /// Tags (policy ids are `policy:<id>`).
    pub tags: Vec<String>,
    /// The `case.imported` leaf.
    pub leaf: u64,
    /// Its content commitment.
    pub commitment: Commitment,
    /// The case text.
    pub case: Content<Case>,
    /// Its traces, by id.
    pub traces: Vec<GroupTrace>,
}

/// A trace with its reviews at the checkpoint.
#[derive(Debug)]
pub struct GroupTrace {
    /// Trace id.
    pub id: String,
    /// Sample number.
    pub sample: i64,
    /// The `trace.generated` leaf.
    pub leaf: u64,
    /// Content commitment.
    pub commitment: Commitment,
    /// Model identity.
    pub model: serde_json::Value,
    /// Generation parameters.
    pub params: serde_json::Value,
    /// Prompt template label.
    pub template: String,
    /// What a release needs of the trace document.
    pub document: Content<TraceDocument>,
    /// The latest version of each reviewer's review, oldest first.
    pub reviews: Vec<GroupReview>,
    /// The latest adjudication, if any.
    pub adjudication: Option<GroupAdjudication>,
}

/// A reviewer's latest review version at the checkpoint.
#[derive(Debug)]
pub struct GroupReview {
    /// Review id.
    pub id: String,
    /// Reviewer's pseudonym.
    pub reviewer: String,
    /// Version.
    pub version: i64,
    /// Rubric key.
    pub rubric: String,
    /// The `review.submitted` leaf.
    pub leaf: u64,
    /// The `step.edited` leaves.
    pub edit_leaves: Vec<u64>,
    /// Content commitment.
    pub commitment: Commitment,
    /// When.
    pub submitted: String,
    /// The review.
    pub body: Content<ReviewBody>,
}

/// An adjudication decision.
#[derive(Clone, Debug)]
pub struct GroupAdjudication {
    /// Decision version.
    pub version: i64,
    /// Adjudicator's pseudonym.
    pub adjudicator: String,
    /// The review that stands.
    pub chosen: String,
    /// The `adjudication.decided` leaf.
    pub leaf: u64,
}

const CASES: &str = concat!(
    "SELECT k.id, k.version, k.specialty, k.tags, k.leaf, k.commitment, c.salt, c.bytes, c.redacted_leaf
     FROM cases k",
    content_join!("c", "k.commitment"),
    "WHERE k.leaf < ?1 ORDER BY k.id, k.version"
);
const TRACES: &str = concat!(
    "SELECT t.case_id, t.case_version, t.id, t.sample, t.leaf, t.commitment, t.model, t.params, t.template,
       c.salt, c.bytes, c.redacted_leaf
     FROM traces t INDEXED BY traces_for_release",
    content_join!("c", "t.commitment"),
    "WHERE t.leaf < ?1 ORDER BY t.case_id, t.case_version, t.id"
);
const REVIEWS: &str = concat!(
    "SELECT t.case_id, t.case_version, r.trace_id, r.id, u.pseudonym, r.version, r.rubric, r.leaf,
       r.edit_leaves, r.commitment, r.submitted, c.salt, c.bytes, c.redacted_leaf
     FROM traces t INDEXED BY traces_for_release JOIN reviews r INDEXED BY reviews_for_release ON r.trace_id = t.id JOIN users u ON u.id = r.user_id",
    content_join!("c", "r.commitment"),
    "WHERE r.leaf < ?1 AND r.version = (SELECT MAX(s.version) FROM reviews s INDEXED BY reviews_for_release
       WHERE s.trace_id = r.trace_id AND s.user_id = r.user_id AND s.leaf < ?1)
     ORDER BY t.case_id, t.case_version, t.id"
);
const ADJUDICATIONS: &str =
    "SELECT t.case_id, t.case_version, a.trace_id, a.version, u.pseudonym, a.chosen, a.leaf
     FROM traces t INDEXED BY traces_for_release JOIN adjudications a ON a.trace_id = t.id JOIN users u ON u.id = a.user_id
     WHERE a.leaf < ?1 AND a.version = (SELECT MAX(b.version) FROM adjudications b
       WHERE b.trace_id = a.trace_id AND b.leaf < ?1)
     ORDER BY t.case_id, t.case_version, t.id";

type Key = (String, i64, String);

/// One of the four ordered queries, stepped row by row on the reading thread.
struct Cursor<'s, T> {
    rows: rusqlite::Rows<'s>,
    parse: fn(&rusqlite::Row) -> Result<(Key, T), StoreError>,
    head: Option<(Key, T)>,
}

impl<'s, T> Cursor<'s, T> {
    fn new(
        stmt: &'s mut rusqlite::Statement,
        at: TreeSize,
        parse: fn(&rusqlite::Row) -> Result<(Key, T), StoreError>,
    ) -> Result<Self, StoreError> {
        let rows = stmt.query([at.0 as i64])?;
        let mut c = Cursor {
            rows,
            parse,
            head: None,
        };
        c.advance()?;
        Ok(c)
    }

    fn advance(&mut self) -> Result<(), StoreError> {
        self.head = match self.rows.next()? {
            Some(row) => Some((self.parse)(row)?),
            None => None,
        };
        Ok(())
    }

    /// Takes every row whose key equals `key`, skipping any before it.
    fn take(&mut self, key: &Key) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        loop {
            match &self.head {
                Some((k, _)) if k < key => self.advance()?,
                Some((k, _)) if k == key => {
                    if let Some((_, v)) = self.head.take() {
                        out.push(v);
                    }
                    self.advance()?;
                }
                _ => return Ok(out),
            }
        }
    }
}

fn commitment_of(row: &rusqlite::Row, i: usize, what: &str) -> Result<Commitment, StoreError> {
    let raw: Vec<u8> = row.get(i)?;
    <[u8; 32]>::try_from(raw.as_slice())
        .map(Commitment)
        .map_err(|_| StoreError::Inconsistent(format!("{what}: malformed commitment")))
}

/// Opens JSON content (see [`open`]).
fn open_json<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row,
    i: usize,
    commitment: &Commitment,
    what: &str,
) -> Result<Content<T>, StoreError> {
    open(row, i, commitment, what, |b| serde_json::from_slice(b))
}

/// Opens content at columns `i` (salt), `i+1` (bytes), `i+2` (redacted leaf)
/// against `commitment`, reading it with `parse`.
fn open<T>(
    row: &rusqlite::Row,
    i: usize,
    commitment: &Commitment,
    what: &str,
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<Content<T>, StoreError> {
    let redacted: Option<i64> = row.get(i + 2)?;
    if redacted.is_some() {
        return Ok(Content::Redacted);
    }
    // Borrowed from the row: content is hashed and parsed in place.
    let blob = |j: usize| -> Result<Option<&[u8]>, StoreError> {
        match row.get_ref(j)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => Ok(Some(b)),
            _ => Err(StoreError::Inconsistent(format!(
                "{what}: content is not a blob"
            ))),
        }
    };
    let (Some(salt), Some(bytes)) = (blob(i)?, blob(i + 1)?) else {
        return Ok(Content::Tampered(format!(
            "{what}: content is missing but was never redacted"
        )));
    };
    let Ok(salt) = <[u8; 32]>::try_from(salt) else {
        return Ok(Content::Tampered(format!("{what}: malformed salt")));
    };
    if Commitment::compute(&Salt(salt), bytes) != *commitment {
        return Ok(Content::Tampered(format!(
            "{what}: stored content does not match its commitment {commitment}"
        )));
    }
    Ok(match parse(bytes) {
        Ok(v) => Content::Present(v),
        Err(e) => Content::Tampered(format!("{what}: content is not valid: {e}")),
    })
}

struct CaseRow {
    specialty: String,
    tags: Vec<String>,
    leaf: u64,
    commitment: Commitment,
    case: Content<Case>,
}

fn case_row(row: &rusqlite::Row) -> Result<(Key, CaseRow), StoreError> {
    let id: String = row.get(0)?;
    let version: i64 = row.get(1)?;
    let what = format!("case {id} v{version}");
    let tags: String = row.get(3)?;
    let commitment = commitment_of(row, 5, &what)?;
    Ok((
        (id, version, String::new()),
        CaseRow {
            specialty: row.get(2)?,
            tags: serde_json::from_str(&tags)
                .map_err(|e| StoreError::Inconsistent(format!("{what}: tags: {e}")))?,
            leaf: row.get::<_, i64>(4)? as u64,
            case: open_json(row, 6, &commitment, &what)?,
            commitment,
        },
    ))
}

fn trace_row(row: &rusqlite::Row) -> Result<(Key, GroupTrace), StoreError> {
    let id: String = row.get(2)?;
    let what = format!("trace {id}");
    let commitment = commitment_of(row, 5, &what)?;
    let json = |i: usize| -> Result<serde_json::Value, StoreError> {
        let s: String = row.get(i)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Inconsistent(format!("{what}: {e}")))
    };
    Ok((
        (row.get(0)?, row.get(1)?, String::new()),
        GroupTrace {
            sample: row.get(3)?,
            leaf: row.get::<_, i64>(4)? as u64,
            model: json(6)?,
            params: json(7)?,
            template: row.get(8)?,
            document: open(row, 9, &commitment, &what, TraceDocument::from_json)?,
            commitment,
            reviews: Vec::new(),
            adjudication: None,
            id,
        },
    ))
}

fn review_row(row: &rusqlite::Row) -> Result<(Key, GroupReview), StoreError> {
    let id: String = row.get(3)?;
    let what = format!("review {id}");
    let commitment = commitment_of(row, 9, &what)?;
    let edits: String = row.get(8)?;
    Ok((
        (row.get(0)?, row.get(1)?, row.get(2)?),
        GroupReview {
            reviewer: row.get(4)?,
            version: row.get(5)?,
            rubric: row.get(6)?,
            leaf: row.get::<_, i64>(7)? as u64,
            edit_leaves: serde_json::from_str(&edits)
                .map_err(|e| StoreError::Inconsistent(format!("{what}: edit leaves: {e}")))?,
            submitted: row.get(10)?,
            body: open_json(row, 11, &commitment, &what)?,
            commitment,
            id,
        },
    ))
}

fn adjudication_row(row: &rusqlite::Row) -> Result<(Key, GroupAdjudication), StoreError> {
    Ok((
        (row.get(0)?, row.get(1)?, row.get(2)?),
        GroupAdjudication {
            version: row.get(3)?,
            adjudicator: row.get(4)?,
            chosen: row.get(5)?,
            leaf: row.get::<_, i64>(6)? as u64,
        },
    ))
}

/// Case groups (or traces' reviews) per message between threads: one
/// wake-up per batch instead of one per group.
const BATCH: usize = 32;

/// Batches in flight from each reading thread.
const BATCHES_IN_FLIGHT: usize = 4;

/// The latest reviews and adjudication of one trace, as the reviews
/// thread reads them.
struct TraceReviews {
    key: Key,
    reviews: Vec<GroupReview>,
    adjudication: Option<GroupAdjudication>,
}

/// Sends full batches, then what is left; `false` once the receiver is gone.
struct Batcher<T, F: FnMut(Vec<T>) -> bool> {
    batch: Vec<T>,
    send: F,
}

impl<T, F: FnMut(Vec<T>) -> bool> Batcher<T, F> {
    fn new(send: F) -> Self {
        Batcher {
            batch: Vec::with_capacity(BATCH),
            send,
        }
    }

    fn push(&mut self, item: T) -> bool {
        self.batch.push(item);
        self.batch.len() < BATCH
            || (self.send)(std::mem::replace(
                &mut self.batch,
                Vec::with_capacity(BATCH),
            ))
    }

    fn finish(mut self) {
        if !self.batch.is_empty() {
            (self.send)(std::mem::take(&mut self.batch));
        }
    }
}

/// A read-only connection in a read transaction for one reading thread.
/// Its two cursors walk different indexes at once: their interior pages
/// stay cached (4 MiB) instead of being read again.
fn reading_connection(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = crate::db::bulk_connection(path, true)?;
    conn.pragma_update(None, "cache_size", -4096)?;
    conn.execute_batch("BEGIN")?;
    Ok(conn)
}

/// Reads case versions and their traces (reviews left empty), in key
/// order, on the calling (blocking) thread.
fn read_traces(
    path: &std::path::Path,
    at: TreeSize,
    send: impl FnMut(Vec<CaseGroup>) -> bool,
) -> Result<(), StoreError> {
    let conn = reading_connection(path)?;
    let mut s_cases = conn.prepare(CASES)?;
    let mut s_traces = conn.prepare(TRACES)?;
    let mut cases = Cursor::new(&mut s_cases, at, case_row)?;
    let mut traces = Cursor::new(&mut s_traces, at, trace_row)?;
    let mut out = Batcher::new(send);
    let mut group: Option<CaseGroup> = None;
    while let Some(((case_id, case_version, _), trace)) = traces.head.take() {
        traces.advance()?;
        let same = group
            .as_ref()
            .is_some_and(|g| g.case_id == case_id && g.case_version == case_version);
        if !same {
            if let Some(g) = group.take() {
                if !out.push(g) {
                    return Ok(());
                }
            }
            let key = (case_id.clone(), case_version, String::new());
            let row = cases.take(&key)?.pop().ok_or_else(|| {
                StoreError::Inconsistent(format!(
                    "trace {} names case {case_id} v{case_version}, which is not stored below leaf {}",
                    trace.id, at.0
                ))
            })?;
            group = Some(CaseGroup {
                case_id,
                case_version,
                specialty: row.specialty,
                tags: row.tags,
                leaf: row.leaf,
                commitment: row.commitment,
                case: row.case,
                traces: Vec::new(),
            });
        }
        if let Some(g) = group.as_mut() {
            g.traces.push(trace);
        }
    }
    if let Some(g) = group.take() {
        out.push(g);
    }
    out.finish();
    Ok(())
}

/// Reads the latest reviews and adjudication of every trace that has
/// any, in key order, on the calling (blocking) thread.
fn read_reviews(
    path: &std::path::Path,
    at: TreeSize,
    send: impl FnMut(Vec<TraceReviews>) -> bool,
) -> Result<(), StoreError> {
    let conn = reading_connection(path)?;
    let mut s_reviews = conn.prepare(REVIEWS)?;
    let mut s_adj = conn.prepare(ADJUDICATIONS)?;
    let mut reviews = Cursor::new(&mut s_reviews, at, review_row)?;
    let mut adjudications = Cursor::new(&mut s_adj, at, adjudication_row)?;
    let mut out = Batcher::new(send);
    loop {
        let key = match (&reviews.head, &adjudications.head) {
            (Some((a, _)), Some((b, _))) => a.min(b).clone(),
            (Some((k, _)), None) | (None, Some((k, _))) => k.clone(),
            (None, None) => break,
        };
        let mut trace_reviews = reviews.take(&key)?;
        // The query orders by trace only (no sort of content rows); reviews
        // are few per trace, ordered here by submission.
        trace_reviews.sort_by_key(|r| r.leaf);
        let adjudication = adjudications.take(&key)?.pop();
        if !out.push(TraceReviews {
            key,
            reviews: trace_reviews,
            adjudication,
        }) {
            return Ok(());
        }
    }
    out.finish();
    Ok(())
}

/// The reviews thread's records as they arrive, taken in key order.
struct ReviewStream {
    rx: tokio::sync::mpsc::Receiver<Vec<TraceReviews>>,
    pending: std::vec::IntoIter<TraceReviews>,
}

impl ReviewStream {
    /// The record of trace `(case_id, case_version, trace)`, if it has one,
    /// dropping records of smaller keys (traces not below the checkpoint).
    /// Calls come in key order.
    async fn take_for(
        &mut self,
        case_id: &str,
        case_version: i64,
        trace: &str,
    ) -> Option<TraceReviews> {
        loop {
            let head = match self.pending.as_slice().first() {
                Some(h) => h,
                None => {
                    self.pending = self.rx.recv().await?.into_iter();
                    continue;
                }
            };
            let key = (head.key.0.as_str(), head.key.1, head.key.2.as_str());
            match (case_id, case_version, trace).cmp(&key) {
                std::cmp::Ordering::Greater => {
                    self.pending.next();
                }
                std::cmp::Ordering::Equal => return self.pending.next(),
                std::cmp::Ordering::Less => return None,
            }
        }
    }
}

/// Calls `f` with each case version that has traces below `at`, in order
/// of (case id, version); traces in id order, reviews in submission order.
///
/// Two blocking threads read the store through their own read-only
/// connections, one the cases and traces, the other the reviews and
/// adjudications, while `f` runs on the caller's: both streams are in key
/// order and are joined here, so reading, checking content and what the
/// caller does with each group overlap. Every row read lies below the
/// checkpoint and is immutable there (content erasure aside, and each
/// piece of content is read once), so the two connections need not share a
/// snapshot.
pub async fn for_each_case_group<E>(
    store: &Store,
    at: TreeSize,
    mut f: impl FnMut(CaseGroup) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<StoreError>,
{
    let (group_tx, mut groups) = tokio::sync::mpsc::channel::<Vec<CaseGroup>>(BATCHES_IN_FLIGHT);
    let (review_tx, reviewed) = tokio::sync::mpsc::channel::<Vec<TraceReviews>>(BATCHES_IN_FLIGHT);
    let path = store.path().to_owned();
    let trace_reader = tokio::task::spawn_blocking(move || {
        read_traces(&path, at, |b| group_tx.blocking_send(b).is_ok())
    });
    let path = store.path().to_owned();
    let review_reader = tokio::task::spawn_blocking(move || {
        read_reviews(&path, at, |b| review_tx.blocking_send(b).is_ok())
    });
    let mut reviewed = ReviewStream {
        rx: reviewed,
        pending: Vec::new().into_iter(),
    };
    let mut failed = None;
    'groups: while let Some(batch) = groups.recv().await {
        for mut group in batch {
            for trace in &mut group.traces {
                let found = reviewed
                    .take_for(&group.case_id, group.case_version, &trace.id)
                    .await;
                if let Some(r) = found {
                    trace.reviews = r.reviews;
                    trace.adjudication = r.adjudication;
                }
            }
            if let Err(e) = f(group) {
                failed = Some(e);
                break 'groups;
            }
        }
    }
    drop(groups);
    drop(reviewed);
    let mut read = Ok(());
    for reader in [trace_reader, review_reader] {
        let result = reader
            .await
            .map_err(|e| StoreError::Inconsistent(format!("a reading thread failed: {e}")))?;
        if read.is_ok() {
            read = result;
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    read?;
    Ok(())
}
