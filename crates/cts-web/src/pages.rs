//! Plain pages: health, assets, home, users, agreement.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use cts_review::agreement::{self, Level};
use cts_store::users::{self, Role, User};

use crate::auth::Session;
use crate::error::WebError;
use crate::layout::Nav;
use crate::Shared;

/// GET /healthz: the process answers and the database is reachable.
pub async fn healthz(State(state): State<Shared>) -> Response {
    match sqlx_ping(&state).await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    }
}

async fn sqlx_ping(state: &Shared) -> Result<(), String> {
    cts_store::review::queue_entry(&state.store, "")
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

const APP_JS: &str = include_str!("../static/app.js");
const APP_CSS: &str = include_str!("../static/app.css");
const FAVICON: &str = include_str!("../static/favicon.svg");

/// GET /static/{file}: the embedded assets.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return WebError::not_found(format!("no asset {file:?}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// GET /favicon.ico: the workbench's icon (browsers ask for this path).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    progress: Option<cts_store::review::Progress>,
    adjudication: usize,
}

/// GET /: what this role can do, with counts.
pub async fn home(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    let progress = if session.user.role.reviews() {
        cts_store::review::sync_queue(&state.store, &state.review).await?;
        Some(cts_store::review::progress(&state.store, &session.user).await?)
    } else {
        None
    };
    let adjudication = if session.user.role == Role::Adjudicator {
        cts_store::review::adjudication_open_to(&state.store, &session.user, 1000)
            .await?
            .len()
    } else {
        0
    };
    let page = HomePage {
        nav: Nav::of(&session),
        progress,
        adjudication,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<User>,
    message: Option<String>,
}

/// GET /admin/users (admin).
pub async fn users_page(
    State(state): State<Shared>,
    session: Session,
) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let page = UsersPage {
        nav: Nav::of(&session),
        users: users::list_users(&state.store).await?,
        message: None,
    };
    Ok(Html(page.render()?).into_response())
}

/// The new-user form.
#[derive(serde::Deserialize)]
pub struct NewUserForm {
    username: String,
    password: String,
    role: String,
    #[serde(default)]
    specialties: String,
}

/// POST /admin/users (admin): creates an account.
pub async fn create_user(
    State(state): State<Shared>,
    session: Session,
    Form(form): Form<NewUserForm>,
) -> Result<Response, WebError> {
    session.require(&[Role::Admin])?;
    let role: Role = form.role.parse()?;
    let specialties: Vec<String> = form
        .specialties
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    users::add_user(
        &state.store,
        &session.user.actor(),
        form.username.trim(),
        &form.password,
        role,
        &specialties,
    )
    .await?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// One row of the agreement table.
pub struct AgreementRow {
    /// Dimension or flag.
    pub name: String,
    /// nominal/ordinal.
    pub level: &'static str,
    /// Krippendorff's alpha, formatted.
    pub alpha: String,
    /// Pairable units.
    pub units: usize,
    /// Pairable values.
    pub values: usize,
    /// Mean Cohen's kappa over reviewer pairs with ≥ 5 shared units, formatted.
    pub kappa: String,
    /// Reviewer pairs behind the kappa.
    pub pairs: usize,
}

#[derive(Template)]
#[template(path = "agreement.html")]
struct AgreementPage {
    nav: Nav,
    rubric: String,
    reviews: usize,
    traces: usize,
    rows: Vec<AgreementRow>,
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "—".into())
}

/// Agreement statistics per rubric dimension over the latest review of
/// every reviewer (computed in `cts-review::agreement`).
pub fn agreement_rows(
    rubric: &cts_review::Rubric,
    reviews: &[cts_store::review::StoredReview],
) -> Vec<AgreementRow> {
    use std::collections::BTreeMap;
    // unit key -> reviewer -> value
    type Units = BTreeMap<String, BTreeMap<i64, i64>>;
    let mut dims: BTreeMap<&str, Units> = BTreeMap::new();
    let mut labels: Units = BTreeMap::new();
    let mut flags: BTreeMap<&str, Units> = BTreeMap::new();
    for r in reviews.iter().filter(|r| r.rubric == rubric.key()) {
        for d in &rubric.dimensions {
            if let Some(v) = r.body.ratings.get(&d.id) {
                dims.entry(d.id.as_str())
                    .or_default()
                    .entry(r.trace_id.clone())
                    .or_default()
                    .insert(r.user_id, i64::from(*v));
            }
        }
        for s in &r.body.steps {
            let Some(o) = s.origin else { continue };
            let unit = format!("{}#{o}", r.trace_id);
            if let Some(l) = s.label {
                labels
                    .entry(unit.clone())
                    .or_default()
                    .insert(r.user_id, i64::from(l));
            }
            for f in &rubric.flags {
                flags
                    .entry(f.id.as_str())
                    .or_default()
                    .entry(unit.clone())
                    .or_default()
                    .insert(r.user_id, i64::from(s.flags.contains(&f.id)));
            }
        }
        for d in &r.body.deleted {
            let unit = format!("{}#{}", r.trace_id, d.origin);
            labels.entry(unit).or_default().insert(r.user_id, -1);
        }
    }
    let row = |name: String, level: Level, units: &Units| {
        let lists: Vec<Vec<i64>> = units
            .values()
            .map(|m| m.values().copied().collect())
            .collect();
        let a = agreement::krippendorff_alpha(&lists, level);
        // Cohen's kappa for every reviewer pair with at least 5 shared units.
        let mut pairs: BTreeMap<(i64, i64), Vec<(i64, i64)>> = BTreeMap::new();
        for m in units.values() {
            let v: Vec<(&i64, &i64)> = m.iter().collect();
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    pairs
                        .entry((*v[i].0, *v[j].0))
                        .or_default()
                        .push((*v[i].1, *v[j].1));
                }
            }
        }
        let kappas: Vec<f64> = pairs
            .values()
            .filter(|p| p.len() >= 5)
            .filter_map(|p| agreement::cohen_kappa(p).kappa)
            .collect();
        AgreementRow {
            name,
            level: match level {
                Level::Nominal => "nominal",
                Level::Ordinal => "ordinal",
                Level::Interval => "interval",
            },
            alpha: fmt_opt(a.alpha),
            units: a.units,
            values: a.values,
            kappa: fmt_opt(
                (!kappas.is_empty()).then(|| kappas.iter().sum::<f64>() / kappas.len() as f64),
            ),
            pairs: kappas.len(),
        }
    };
    let mut rows = Vec::new();
    for d in &rubric.dimensions {
        let empty = Units::new();
        rows.push(row(
            d.title.clone(),
            Level::Ordinal,
            dims.get(d.id.as_str()).unwrap_or(&empty),
        ));
    }
    rows.push(row("Step label (−1/0/+1)".into(), Level::Ordinal, &labels));
    for f in &rubric.flags {
        let empty = Units::new();
        rows.push(row(
            format!("Flag: {}", f.title),
            Level::Nominal,
            flags.get(f.id.as_str()).unwrap_or(&empty),
        ));
    }
    rows
}

/// GET /agreement.
pub async fn agreement_page(
    State(state): State<Shared>,
    session: Session,
) -> Result<Response, WebError> {
    session.require(&[
        Role::Adjudicator,
        Role::Auditor,
        Role::Admin,
        Role::Researcher,
    ])?;
    let reviews = cts_store::review::latest_reviews(&state.store).await?;
    let rubric = &state.review.rubric;
    let traces: std::collections::BTreeSet<&str> =
        reviews.iter().map(|r| r.trace_id.as_str()).collect();
    let page = AgreementPage {
        nav: Nav::of(&session),
        rubric: rubric.key(),
        reviews: reviews.len(),
        traces: traces.len(),
        rows: agreement_rows(rubric, &reviews),
    };
    Ok(Html(page.render()?).into_response())
}
