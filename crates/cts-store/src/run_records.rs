//! What the run records (evaluation, red teaming, rubric-graded) share:
//! one event about the run and its model, and the run's row, written in one
//! transaction; a second record of the same run is refused.

use std::future::Future;
use std::pin::Pin;

use cts_ledger::{EventDraft, EventKind, Salt};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::{AppendHook, Store, StoreError};

/// The future a row writer returns.
pub(crate) type RowFuture<'c> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'c>>;

/// Where and how a run's row is written.
pub(crate) struct RunTable<F> {
    /// The table (its key column is `id`).
    pub table: &'static str,
    /// The run's kind in messages (`evaluation run`).
    pub what: &'static str,
    /// Writes the row, given the event's leaf.
    pub insert: F,
}

/// Appends an event of `kind` by `actor` with subjects `<prefix>:<id>` and
/// `model:<model_key>` and `body`; in the same transaction `table.insert`
/// writes the row `make_row` builds from the event's time. Returns the row
/// and the event's leaf.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append_run<B, R, F>(
    store: &Store,
    actor: &str,
    kind: &str,
    prefix: &str,
    id: &str,
    model_key: &str,
    body: &B,
    make_row: impl FnOnce(String) -> R,
    table: RunTable<F>,
) -> Result<(R, u64), StoreError>
where
    B: Serialize,
    R: Clone + Send + Sync + 'static,
    F: for<'c> Fn(&'c mut SqliteConnection, &'c R, u64) -> RowFuture<'c> + Send + 'static,
{
    let body = serde_json::to_value(body).map_err(|source| StoreError::Encode {
        what: table.what,
        source,
    })?;
    let prepared = EventDraft::new(EventKind::new(kind)?, actor)
        .subject(format!("{prefix}:{id}"))
        .subject(format!("model:{model_key}"))
        .body(body)
        .prepare(Salt::random)?;
    let row = make_row(prepared.event.time.clone());
    let hook_row = row.clone();
    let id = id.to_owned();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            let sql = format!("SELECT 1 FROM {} WHERE id = ?", table.table);
            let exists: Option<i64> = sqlx::query_scalar(&sql)
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await?;
            if exists.is_some() {
                return Err(StoreError::Conflict {
                    what: table.what,
                    id,
                    reason: "is already recorded".into(),
                });
            }
            (table.insert)(&mut *conn, &hook_row, leaves[0].0).await
        })
    });
    let leaves = store
        .ledger()
        .append_prepared(vec![prepared], Some(hook))
        .await?;
    Ok((row, leaves.first().map(|l| l.0).unwrap_or_default()))
}
