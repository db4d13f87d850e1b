//! Accounts and login sessions.
//!
//! Passwords are hashed with argon2id (PHC strings); session cookies carry a
//! random token whose SHA-256 alone is stored, with a per-session CSRF token
//! and an absolute expiry. Account changes are ledger events whose actor is
//! whoever made them and whose subject is the user's pseudonym, so the public
//! log never names a clinician.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use cts_ledger::{EventDraft, EventKind};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{AppendHook, Ledger, StoreError};

/// Failed logins in a row before an account is locked.
pub const LOCKOUT_AFTER: i64 = 5;
/// How long a lockout lasts, seconds.
pub const LOCKOUT_SECONDS: i64 = 15 * 60;

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
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown role {s:?}; one of admin, clinician, adjudicator, auditor, researcher"
                ))
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
    /// Too many failures; locked until this unix time.
    Locked(i64),
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
        Err(StoreError::Invalid(format!(
            "username {name:?}: use 2 to 64 of a-z, A-Z, 0-9, '.', '_', '-'"
        )))
    }
}

/// Hashes a password with argon2id.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    if password.chars().count() < 10 {
        return Err(StoreError::Invalid(
            "password: at least 10 characters are required".into(),
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("password hashing failed: {e}")))
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
    ledger: &Ledger,
    actor: &str,
    username: &str,
    password: &str,
    role: Role,
    specialties: &[String],
) -> Result<User, StoreError> {
    check_username(username)?;
    for s in specialties {
        if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!(
                "specialty {s:?}: 1 to 64 printable characters"
            )));
        }
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE username = ?")
        .bind(username)
        .fetch_optional(ledger.pool())
        .await?;
    if exists.is_some() {
        return Err(StoreError::Invalid(format!(
            "user {username:?} already exists"
        )));
    }
    let hash = hash_password(password)?;
    let mut bytes = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let pseudonym = format!("R-{}", hex::encode(bytes));
    let specialties_json =
        serde_json::to_string(specialties).map_err(|e| StoreError::Invalid(e.to_string()))?;
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
    ledger.append_prepared(vec![prepared], Some(hook)).await?;
    user_by_name(ledger, username)
        .await?
        .ok_or_else(|| StoreError::Inconsistent("user vanished after insert".into()))
}

/// An account by login name.
pub async fn user_by_name(ledger: &Ledger, username: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
    ))
    .bind(username)
    .fetch_optional(ledger.pool())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// An account by row id.
pub async fn user_by_id(ledger: &Ledger, id: i64) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(ledger.pool())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Every account, by name.
pub async fn list_users(ledger: &Ledger) -> Result<Vec<User>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY username"
    ))
    .fetch_all(ledger.pool())
    .await?;
    rows.iter().map(user_from_row).collect()
}

async fn change_user(
    ledger: &Ledger,
    actor: &str,
    username: &str,
    kind: &str,
    body: serde_json::Value,
    sql: &'static str,
    value: String,
) -> Result<User, StoreError> {
    let user = user_by_name(ledger, username)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no user {username:?}")))?;
    let draft = EventDraft::new(EventKind::new(kind)?, actor)
        .subject(format!("user:{}", user.pseudonym))
        .body(body);
    let id = user.id;
    let hook: AppendHook = Box::new(move |conn, _| {
        Box::pin(async move {
            sqlx::query(sql)
                .bind(&value)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            if sql.contains("disabled") {
                sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    });
    ledger
        .append_prepared(vec![draft.prepare(cts_ledger::Salt::random)?], Some(hook))
        .await?;
    user_by_id(ledger, id)
        .await?
        .ok_or_else(|| StoreError::Inconsistent("user vanished".into()))
}

/// Disables (or re-enables) an account and ends its sessions. Ledgered as `user.disabled`.
pub async fn set_disabled(
    ledger: &Ledger,
    actor: &str,
    username: &str,
    disabled: bool,
) -> Result<User, StoreError> {
    change_user(
        ledger,
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
    ledger: &Ledger,
    actor: &str,
    username: &str,
    role: Role,
) -> Result<User, StoreError> {
    change_user(
        ledger,
        actor,
        username,
        "user.role_changed",
        serde_json::json!({ "role": role.as_str() }),
        "UPDATE users SET role = ? WHERE id = ?",
        role.as_str().into(),
    )
    .await
}

/// Checks a password and, if good, opens a session of `ttl_seconds`.
/// Five failures in a row lock the account for fifteen minutes.
pub async fn login(
    ledger: &Ledger,
    username: &str,
    password: &str,
    ttl_seconds: i64,
) -> Result<Login, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash, failed_logins, locked_until FROM users WHERE username = ?"
    ))
    .bind(username)
    .fetch_optional(ledger.pool())
    .await?;
    let Some(row) = row else {
        // Spend the same effort as a real check so timing does not reveal
        // which names exist.
        let _ = verify_password(password, dummy_hash());
        return Ok(Login::Refused);
    };
    let user = user_from_row(&row)?;
    let locked_until: i64 = row.try_get("locked_until")?;
    let t = now();
    if locked_until > t {
        return Ok(Login::Locked(locked_until));
    }
    let phc: String = row.try_get("password_hash")?;
    if !verify_password(password, &phc) || user.disabled {
        let failed: i64 = row.try_get::<i64, _>("failed_logins")? + 1;
        let lock = if failed >= LOCKOUT_AFTER {
            t + LOCKOUT_SECONDS
        } else {
            0
        };
        sqlx::query("UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?")
            .bind(if lock > 0 { 0 } else { failed })
            .bind(lock)
            .bind(user.id)
            .execute(ledger.pool())
            .await?;
        return Ok(if lock > 0 {
            Login::Locked(lock)
        } else {
            Login::Refused
        });
    }
    let token = random_token();
    let csrf = random_token();
    let expires = t + ttl_seconds;
    let mut tx = ledger.pool().begin().await?;
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE expires <= ?")
        .bind(t)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf, expires) VALUES (?, ?, ?, ?)")
        .bind(token_hash(&token))
        .bind(user.id)
        .bind(&csrf)
        .bind(expires)
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

/// The user and CSRF token of a live session, if the token is one.
pub async fn session(ledger: &Ledger, token: &str) -> Result<Option<(User, String)>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {}, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.expires > ? AND u.disabled = 0",
        USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(token_hash(token))
    .bind(now())
    .fetch_optional(ledger.pool())
    .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((user_from_row(&r)?, r.try_get("csrf")?))),
    }
}

/// Ends a session.
pub async fn logout(ledger: &Ledger, token: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash(token))
        .execute(ledger.pool())
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
