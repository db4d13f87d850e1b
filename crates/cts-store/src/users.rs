//! Accounts and login sessions.
//!
//! Passwords are hashed with argon2id (PHC strings) on a bounded pool of
//! blocking threads, so a burst of sign-ins never stalls the async workers;
//! new passwords must not be easy to guess (zxcvbn score 3 or more) nor
//! contain the username. Usernames are unique without regard to case.
//! Session cookies carry a random token whose SHA-256 alone is stored, with
//! a per-session CSRF token, an absolute expiry and an idle timeout.
//!
//! Failed sign-ins are throttled per (account name, client address) with
//! growing delays, counted atomically in one SQL statement; names that do
//! not exist are throttled exactly like names that do, so answers never tell
//! them apart, and nobody can lock another person out from elsewhere.
//!
//! Account changes are ledger events whose actor is whoever made them and
//! whose subject is the user's pseudonym, so the public log never names a
//! clinician. Not for: authorization decisions (the web layer makes them).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use cts_ledger::{EventDraft, EventKind};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{AppendHook, Store, StoreError};

/// Failed sign-ins in a row, per account name and address, before each
/// further attempt must wait ([`FIRST_THROTTLE_SECONDS`] after this many,
/// then doubling).
pub const FREE_FAILURES: i64 = 5;
/// The wait after [`FREE_FAILURES`] failures, seconds.
pub const FIRST_THROTTLE_SECONDS: i64 = 30;
/// The longest wait between attempts, seconds.
pub const MAX_THROTTLE_SECONDS: i64 = 15 * 60;
/// A session unused this long ends, seconds.
pub const SESSION_IDLE_SECONDS: i64 = 30 * 60;
/// How often a session's last use is written back, seconds (not on every
/// request, to keep page loads read-only).
const TOUCH_EVERY_SECONDS: i64 = 60;
/// The lowest zxcvbn score (0 to 4) a new password needs.
pub const MIN_PASSWORD_SCORE: u8 = 3;
/// The longest password accepted, characters (hashing cost is bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What a user may do; checked on the server for every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users; sees everything an auditor sees.
    Admin,
    /// Reviews traces of their specialties.
    Clinician,
    /// Decides disagreements; may also review.
    Adjudicator,
    /// Reads everything, changes nothing.
    Auditor,
    /// Datasets and results, clinicians only by pseudonym.
    Researcher,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Clinician,
        Role::Adjudicator,
        Role::Auditor,
        Role::Researcher,
    ];

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Adjudicator => "adjudicator",
            Role::Auditor => "auditor",
            Role::Researcher => "researcher",
        }
    }

    /// Whether this role reviews traces.
    pub fn reviews(self) -> bool {
        matches!(self, Role::Clinician | Role::Adjudicator)
    }
}

impl std::str::FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| StoreError::Invalid {
                field: "role",
                reason: format!(
                    "unknown role {s:?}; one of admin, clinician, adjudicator, auditor, researcher"
                ),
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored account (never its password hash).
#[derive(Clone, Debug, serde::Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Pseudonymous id used in the ledger and shown to researchers.
    pub pseudonym: String,
    /// Role.
    pub role: Role,
    /// Specialties (clinicians); empty means all.
    pub specialties: Vec<String>,
    /// Whether the account is disabled.
    pub disabled: bool,
}

impl User {
    /// The ledger actor for this user's actions.
    pub fn actor(&self) -> String {
        format!("user:{}", self.pseudonym)
    }
}

/// Result of a login attempt.
#[derive(Debug)]
pub enum Login {
    /// Good credentials: a new session.
    Ok {
        /// The user.
        user: User,
        /// Cookie token (shown once; only its hash is stored).
        token: String,
        /// CSRF token of the session.
        csrf: String,
        /// Unix seconds at which the session ends.
        expires: i64,
    },
    /// Unknown user, wrong password or disabled account (not told apart).
    Refused,
    /// Too many failures from this address for this name: try again after
    /// this many seconds. The password was not checked.
    Throttled(i64),
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn check_username(name: &str) -> Result<(), StoreError> {
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "username",
            reason: format!("{name:?}: use 2 to 64 of a-z, A-Z, 0-9, '.', '_', '-'"),
        })
    }
}

/// Checks that a new password for `username` is long enough, not too
/// long, does not contain the username, and is not easy to guess (a zxcvbn
/// score of at least [`MIN_PASSWORD_SCORE`]: common and breached-style
/// passwords, keyboard walks, dates and dictionary words score low).
pub fn check_password(username: &str, password: &str) -> Result<(), StoreError> {
    let n = password.chars().count();
    if n < 10 {
        return Err(StoreError::Invalid {
            field: "password",
            reason: "at least 10 characters are required".into(),
        });
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(StoreError::Invalid {
            field: "password",
            reason: format!("at most {MAX_PASSWORD_CHARS} characters"),
        });
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(StoreError::Invalid {
            field: "password",
            reason: "must not contain the username".into(),
        });
    }
    let estimate = zxcvbn::zxcvbn(password, &[username, "cts", "clinical", "trust", "signals"]);
    let score = u8::from(estimate.score());
    if score < MIN_PASSWORD_SCORE {
        let hint = estimate
            .feedback()
            .and_then(|f| {
                f.warning()
                    .map(|w| w.to_string())
                    .or_else(|| f.suggestions().first().map(|s| s.to_string()))
            })
            .unwrap_or_else(|| "add more words that do not belong together".into());
        return Err(StoreError::Invalid {
            field: "password",
            reason: format!(
                "too easy to guess (strength {score} of 4, at least {MIN_PASSWORD_SCORE} needed): {hint}"
            ),
        });
    }
    Ok(())
}

/// Runs password hashing work on a blocking thread, at most one per core
/// at a time: a burst of sign-ins queues here instead of occupying the
/// async workers that answer every other request.
async fn on_hash_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.max(1))
    });
    let permit = slots
        .acquire()
        .await
        .map_err(|e| StoreError::Inconsistent(format!("password hashing pool: {e}")))?;
    let result = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Inconsistent(format!("password hashing task: {e}")));
    drop(permit);
    result
}

/// Hashes a password with argon2id (only its length is checked here; see
/// [`check_password`] for new passwords).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    if password.chars().count() < 10 {
        return Err(StoreError::Invalid {
            field: "password",
            reason: "at least 10 characters are required".into(),
        });
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(StoreError::PasswordHash)
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn user_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
    let role: String = r.try_get("role")?;
    let specialties: String = r.try_get("specialties")?;
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        pseudonym: r.try_get("pseudonym")?,
        role: role.parse()?,
        specialties: serde_json::from_str(&specialties)
            .map_err(|e| StoreError::Inconsistent(format!("users.specialties: {e}")))?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

const USER_COLUMNS: &str = "id, username, pseudonym, role, specialties, disabled";

/// Adds an account; `actor` is who did it (e.g. `cli:admin`). Ledgered as
/// `user.created` (pseudonym and role only).
pub async fn add_user(
    store: &Store,
    actor: &str,
    username: &str,
    password: &str,
    role: Role,
    specialties: &[String],
) -> Result<User, StoreError> {
    check_username(username)?;
    for s in specialties {
        if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
            return Err(StoreError::Invalid {
                field: "specialty",
                reason: format!("{s:?}: use 1 to 64 printable characters"),
            });
        }
    }
    check_password(username, password)?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT username FROM users WHERE username = ? COLLATE NOCASE")
            .bind(username)
            .fetch_optional(store.db())
            .await?;
    if let Some(existing) = exists {
        return Err(StoreError::Conflict {
            what: "user",
            id: format!("{username:?}"),
            reason: format!("already exists (as {existing:?}; usernames ignore case)"),
        });
    }
    let owned = password.to_owned();
    let hash = on_hash_pool(move || hash_password(&owned)).await??;
    let mut bytes = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let pseudonym = format!("R-{}", hex::encode(bytes));
    let specialties_json =
        serde_json::to_string(specialties).map_err(|source| StoreError::Encode {
            what: "specialties",
            source,
        })?;
    // The login name is committed content (erasable); the password hash
    // never enters the log, but its digest binds it to this event.
    let draft = EventDraft::new(EventKind::new("user.created")?, actor)
        .subject(format!("user:{pseudonym}"))
        .body(serde_json::json!({
            "role": role.as_str(), "specialties": specialties,
            "credential": crate::projection::credential_digest(&pseudonym, &hash),
        }))
        .attach("username", username.as_bytes().to_vec());
    let (u, p) = (username.to_owned(), pseudonym.clone());
    let hook: AppendHook = Box::new(move |conn, _leaves| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO users (username, pseudonym, role, specialties, password_hash, created)
                 VALUES (?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
            )
            .bind(&u)
            .bind(&p)
            .bind(role.as_str())
            .bind(&specialties_json)
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    });
    let prepared = draft.prepare(cts_ledger::Salt::random)?;
    store
        .ledger()
        .append_prepared(vec![prepared], Some(hook))
        .await?;
    user_by_name(store, username)
        .await?
        .ok_or_else(|| StoreError::Inconsistent("user vanished after insert".into()))
}

/// An account by login name (case ignored).
pub async fn user_by_name(store: &Store, username: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = ? COLLATE NOCASE"
    ))
    .bind(username)
    .fetch_optional(store.db())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// An account by row id.
pub async fn user_by_id(store: &Store, id: i64) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(store.db())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Every account, by name.
pub async fn list_users(store: &Store) -> Result<Vec<User>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY username"
    ))
    .fetch_all(store.db())
    .await?;
    rows.iter().map(user_from_row).collect()
}

async fn change_user(
    store: &Store,
    actor: &str,
    username: &str,
    kind: &str,
    body: serde_json::Value,
    sql: &'static str,
    value: String,
) -> Result<User, StoreError> {
    let user = user_by_name(store, username)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: format!("{username:?}"),
            hint: None,
        })?;
    let draft = EventDraft::new(EventKind::new(kind)?, actor)
        .subject(format!("user:{}", user.pseudonym))
        .body(body);
    let end_sessions = sql.contains("disabled");
    commit_user_change(store, user.id, draft, sql, value, end_sessions).await
}

/// Appends `draft` (an event about account `id`) with the row change
/// `sql` (`… SET column = ? WHERE id = ?`, bound to `value` and `id`) in the
/// same commit, ending the account's sessions too when `end_sessions`; the
/// account as it then is.
async fn commit_user_change(
    store: &Store,
    id: i64,
    draft: EventDraft,
    sql: &'static str,
    value: String,
    end_sessions: bool,
) -> Result<User, StoreError> {
    let hook: AppendHook = Box::new(move |conn, _| {
        Box::pin(async move {
            sqlx::query(sql)
                .bind(&value)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            if end_sessions {
                sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    });
    store
        .ledger()
        .append_prepared(vec![draft.prepare(cts_ledger::Salt::random)?], Some(hook))
        .await?;
    user_by_id(store, id)
        .await?
        .ok_or_else(|| StoreError::Inconsistent("user vanished".into()))
}

/// Disables (or re-enables) an account and ends its sessions. Ledgered as `user.disabled`.
pub async fn set_disabled(
    store: &Store,
    actor: &str,
    username: &str,
    disabled: bool,
) -> Result<User, StoreError> {
    change_user(
        store,
        actor,
        username,
        "user.disabled",
        serde_json::json!({ "disabled": disabled }),
        "UPDATE users SET disabled = CAST(? AS INTEGER) WHERE id = ?",
        if disabled { "1" } else { "0" }.into(),
    )
    .await
}

/// Changes an account's role. Ledgered as `user.role_changed`.
pub async fn set_role(
    store: &Store,
    actor: &str,
    username: &str,
    role: Role,
) -> Result<User, StoreError> {
    change_user(
        store,
        actor,
        username,
        "user.role_changed",
        serde_json::json!({ "role": role.as_str() }),
        "UPDATE users SET role = ? WHERE id = ?",
        role.as_str().into(),
    )
    .await
}

/// Changes an account's login name. Ledgered as `user.renamed` with the new
/// name as committed content (like `user.created`'s). `old` must match
/// exactly, case included, so that one of two names that differ only in case
/// (allowed before migration [`crate::UNIQUE_NAMES`]) can be picked; `new` may
/// not equal any other account's name, case ignored. The account's sessions
/// stay valid: they are tied to the account, not its name.
pub async fn rename_user(
    store: &Store,
    actor: &str,
    old: &str,
    new: &str,
) -> Result<User, StoreError> {
    check_username(new)?;
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = ? COLLATE BINARY"
    ))
    .bind(old)
    .fetch_optional(store.db())
    .await?;
    let user = row
        .as_ref()
        .map(user_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: format!("{old:?}"),
            hint: Some("case must match"),
        })?;
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT username FROM users WHERE username = ? COLLATE NOCASE AND id != ?",
    )
    .bind(new)
    .bind(user.id)
    .fetch_optional(store.db())
    .await?;
    if let Some(existing) = taken {
        return Err(StoreError::Conflict {
            what: "user",
            id: format!("{new:?}"),
            reason: format!("already exists (as {existing:?}; usernames ignore case)"),
        });
    }
    let draft = EventDraft::new(EventKind::new("user.renamed")?, actor)
        .subject(format!("user:{}", user.pseudonym))
        .body(serde_json::json!({}))
        .attach("username", new.as_bytes().to_vec());
    commit_user_change(
        store,
        user.id,
        draft,
        "UPDATE users SET username = ? WHERE id = ?",
        new.to_owned(),
        false,
    )
    .await
}

/// The wait after `failures` failed sign-ins in a row: none up to
/// [`FREE_FAILURES`] − 1, then [`FIRST_THROTTLE_SECONDS`], doubling up to
/// [`MAX_THROTTLE_SECONDS`]. (The store computes the same in SQL.)
pub fn throttle_seconds(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        0
    } else {
        (FIRST_THROTTLE_SECONDS << (failures - FREE_FAILURES).min(20)).min(MAX_THROTTLE_SECONDS)
    }
}

/// Failed sign-ins in a row for `username` (any case) from `address`, and
/// the unix time before which further attempts are refused unchecked.
pub async fn login_failures(
    store: &Store,
    username: &str,
    address: &str,
) -> Result<(i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT failures, next_allowed FROM login_failures WHERE account = ? AND address = ?",
    )
    .bind(username.to_lowercase())
    .bind(address)
    .fetch_optional(store.db())
    .await?;
    match row {
        Some(r) => Ok((r.try_get(0)?, r.try_get(1)?)),
        None => Ok((0, 0)),
    }
}

/// Checks a password and, if good, opens a session of `ttl_seconds`.
///
/// Every attempt is first counted against (name, `address`) in one atomic
/// statement that also sets the wait before the next one; an attempt made
/// during the wait is refused without checking the password, whatever the
/// concurrency. A good password clears the count. Unknown names take the
/// same path and the same time as wrong passwords.
pub async fn login(
    store: &Store,
    username: &str,
    password: &str,
    address: &str,
    ttl_seconds: i64,
) -> Result<Login, StoreError> {
    let account = username.to_lowercase();
    let t = now();
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO login_failures (account, address, failures, next_allowed)
         VALUES (?1, ?2, 1, CASE WHEN 1 >= ?4 THEN ?3 + ?6 ELSE 0 END)
         ON CONFLICT (account, address) DO UPDATE SET
           failures = failures + 1,
           next_allowed = CASE WHEN failures + 1 >= ?4
             THEN ?3 + MIN(?5, ?6 << MIN(failures + 1 - ?4, 20)) ELSE 0 END
         WHERE next_allowed <= ?3
         RETURNING failures",
    )
    .bind(&account)
    .bind(address)
    .bind(t)
    .bind(FREE_FAILURES)
    .bind(MAX_THROTTLE_SECONDS)
    .bind(FIRST_THROTTLE_SECONDS)
    .fetch_optional(store.db())
    .await?;
    if counted.is_none() {
        let (_, next_allowed) = login_failures(store, &account, address).await?;
        return Ok(Login::Throttled((next_allowed - t).max(1)));
    }
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ? COLLATE NOCASE"
    ))
    .bind(username)
    .fetch_optional(store.db())
    .await?;
    let (user, phc) = match &row {
        Some(r) => (
            Some(user_from_row(r)?),
            r.try_get::<String, _>("password_hash")?,
        ),
        // Spend the same effort as a real check so timing does not reveal
        // which names exist.
        None => (None, dummy_hash().to_owned()),
    };
    let owned = password.to_owned();
    let good = on_hash_pool(move || verify_password(&owned, &phc)).await?;
    let Some(user) = user.filter(|u| good && !u.disabled) else {
        return Ok(Login::Refused);
    };
    let token = random_token();
    let csrf = random_token();
    let expires = t + ttl_seconds;
    let mut tx = store.db().begin().await?;
    sqlx::query("DELETE FROM login_failures WHERE account = ? AND address = ?")
        .bind(&account)
        .bind(address)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE expires <= ? OR last_seen <= ?")
        .bind(t)
        .bind(t - SESSION_IDLE_SECONDS)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf, expires, last_seen) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash(&token))
    .bind(user.id)
    .bind(&csrf)
    .bind(expires)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Login::Ok {
        user,
        token,
        csrf,
        expires,
    })
}

/// The user and CSRF token of a live session, if the token is one: not
/// expired, used within [`SESSION_IDLE_SECONDS`], of an enabled account.
/// Records the use at most once a minute.
pub async fn session(store: &Store, token: &str) -> Result<Option<(User, String)>, StoreError> {
    let t = now();
    let hash = token_hash(token);
    let row = sqlx::query(&format!(
        "SELECT {}, s.csrf, s.last_seen FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires > ? AND s.last_seen > ? AND u.disabled = 0",
        USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(&hash)
    .bind(t)
    .bind(t - SESSION_IDLE_SECONDS)
    .fetch_optional(store.db())
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let last_seen: i64 = r.try_get("last_seen")?;
    if last_seen <= t - TOUCH_EVERY_SECONDS {
        sqlx::query("UPDATE sessions SET last_seen = ? WHERE token_hash = ?")
            .bind(t)
            .bind(&hash)
            .execute(store.db())
            .await?;
    }
    Ok(Some((user_from_row(&r)?, r.try_get("csrf")?)))
}

/// Makes a session look unused for `seconds` (tests of the idle timeout).
pub async fn age_session(store: &Store, token: &str, seconds: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen = last_seen - ? WHERE token_hash = ?")
        .bind(seconds)
        .bind(token_hash(token))
        .execute(store.db())
        .await?;
    Ok(())
}

/// Ends a session.
pub async fn logout(store: &Store, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash(token))
        .execute(store.db())
        .await?;
    Ok(())
}

/// An argon2id hash of a random password, made once, so that refusing an
/// unknown user costs as much as checking a real one.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(random_token().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
