//! Sessions, roles, CSRF and login.
//!
//! - The session cookie (`cts_session`) is `HttpOnly; Secure; SameSite=Strict`
//!   and expires; the store keeps only the SHA-256 of its token.
//! - Every state-changing request (anything but GET/HEAD) must carry the
//!   session's CSRF token, in the `X-CSRF-Token` header or a `_csrf` form
//!   field, and, when the browser sends `Origin`, come from this origin.
//!   [`session_layer`] checks this for every route, before any handler runs.
//!   "From this origin" compares scheme and host (`Origin` against
//!   `http://HOST`, or `https://HOST` behind a proxy that says
//!   `X-Forwarded-Proto: https`), and a browser's `Sec-Fetch-Site` must say
//!   `same-origin`.
//! - Login uses a double-submit token (cookie + form field), is rate limited
//!   per client address, and failures are throttled per account name and
//!   address with growing delays (in the store); unknown names get exactly
//!   the answers real ones get. Signing in replaces any session the browser
//!   had (rotation); sessions also end after 30 idle minutes.
//! - `?next=` after sign-in is only ever a same-origin path, parsed.
//! - Every response carries a strict Content-Security-Policy (scripts,
//!   styles and images from this origin only, no framing), `nosniff`,
//!   `Referrer-Policy: same-origin`, and, except static assets,
//!   `Cache-Control: no-store`, so Back after sign-out shows nothing.
//!   Signing out also sends `Clear-Site-Data` for the browser's storage,
//!   where the review script keeps unsaved draft copies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use cts_store::users::{self, Login, Role, User};
use rand::RngCore;

use crate::error::{ApiError, WebError};
use crate::Shared;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cts_session";
const LOGIN_COOKIE: &str = "cts_login";

/// A signed-in user with the session's CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who.
    pub user: User,
    /// The token state-changing requests must echo.
    pub csrf: String,
    /// The cookie token (for logout).
    token: String,
}

impl Session {
    /// Refuses (403) unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), WebError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(WebError::forbidden(format!(
                "a {} account cannot do this",
                self.user.role
            )))
        }
    }
}

/// Requests per client address per minute, for login.
pub struct RateLimiter {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter admitting `per_minute` attempts per address.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt; false when over the limit.
    pub fn admit(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.len() > 100_000 {
            seen.retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(60));
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn random_hex() -> String {
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Constant-time string equality.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Resolves the session and enforces CSRF and same-origin on every
/// state-changing request.
pub async fn session_layer(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let session = match cookie(&parts.headers, SESSION_COOKIE) {
        Some(token) => match users::session(&state.store, token).await {
            Ok(Some((user, csrf))) => Some(Session {
                user,
                csrf,
                token: token.to_owned(),
            }),
            Ok(None) => None,
            Err(e) => return WebError::from(e).into_response(),
        },
        None => None,
    };
    let changes_state = !matches!(parts.method, Method::GET | Method::HEAD);
    let path = parts.uri.path().to_owned();
    let api = is_api(&path);
    let mut body = body;
    if changes_state {
        if let Err(why) = same_origin(&parts.headers) {
            return refusal(api, WebError::forbidden(why));
        }
        if path != "/login" {
            let Some(session) = &session else {
                return refusal(
                    api,
                    WebError::new(StatusCode::UNAUTHORIZED, "sign in first"),
                );
            };
            let header_token = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let token = match header_token {
                Some(t) => Some(t),
                None => {
                    let is_form = parts
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
                    if is_form {
                        let bytes = match axum::body::to_bytes(body, crate::MAX_BODY).await {
                            Ok(b) => b,
                            Err(_) => {
                                return WebError::new(
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    format!("request body over {} bytes", crate::MAX_BODY),
                                )
                                .into_response()
                            }
                        };
                        let token = form_field(&bytes, "_csrf");
                        body = Body::from(bytes);
                        token
                    } else {
                        None
                    }
                }
            };
            if !token.as_deref().is_some_and(|t| same(t, &session.csrf)) {
                let e = WebError::forbidden("missing or wrong CSRF token; reload the page");
                return refusal(api, e);
            }
        }
    }
    if let Some(s) = session {
        parts.extensions.insert(s);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// An error as `/api` answers it (JSON) or as pages do (HTML).
fn refusal(api: bool, e: WebError) -> Response {
    if api {
        ApiError(e).into_response()
    } else {
        e.into_response()
    }
}

/// The `/api` group's layer: a request without a session is answered
/// with a JSON 401 before any handler runs (a page's [`Session`] extractor
/// sends a browser to sign in instead).
pub async fn require_session(req: Request, next: Next) -> Response {
    if req.extensions().get::<Session>().is_none() {
        return ApiError(WebError::new(StatusCode::UNAUTHORIZED, "sign in first")).into_response();
    }
    next.run(req).await
}

/// Whether a state-changing request comes from this origin: scheme and
/// host of `Origin` (when sent) must be this server's, and a browser's
/// `Sec-Fetch-Site` (when sent) must say `same-origin`.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Err(format!(
                "cross-site request refused (Sec-Fetch-Site: {site})"
            ));
        }
    }
    if let Some(origin) = text("origin") {
        let host = text("host").unwrap_or("");
        let scheme = match text("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        if host.is_empty() || origin != format!("{scheme}://{host}") {
            return Err(format!(
                "cross-origin request from {origin} refused (this is {scheme}://{host})"
            ));
        }
    }
    Ok(())
}

/// The Content-Security-Policy of every page: nothing inline, nothing from
/// elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response (see the module doc).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/") || req.uri().path() == "/favicon.ico";
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn form_field(bytes: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<Shared> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &Shared) -> Result<Self, Response> {
        if let Some(s) = parts.extensions.get::<Session>() {
            return Ok(s.clone());
        }
        if parts.method == Method::GET {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = format!("/login?next={}", encode_component(next));
            return Err(Redirect::to(&target).into_response());
        }
        Err(WebError::new(StatusCode::UNAUTHORIZED, "sign in first").into_response())
    }
}

/// Percent-encodes a URL component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after sign-in: `next` when it is a path on this origin,
/// else `/`. Only printable ASCII is accepted (browsers drop tabs and
/// newlines from URLs, so `/\t/host` would become `//host`; CR/LF would
/// split the header), no backslash, no `//` or `/\` start, and the value
/// must parse as a URI reference without scheme or authority.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else {
        return "/".to_owned();
    };
    let printable = n.bytes().all(|b| (0x21..0x7f).contains(&b));
    let shaped = n.starts_with('/') && !n.starts_with("//") && !n.contains('\\');
    let parsed = n.parse::<axum::http::Uri>().is_ok_and(|u| {
        u.scheme().is_none() && u.authority().is_none() && u.path().starts_with('/')
    });
    if printable && shaped && parsed && n.len() <= 2048 {
        n.to_owned()
    } else {
        "/".to_owned()
    }
}

/// `?next=` on the login page.
#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    /// Double-submit token.
    pub csrf: &'a str,
    /// Where to go after.
    pub next: &'a str,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
}

/// GET /login.
pub async fn login_page(Query(q): Query<NextQuery>) -> Result<Response, WebError> {
    render_login(&safe_next(q.next.as_deref()), None, StatusCode::OK)
}

fn render_login(next: &str, error: Option<&str>, status: StatusCode) -> Result<Response, WebError> {
    let token = random_hex();
    let page = LoginPage {
        csrf: &token,
        next,
        error,
    };
    let html = page.render()?;
    let mut resp = (status, Html(html)).into_response();
    let c = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age=3600"
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The login form.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

/// POST /login.
pub async fn login(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(form.next.as_deref());
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(c, &form.csrf)) {
        return render_login(
            &next,
            Some("The sign-in form expired; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    if !state.login_limiter.admit(addr.ip()) {
        return render_login(
            &next,
            Some("Too many sign-in attempts from this address; wait a minute."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let address = addr.ip().to_string();
    match users::login(
        &state.store,
        &form.username,
        &form.password,
        &address,
        state.session_seconds,
    )
    .await?
    {
        Login::Ok {
            token, expires: _, ..
        } => {
            // Rotation: whatever session this browser had ends here.
            if let Some(old) = cookie(&headers, SESSION_COOKIE) {
                users::logout(&state.store, old).await?;
            }
            let mut resp = Redirect::to(&next).into_response();
            let c = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
                state.session_seconds
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            let gone = format!(
                "{LOGIN_COOKIE}=; Path=/login; HttpOnly; Secure; SameSite=Strict; Max-Age=0"
            );
            if let Ok(v) = HeaderValue::from_str(&gone) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Login::Refused => render_login(
            &next,
            Some("Wrong username or password."),
            StatusCode::UNAUTHORIZED,
        ),
        Login::Throttled(wait) => render_login(
            &next,
            Some(
                format!(
                    "Too many failed sign-ins for this name from this address; try again in {wait} s."
                )
                .as_str(),
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
    }
}

/// POST /logout.
pub async fn logout(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    users::logout(&state.store, &session.token).await?;
    let mut resp = Redirect::to("/login").into_response();
    let c = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    // Unsaved draft copies in this browser belong to this user only.
    resp.headers_mut().insert(
        "clear-site-data",
        HeaderValue::from_static("\"cache\", \"storage\""),
    );
    Ok(resp)
}
