//! Reading the reviewed state of the ledger at a checkpoint, one case at a
//! time, for dataset releases.
//!
//! Only rows whose events lie below the checkpoint's size count, so the same
//! checkpoint always reads the same state however far the log has grown
//! since. Four queries (cases, traces, latest reviews, latest
//! adjudications), each ordered by case, are merged as they stream: memory
//! holds one case's traces and reviews, never the whole store. Every piece
//! of content is checked against its commitment as it is read.

use cts_cases::Case;
use cts_ledger::{Commitment, Opening, Salt, TreeSize};
use cts_review::ReviewBody;
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{Ledger, StoreError};

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
    /// The trace document.
    pub document: Content<serde_json::Value>,
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

const CASES: &str = "SELECT k.id, k.version, k.specialty, k.tags, k.leaf, k.commitment, c.salt, c.bytes, c.redacted_leaf
     FROM cases k LEFT JOIN content c ON c.commitment = k.commitment
     WHERE k.leaf < ?1 ORDER BY k.id, k.version";
const TRACES: &str = "SELECT t.case_id, t.case_version, t.id, t.sample, t.leaf, t.commitment, t.model, t.params, t.template,
       c.salt, c.bytes, c.redacted_leaf
     FROM traces t LEFT JOIN content c ON c.commitment = t.commitment
     WHERE t.leaf < ?1 ORDER BY t.case_id, t.case_version, t.id";
const REVIEWS: &str =
    "SELECT t.case_id, t.case_version, r.trace_id, r.id, u.pseudonym, r.version, r.rubric, r.leaf,
       r.edit_leaves, r.commitment, r.submitted, c.salt, c.bytes, c.redacted_leaf
     FROM reviews r JOIN traces t ON t.id = r.trace_id JOIN users u ON u.id = r.user_id
       LEFT JOIN content c ON c.commitment = r.commitment
     WHERE r.leaf < ?1 AND r.version = (SELECT MAX(s.version) FROM reviews s
       WHERE s.trace_id = r.trace_id AND s.user_id = r.user_id AND s.leaf < ?1)
     ORDER BY t.case_id, t.case_version, r.trace_id, r.leaf";
const ADJUDICATIONS: &str =
    "SELECT t.case_id, t.case_version, a.trace_id, a.version, u.pseudonym, a.chosen, a.leaf
     FROM adjudications a JOIN traces t ON t.id = a.trace_id JOIN users u ON u.id = a.user_id
     WHERE a.leaf < ?1 AND a.version = (SELECT MAX(b.version) FROM adjudications b
       WHERE b.trace_id = a.trace_id AND b.leaf < ?1)
     ORDER BY t.case_id, t.case_version, a.trace_id";

type Key = (String, i64, String);

struct Cursor<'a, T> {
    stream: BoxStream<'a, Result<SqliteRow, sqlx::Error>>,
    parse: fn(&SqliteRow) -> Result<(Key, T), StoreError>,
    head: Option<(Key, T)>,
}

impl<'a, T> Cursor<'a, T> {
    async fn new(
        ledger: &'a Ledger,
        sql: &'static str,
        at: TreeSize,
        parse: fn(&SqliteRow) -> Result<(Key, T), StoreError>,
    ) -> Result<Self, StoreError> {
        let stream = sqlx::query(sql).bind(at.0 as i64).fetch(ledger.pool());
        let mut c = Cursor {
            stream,
            parse,
            head: None,
        };
        c.advance().await?;
        Ok(c)
    }

    async fn advance(&mut self) -> Result<(), StoreError> {
        self.head = match self.stream.next().await {
            Some(row) => Some((self.parse)(&row?)?),
            None => None,
        };
        Ok(())
    }

    /// Takes every row whose key equals `key`, skipping any before it.
    async fn take(&mut self, key: &Key) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        loop {
            match &self.head {
                Some((k, _)) if k < key => self.advance().await?,
                Some((k, _)) if k == key => {
                    if let Some((_, v)) = self.head.take() {
                        out.push(v);
                    }
                    self.advance().await?;
                }
                _ => return Ok(out),
            }
        }
    }
}

fn commitment_of(row: &SqliteRow, i: usize, what: &str) -> Result<Commitment, StoreError> {
    let raw: Vec<u8> = row.try_get(i)?;
    <[u8; 32]>::try_from(raw.as_slice())
        .map(Commitment)
        .map_err(|_| StoreError::Inconsistent(format!("{what}: malformed commitment")))
}

/// Opens content at columns `i` (salt), `i+1` (bytes), `i+2` (redacted leaf)
/// against `commitment`, decoding it as JSON.
fn open_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    i: usize,
    commitment: &Commitment,
    what: &str,
) -> Result<Content<T>, StoreError> {
    let redacted: Option<i64> = row.try_get(i + 2)?;
    if redacted.is_some() {
        return Ok(Content::Redacted);
    }
    let salt: Option<Vec<u8>> = row.try_get(i)?;
    let bytes: Option<Vec<u8>> = row.try_get(i + 1)?;
    let (Some(salt), Some(bytes)) = (salt, bytes) else {
        return Ok(Content::Tampered(format!(
            "{what}: content is missing but was never redacted"
        )));
    };
    let Ok(salt) = <[u8; 32]>::try_from(salt.as_slice()) else {
        return Ok(Content::Tampered(format!("{what}: malformed salt")));
    };
    let opening = Opening::new(Salt(salt), bytes);
    if !opening.opens(commitment) {
        return Ok(Content::Tampered(format!(
            "{what}: stored content does not match its commitment {commitment}"
        )));
    }
    Ok(match serde_json::from_slice(&opening.content) {
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

fn case_row(row: &SqliteRow) -> Result<(Key, CaseRow), StoreError> {
    let id: String = row.try_get(0)?;
    let version: i64 = row.try_get(1)?;
    let what = format!("case {id} v{version}");
    let tags: String = row.try_get(3)?;
    let commitment = commitment_of(row, 5, &what)?;
    Ok((
        (id, version, String::new()),
        CaseRow {
            specialty: row.try_get(2)?,
            tags: serde_json::from_str(&tags)
                .map_err(|e| StoreError::Inconsistent(format!("{what}: tags: {e}")))?,
            leaf: row.try_get::<i64, _>(4)? as u64,
            case: open_json(row, 6, &commitment, &what)?,
            commitment,
        },
    ))
}

fn trace_row(row: &SqliteRow) -> Result<(Key, GroupTrace), StoreError> {
    let id: String = row.try_get(2)?;
    let what = format!("trace {id}");
    let commitment = commitment_of(row, 5, &what)?;
    let json = |i: usize| -> Result<serde_json::Value, StoreError> {
        let s: String = row.try_get(i)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Inconsistent(format!("{what}: {e}")))
    };
    Ok((
        (row.try_get(0)?, row.try_get(1)?, String::new()),
        GroupTrace {
            sample: row.try_get(3)?,
            leaf: row.try_get::<i64, _>(4)? as u64,
            model: json(6)?,
            params: json(7)?,
            template: row.try_get(8)?,
            document: open_json(row, 9, &commitment, &what)?,
            commitment,
            reviews: Vec::new(),
            adjudication: None,
            id,
        },
    ))
}

fn review_row(row: &SqliteRow) -> Result<(Key, GroupReview), StoreError> {
    let id: String = row.try_get(3)?;
    let what = format!("review {id}");
    let commitment = commitment_of(row, 9, &what)?;
    let edits: String = row.try_get(8)?;
    Ok((
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
        GroupReview {
            reviewer: row.try_get(4)?,
            version: row.try_get(5)?,
            rubric: row.try_get(6)?,
            leaf: row.try_get::<i64, _>(7)? as u64,
            edit_leaves: serde_json::from_str(&edits)
                .map_err(|e| StoreError::Inconsistent(format!("{what}: edit leaves: {e}")))?,
            submitted: row.try_get(10)?,
            body: open_json(row, 11, &commitment, &what)?,
            commitment,
            id,
        },
    ))
}

fn adjudication_row(row: &SqliteRow) -> Result<(Key, GroupAdjudication), StoreError> {
    Ok((
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
        GroupAdjudication {
            version: row.try_get(3)?,
            adjudicator: row.try_get(4)?,
            chosen: row.try_get(5)?,
            leaf: row.try_get::<i64, _>(6)? as u64,
        },
    ))
}

/// Calls `f` with each case version that has traces below `at`, in order
/// of (case id, version); traces in id order, reviews in submission order.
pub async fn for_each_case_group<E>(
    ledger: &Ledger,
    at: TreeSize,
    mut f: impl FnMut(CaseGroup) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<StoreError>,
{
    let mut cases = Cursor::new(ledger, CASES, at, case_row).await?;
    let mut traces = Cursor::new(ledger, TRACES, at, trace_row).await?;
    let mut reviews = Cursor::new(ledger, REVIEWS, at, review_row).await?;
    let mut adjudications = Cursor::new(ledger, ADJUDICATIONS, at, adjudication_row).await?;
    let mut group: Option<CaseGroup> = None;
    while let Some(((case_id, case_version, _), mut trace)) = traces.head.take() {
        traces.advance().await?;
        let same = group
            .as_ref()
            .is_some_and(|g| g.case_id == case_id && g.case_version == case_version);
        if !same {
            if let Some(g) = group.take() {
                f(g)?;
            }
            let key = (case_id.clone(), case_version, String::new());
            let row = cases.take(&key).await?.pop().ok_or_else(|| {
                StoreError::Inconsistent(format!(
                    "trace {} names case {case_id} v{case_version}, which is not stored below leaf {}",
                    trace.id, at.0
                ))
            })?;
            group = Some(CaseGroup {
                case_id: case_id.clone(),
                case_version,
                specialty: row.specialty,
                tags: row.tags,
                leaf: row.leaf,
                commitment: row.commitment,
                case: row.case,
                traces: Vec::new(),
            });
        }
        let key = (case_id, case_version, trace.id.clone());
        trace.reviews = reviews.take(&key).await?;
        trace.adjudication = adjudications.take(&key).await?.pop();
        if let Some(g) = group.as_mut() {
            g.traces.push(trace);
        }
    }
    if let Some(g) = group.take() {
        f(g)?;
    }
    Ok(())
}

/// Checks the content of `step.edited` events at `leaves` against their
/// commitments; returns what is wrong with the first that fails.
pub async fn check_edit_content(
    ledger: &Ledger,
    leaves: &[u64],
) -> Result<Option<String>, StoreError> {
    for &leaf in leaves {
        let rows = sqlx::query(
            "SELECT commitment, salt, bytes, redacted_leaf FROM content WHERE leaf = ?",
        )
        .bind(leaf as i64)
        .fetch_all(ledger.pool())
        .await?;
        if rows.is_empty() {
            return Ok(Some(format!("edit at leaf {leaf}: its content is missing")));
        }
        for row in rows {
            let commitment = commitment_of(&row, 0, "edit")?;
            if let Content::Tampered(why) = open_json::<serde_json::Value>(
                &row,
                1,
                &commitment,
                &format!("edit at leaf {leaf}"),
            )? {
                return Ok(Some(why));
            }
        }
    }
    Ok(None)
}
