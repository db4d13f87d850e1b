//! The workbench over real HTTP on loopback: the review flow, the
//! authorization matrix (every route × every role), CSRF, sessions and bad
//! input. Each test runs its own server on its own SQLite file.

mod common;

use common::{q, review_body, Client};
use reqwest::Method;
use serde_json::json;

async fn status(resp: reqwest::Response) -> u16 {
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_disagree_and_an_adjudicator_decides() {
    let srv = common::start(2, 2).await;
    let alice = Client::login(&srv.base, "alice").await;
    let bob = Client::login(&srv.base, "bob").await;

    // Both claim: k = 2, so both get the first trace.
    let a = alice.post_form("/queue/claim", &[]).await;
    assert_eq!(a.status(), 303);
    let loc = a.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(loc, format!("/review?trace={}", q(&srv.traces[0])));
    let b = bob.post_form("/queue/claim", &[]).await;
    assert_eq!(b.headers()["location"].to_str().unwrap(), loc);
    let page = alice.get(&loc).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("NSAIDs such as ibuprofen"),
        "the review page shows the steps"
    );

    // Alice drafts; a stale second tab is refused and changes nothing.
    let t0 = q(&srv.traces[0]);
    let mut draft = review_body(1, 4);
    let r = alice
        .send_json(
            Method::PUT,
            &format!("/api/draft?trace={t0}"),
            &json!({"body": draft, "revision": 0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["revision"], 1);
    draft["rationale"] = json!("changed in tab two, which loaded revision 0");
    let stale = alice
        .send_json(
            Method::PUT,
            &format!("/api/draft?trace={t0}"),
            &json!({"body": draft, "revision": 0}),
        )
        .await;
    assert_eq!(stale.status(), 409);
    let saved: serde_json::Value = alice
        .get(&format!("/api/draft?trace={t0}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(saved["revision"], 1);
    assert_ne!(saved["body"]["rationale"], draft["rationale"]);

    // Blind: Bob sees only his own (empty) draft, not Alice's, and no history.
    let bobs: serde_json::Value = bob
        .get(&format!("/api/draft?trace={t0}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["body"], serde_json::Value::Null);
    assert_eq!(
        status(bob.get(&format!("/history?trace={t0}")).await).await,
        403
    );

    // Alice submits her draft (+1 everywhere), with an edit of step 2.
    let mut body = review_body(1, 4);
    body["steps"][1]["text"] =
        json!("NSAIDs such as ibuprofen markedly raise bleeding risk with warfarin; avoid them.");
    body["steps"][1]["edit_rationale"] = json!("make the recommendation explicit");
    let size_before = srv.state.ledger.committed_size().0;
    let r = alice
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": body, "revision": 1}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let done: serde_json::Value = r.json().await.unwrap();
    assert_eq!(done["version"], 1);
    assert_eq!(done["state"], "open", "one of two reviews is in");
    assert_eq!(done["edit_leaves"].as_array().unwrap().len(), 1);
    assert_eq!(
        srv.state.ledger.committed_size().0,
        size_before + 2,
        "review + one edit event"
    );
    // Submitted reviews are immutable: resubmitting the same version conflicts.
    let again = alice
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": body, "revision": 1}),
        )
        .await;
    assert_eq!(again.status(), 409);

    // Bob disagrees in sign on step 1: the trace goes to adjudication.
    let r = bob
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": review_body(-1, 4), "revision": 0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["state"],
        "adjudication"
    );

    // Bob may now see his own history, still not Alice's review.
    let h = bob
        .get(&format!("/history?trace={t0}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!h.contains("make the recommendation explicit"));

    let carol = Client::login(&srv.base, "carol").await;
    let queue = carol.get("/adjudication").await.text().await.unwrap();
    assert!(queue.contains(&srv.traces[0]));
    let side = carol
        .get(&format!("/adjudication/trace?trace={t0}"))
        .await
        .text()
        .await
        .unwrap();
    let alice_review = format!("{}#", srv.traces[0]);
    assert!(
        side.matches(&alice_review).count() >= 2,
        "both reviews are offered"
    );
    let reviews = cts_store::review::reviews_of_trace(&srv.state.ledger, &srv.traces[0])
        .await
        .unwrap();
    let chosen = reviews
        .iter()
        .find(|r| r.body.steps[1].text.contains("markedly"))
        .unwrap()
        .id
        .clone();
    let short = carol
        .post_form(
            &format!("/adjudication/decide?trace={t0}"),
            &[("chosen", &chosen), ("rationale", "short")],
        )
        .await;
    assert_eq!(short.status(), 422);
    let d = carol
        .post_form(
            &format!("/adjudication/decide?trace={t0}"),
            &[
                ("chosen", &chosen),
                (
                    "rationale",
                    "Warfarin plus NSAID is a bleeding risk; the edited chain is right.",
                ),
            ],
        )
        .await;
    assert_eq!(d.status(), 303);
    let entry = cts_store::review::queue_entry(&srv.state.ledger, &srv.traces[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, "adjudicated");
    let twice = carol
        .post_form(
            &format!("/adjudication/decide?trace={t0}"),
            &[
                ("chosen", &chosen),
                ("rationale", "deciding a second time is refused"),
            ],
        )
        .await;
    assert_eq!(twice.status(), 409);

    // A revision creates version 2 and keeps version 1 in the history.
    assert_eq!(
        alice
            .post_form(&format!("/review/revise?trace={t0}"), &[])
            .await
            .status(),
        303
    );
    let draft: serde_json::Value = alice
        .get(&format!("/api/draft?trace={t0}"))
        .await
        .json()
        .await
        .unwrap();
    let r = alice
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": draft["body"], "revision": draft["revision"]}),
        )
        .await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["version"], 2);
    let dave = Client::login(&srv.base, "dave").await;
    let history = dave
        .get(&format!("/history?trace={t0}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(history.contains("version 1") && history.contains("version 2"));
    assert!(history.contains("<ins>"), "edits are shown as word diffs");

    // The agreement page counts both reviewers on every dimension.
    let rhea = Client::login(&srv.base, "rhea").await;
    let agreement = rhea.get("/agreement").await.text().await.unwrap();
    assert!(agreement.contains("Medication safety") && agreement.contains("Step label"));
    assert!(
        agreement.contains("2 current review(s) of 1 trace(s)"),
        "{agreement}"
    );
    assert!(
        !agreement.contains("alice") && !agreement.contains("bob"),
        "researchers see no names"
    );

    // Every signal verifies: full audit, and the auditor's proof bundle.
    let report = cts_store::audit(srv.state.ledger.pool(), &srv.state.verifier, &|_| {})
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let leaf = done["leaf"].as_u64().unwrap();
    let bundle = dave.get(&format!("/audit/bundle?n={leaf}")).await;
    assert_eq!(bundle.status(), 200);
    let text = bundle.bytes().await.unwrap();
    let parsed = cts_ledger::bundle::ProofBundle::parse(&text).unwrap();
    let verified = parsed
        .verify(
            &cts_ledger::checkpoint::LogVerifier::new(&srv.verifier_key).unwrap(),
            None,
        )
        .unwrap();
    let event = cts_ledger::Event::decode(&verified.entry).unwrap();
    assert_eq!(event.kind.as_str(), "review.submitted");
    assert!(
        event.actor.starts_with("user:R-"),
        "the log names pseudonyms, not people"
    );
}

/// Expected status per role, in the order of `ROLES`.
const ROLES: [&str; 6] = ["anon", "bob", "carol", "dave", "erin", "rhea"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix() {
    let srv = common::start(2, 3).await;
    // Alice holds trace 0; nobody else is assigned to it.
    let alice = Client::login(&srv.base, "alice").await;
    assert_eq!(alice.post_form("/queue/claim", &[]).await.status(), 303);
    let t0 = q(&srv.traces[0]);
    let mut clients = vec![Client::anonymous(&srv.base)];
    for name in &ROLES[1..] {
        clients.push(Client::login(&srv.base, name).await);
    }
    let body = json!({"body": review_body(1, 4), "revision": 0});
    let diff = json!({"original": "a b", "text": "a c"});
    //          anon bob  carol dave erin rhea
    let cases: Vec<(&str, String, [u16; 6])> = vec![
        ("GET", "/healthz".into(), [200, 200, 200, 200, 200, 200]),
        ("GET", "/login".into(), [200, 200, 200, 200, 200, 200]),
        (
            "GET",
            "/static/app.js".into(),
            [200, 200, 200, 200, 200, 200],
        ),
        ("GET", "/".into(), [303, 200, 200, 200, 200, 200]),
        ("GET", "/queue".into(), [303, 200, 200, 403, 403, 403]),
        (
            "GET",
            format!("/review?trace={t0}"),
            [303, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            format!("/api/draft?trace={t0}"),
            [401, 403, 403, 403, 403, 403],
        ),
        (
            "PUT",
            format!("/api/draft?trace={t0}"),
            [401, 403, 403, 403, 403, 403],
        ),
        (
            "POST",
            format!("/api/submit?trace={t0}"),
            [401, 403, 403, 403, 403, 403],
        ),
        ("POST", "/api/diff".into(), [401, 200, 200, 403, 403, 403]),
        (
            "POST",
            format!("/review/revise?trace={t0}"),
            [401, 403, 403, 403, 403, 403],
        ),
        (
            "GET",
            format!("/history?trace={t0}"),
            [303, 403, 200, 200, 200, 200],
        ),
        (
            "GET",
            "/adjudication".into(),
            [303, 403, 200, 403, 403, 403],
        ),
        (
            "GET",
            format!("/adjudication/trace?trace={t0}"),
            [303, 403, 200, 403, 403, 403],
        ),
        (
            "POST",
            format!("/adjudication/decide?trace={t0}"),
            [401, 403, 409, 403, 403, 403],
        ),
        ("GET", "/agreement".into(), [303, 403, 200, 200, 200, 200]),
        ("GET", "/audit".into(), [303, 403, 403, 200, 200, 403]),
        (
            "GET",
            "/audit/leaf?n=0".into(),
            [303, 403, 403, 200, 200, 403],
        ),
        (
            "GET",
            "/audit/bundle?n=0".into(),
            [303, 403, 403, 200, 200, 403],
        ),
        ("GET", "/admin/users".into(), [303, 403, 403, 403, 200, 403]),
        (
            "POST",
            "/admin/users".into(),
            [401, 403, 403, 403, 303, 403],
        ),
        (
            "POST",
            "/queue/claim".into(),
            [401, 303, 303, 403, 403, 403],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, expected) in &cases {
        for (i, client) in clients.iter().enumerate() {
            let resp = match (*method, path.as_str()) {
                ("GET", _) => client.get(path).await,
                ("PUT", _) => client.send_json(Method::PUT, path, &body).await,
                ("POST", "/api/diff") => client.send_json(Method::POST, path, &diff).await,
                ("POST", p) if p.starts_with("/api/") => {
                    client.send_json(Method::POST, path, &body).await
                }
                ("POST", "/admin/users") => {
                    let name = format!("new{i}");
                    client
                        .post_form(
                            path,
                            &[
                                ("username", &name),
                                ("password", "long enough password"),
                                ("role", "clinician"),
                            ],
                        )
                        .await
                }
                ("POST", _) => {
                    client
                        .post_form(
                            path,
                            &[("chosen", "x"), ("rationale", "a long enough rationale")],
                        )
                        .await
                }
                _ => unreachable!(),
            };
            let got = resp.status().as_u16();
            if got != expected[i] {
                failures.push(format!(
                    "{method} {path} as {}: expected {}, got {got}",
                    ROLES[i], expected[i]
                ));
            }
        }
    }
    // The assigned clinician gets in where others are refused.
    for (method, path, want) in [
        ("GET", format!("/review?trace={t0}"), 200),
        ("GET", format!("/api/draft?trace={t0}"), 200),
        ("PUT", format!("/api/draft?trace={t0}"), 200),
    ] {
        let got = if method == "GET" {
            alice.get(&path).await
        } else {
            alice.send_json(Method::PUT, &path, &body).await
        }
        .status()
        .as_u16();
        if got != want {
            failures.push(format!(
                "{method} {path} as alice (assigned): expected {want}, got {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix:\n{}",
        failures.join("\n")
    );

    // No state-changing request passes without the session's CSRF token,
    // nor from another origin.
    let mut no_csrf = Client::login(&srv.base, "alice").await;
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf
            .send_json(Method::PUT, &format!("/api/draft?trace={t0}"), &body)
            .await
            .status(),
        403
    );
    assert_eq!(no_csrf.post_form("/queue/claim", &[]).await.status(), 403);
    assert_eq!(no_csrf.post_form("/logout", &[]).await.status(), 403);
    let mut wrong = Client::login(&srv.base, "erin").await;
    wrong.csrf = Some("0".repeat(48));
    assert_eq!(
        wrong
            .post_form(
                "/admin/users",
                &[
                    ("username", "x1"),
                    ("password", "long enough password"),
                    ("role", "admin")
                ]
            )
            .await
            .status(),
        403
    );
    let erin = Client::login(&srv.base, "erin").await;
    let cross = erin
        .http
        .post(format!("{}/admin/users", srv.base))
        .header(
            "cookie",
            format!("cts_session={}", erin.cookie.as_ref().unwrap()),
        )
        .header("origin", "http://evil.example")
        .form(&[
            ("username", "x2"),
            ("password", "long enough password"),
            ("role", "admin"),
            ("_csrf", erin.csrf.as_ref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(cts_store::users::user_by_name(&srv.state.ledger, "x1")
        .await
        .unwrap()
        .is_none());
    assert!(cts_store::users::user_by_name(&srv.state.ledger, "x2")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_changes_nothing() {
    let srv = common::start(2, 2).await;
    let alice = Client::login(&srv.base, "alice").await;
    alice.post_form("/queue/claim", &[]).await;
    let t0 = q(&srv.traces[0]);
    let size = srv.state.ledger.committed_size().0;

    // Oversized body.
    let big =
        json!({"body": {"rubric": "x", "steps": [{"text": "x".repeat(400_000)}]}, "revision": 0});
    assert_eq!(
        alice
            .send_json(Method::PUT, &format!("/api/draft?trace={t0}"), &big)
            .await
            .status(),
        413
    );
    // Malformed JSON, unknown fields, wrong shape.
    let raw = alice
        .http
        .put(format!("{}/api/draft?trace={t0}", srv.base))
        .header(
            "cookie",
            format!("cts_session={}", alice.cookie.as_ref().unwrap()),
        )
        .header("x-csrf-token", alice.csrf.as_ref().unwrap())
        .header("content-type", "application/json")
        .body("{\"body\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert!(raw.text().await.unwrap().contains("request body"));
    let unknown = json!({"body": review_body(1, 4), "revision": 0, "extra": 1});
    assert_eq!(
        alice
            .send_json(Method::PUT, &format!("/api/draft?trace={t0}"), &unknown)
            .await
            .status(),
        400
    );
    let mut dup = review_body(1, 4);
    dup["steps"][2]["origin"] = json!(0);
    let r = alice
        .send_json(
            Method::PUT,
            &format!("/api/draft?trace={t0}"),
            &json!({"body": dup, "revision": 0}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("steps[2].origin"));
    // An incomplete review cannot be submitted; the error names the field.
    let mut incomplete = review_body(1, 4);
    incomplete["steps"][1]["label"] = json!(null);
    let r = alice
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": incomplete, "revision": 0}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("steps[1].label"));
    let mut bad_flag = review_body(1, 4);
    bad_flag["steps"][0]["flags"] = json!(["no-such-flag"]);
    assert_eq!(
        alice
            .send_json(
                Method::POST,
                &format!("/api/submit?trace={t0}"),
                &json!({"body": bad_flag, "revision": 0})
            )
            .await
            .status(),
        422
    );
    // Unknown ids.
    assert_eq!(alice.get("/review?trace=no-such-trace").await.status(), 403);
    assert_eq!(
        alice
            .send_json(
                Method::POST,
                "/api/submit?trace=no-such-trace",
                &json!({"body": review_body(1, 4), "revision": 0})
            )
            .await
            .status(),
        403
    );
    let dave = Client::login(&srv.base, "dave").await;
    assert_eq!(dave.get("/audit/leaf?n=999999").await.status(), 404);
    assert_eq!(dave.get("/audit/leaf?n=abc").await.status(), 400);
    assert_eq!(alice.get("/review").await.status(), 400);
    // Nothing above reached the ledger, and no draft was stored.
    assert_eq!(srv.state.ledger.committed_size().0, size);
    let draft: serde_json::Value = alice
        .get(&format!("/api/draft?trace={t0}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["revision"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_safe_and_logins_lock_out() {
    let srv = common::start(2, 1).await;
    let mut c = Client::anonymous(&srv.base);
    let page = c
        .http
        .get(format!("{}/login", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // Successful login sets a hardened cookie.
    let mut probe = Client::anonymous(&srv.base);
    let _ = probe.try_login("alice", common::PASSWORD).await;
    let resp = probe
        .http
        .get(format!("{}/login", srv.base))
        .send()
        .await
        .unwrap();
    drop(resp);
    let login_page = c
        .http
        .get(format!("{}/login", srv.base))
        .send()
        .await
        .unwrap();
    let set_cookie: Vec<String> = login_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(set_cookie
        .iter()
        .all(|c| c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict")));
    // Wrong passwords: refused, then locked; then even the right one is refused.
    for _ in 0..4 {
        assert_eq!(c.try_login("bob", "wrong password!").await, 401);
    }
    assert_eq!(c.try_login("bob", "wrong password!").await, 429);
    assert_eq!(c.try_login("bob", common::PASSWORD).await, 429);
    assert!(c.cookie.is_none());
    // Unknown users look the same as wrong passwords.
    assert_eq!(c.try_login("nobody", "whatever123").await, 401);
    // Logout ends the session server-side: the old cookie no longer works.
    let alice = Client::login(&srv.base, "alice").await;
    assert_eq!(alice.get("/").await.status(), 200);
    assert_eq!(alice.post_form("/logout", &[]).await.status(), 303);
    assert_eq!(alice.get("/").await.status(), 303);
    // A disabled account's sessions end at once.
    let carol = Client::login(&srv.base, "carol").await;
    cts_store::users::set_disabled(&srv.state.ledger, "test:admin", "carol", true)
        .await
        .unwrap();
    assert_eq!(carol.get("/").await.status(), 303);
    // Open redirects are not possible through ?next=.
    let mut d = Client::anonymous(&srv.base);
    let page = d
        .http
        .get(format!("{}/login?next=//evil.example/", srv.base))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"next\" value=\"/\""));
    assert_eq!(d.try_login("dave", common::PASSWORD).await, 303);
}
