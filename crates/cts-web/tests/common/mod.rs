//! A real workbench on loopback over a real SQLite file, seeded with
//! synthetic cases and hand-written traces, and a cookie-handling client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cts_ledger::checkpoint::{LogSigner, LogVerifier};
use cts_store::traces::NewTrace;
use cts_store::users::{self, Role};
use cts_store::{seed, Store};
use cts_web::{AppState, Shared};

pub const PASSWORD: &str = "correct horse battery";

pub struct Server {
    pub base: String,
    pub state: Shared,
    pub dir: tempfile::TempDir,
    pub traces: Vec<String>,
    pub verifier_key: String,
}

/// Steps of every seeded trace.
pub fn steps() -> Vec<String> {
    vec![
        "The patient takes warfarin, an anticoagulant.".into(),
        "NSAIDs such as ibuprofen raise bleeding risk with warfarin.".into(),
        "Paracetamol at standard doses is the safer analgesic.".into(),
    ]
}

pub async fn start(reviewers_per_trace: u32, n_traces: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let cases = seed::import_synthetic_cases(&store, "test:seed", n_traces)
        .await
        .unwrap();
    let mut traces = Vec::new();
    for case in &cases {
        traces.push(add_trace(&store, case.id.as_str(), 0, &steps()).await);
    }
    let review = seed::medication_safety_review(&store, "test:seed", reviewers_per_trace, 1800)
        .await
        .unwrap();
    for (name, role) in [
        ("alice", Role::Clinician),
        ("bob", Role::Clinician),
        ("carol", Role::Adjudicator),
        ("dave", Role::Auditor),
        ("erin", Role::Admin),
        ("rhea", Role::Researcher),
    ] {
        users::add_user(&store, "test:seed", name, PASSWORD, role, &[])
            .await
            .unwrap();
    }
    let (skey, vkey) = LogSigner::generate("cts.test/web").unwrap();
    let state = Arc::new(AppState {
        store,
        review,
        signer: Arc::new(LogSigner::from_private_key(&skey).unwrap()),
        verifier: LogVerifier::new(&vkey).unwrap(),
        session_seconds: 3600,
        login_limiter: cts_web::auth::RateLimiter::new(1000),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let s = state.clone();
    tokio::spawn(async move {
        cts_web::serve(
            listener,
            s,
            Duration::from_secs(3600),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        state,
        dir,
        traces,
        verifier_key: vkey,
    }
}

/// Records a trace of `case_id` (version 1), sample `sample`, whose model
/// wrote `steps`; returns its id.
pub async fn add_trace(store: &Store, case_id: &str, sample: i64, steps: &[String]) -> String {
    let id = format!("{case_id}@v1/testrun/s{sample}");
    let doc = cts_trace::TraceDocument::synthetic(&id, Vec::new(), steps, Some("B"));
    cts_store::traces::record_trace(
        store,
        NewTrace {
            id: id.clone(),
            case_id: case_id.to_owned(),
            case_version: 1,
            sample,
            run_key: "testrun".into(),
            model: serde_json::json!({"name": "test-model"}),
            params: serde_json::json!({}),
            template: "cts-stepwise@1".into(),
            answer_choice: Some('B'),
            steps: steps.len(),
            prompt_tokens: 1,
            completion_tokens: 1,
            prompt_ms: 1.0,
            generation_ms: 1.0,
            document: doc.to_json().unwrap(),
        },
        "test:seed",
    )
    .await
    .unwrap();
    id
}

/// A browser-like client: keeps the session cookie, knows the CSRF token.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

fn cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = text.find(start)? + start.len();
    let j = text[i..].find(end)? + i;
    Some(&text[i..j])
}

impl Client {
    pub fn anonymous(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    /// Signs in through the real form; panics if that fails.
    pub async fn login(base: &str, user: &str) -> Client {
        let mut c = Client::anonymous(base);
        let status = c.try_login(user, PASSWORD).await;
        assert_eq!(status, 303, "login of {user}");
        c
    }

    /// A client whose connections come from `ip` (any 127.x.y.z on loopback).
    pub fn anonymous_from(base: &str, ip: std::net::IpAddr) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(ip)
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    /// Signs in; returns the status of the POST.
    pub async fn try_login(&mut self, user: &str, password: &str) -> u16 {
        self.try_login_next(user, password, "/").await.0
    }

    /// Signs in with `next`; returns the status and `Location` of the POST.
    pub async fn try_login_next(
        &mut self,
        user: &str,
        password: &str,
        next: &str,
    ) -> (u16, Option<String>) {
        let page = self
            .http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let login_cookie = cookie_value(&page, "cts_login").unwrap();
        let html = page.text().await.unwrap();
        let token = between(&html, "name=\"_csrf\" value=\"", "\"")
            .unwrap()
            .to_owned();
        let mut cookies = format!("cts_login={login_cookie}");
        if let Some(old) = &self.cookie {
            cookies.push_str(&format!("; cts_session={old}"));
        }
        let resp = self
            .http
            .post(format!("{}/login", self.base))
            .header("cookie", cookies)
            .form(&[
                ("username", user),
                ("password", password),
                ("_csrf", &token),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(session) = cookie_value(&resp, "cts_session") {
            self.cookie = Some(session);
            let home = self.get("/").await;
            let html = home.text().await.unwrap();
            self.csrf = between(&html, "name=\"csrf-token\" content=\"", "\"").map(str::to_owned);
        }
        (status, location)
    }

    fn with_cookie(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => rb.header("cookie", format!("cts_session={c}")),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.with_cookie(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    /// POST a form with the CSRF field (when known).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if let Some(t) = &self.csrf {
            all.push(("_csrf", t));
        }
        self.with_cookie(self.http.post(format!("{}{path}", self.base)).form(&all))
            .send()
            .await
            .unwrap()
    }

    /// A JSON request with the CSRF header (when known).
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut rb = self.with_cookie(
            self.http
                .request(method, format!("{}{path}", self.base))
                .json(body),
        );
        if let Some(t) = &self.csrf {
            rb = rb.header("x-csrf-token", t);
        }
        rb.send().await.unwrap()
    }
}

pub fn q(trace: &str) -> String {
    cts_web::auth::encode_component(trace)
}

/// A complete review body labelling every step `label` and rating every
/// dimension `rating`.
pub fn review_body(label: i8, rating: u8) -> serde_json::Value {
    let rubric = cts_review::Rubric::default_medication_safety();
    let mut body = cts_review::ReviewBody::draft_for(&rubric, &steps());
    for s in &mut body.steps {
        s.label = Some(label);
    }
    for d in &rubric.dimensions {
        body.ratings.insert(d.id.clone(), rating);
    }
    body.rationale = "The reasoning about warfarin and NSAIDs is sound.".into();
    serde_json::to_value(body).unwrap()
}
