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
    let size_before = srv.state.store.ledger().committed_size().0;
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
    assert!(done.get("state").is_none(), "{done}");
    let entry = cts_store::review::queue_entry(&srv.state.store, &srv.traces[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, "open", "one of two reviews is in");
    assert_eq!(done["edit_leaves"].as_array().unwrap().len(), 1);
    assert_eq!(
        srv.state.store.ledger().committed_size().0,
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
    assert!(r
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .get("state")
        .is_none());
    let entry = cts_store::review::queue_entry(&srv.state.store, &srv.traces[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, "adjudication");

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
    let reviews = cts_store::review::reviews_of_trace(&srv.state.store, &srv.traces[0])
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
    let entry = cts_store::review::queue_entry(&srv.state.store, &srv.traces[0])
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
    let report = srv
        .state
        .store
        .ledger()
        .audit(&srv.state.verifier, &|_| {})
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
            [303, 403, 409, 403, 403, 403],
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
    assert!(cts_store::users::user_by_name(&srv.state.store, "x1")
        .await
        .unwrap()
        .is_none());
    assert!(cts_store::users::user_by_name(&srv.state.store, "x2")
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
    let size = srv.state.store.ledger().committed_size().0;

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
    assert_eq!(srv.state.store.ledger().committed_size().0, size);
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
    // Wrong passwords: refused, then throttled from this address: even the
    // right one is refused unchecked. Unknown names answer exactly the same.
    for name in ["bob", "nobody"] {
        for _ in 0..cts_store::users::FREE_FAILURES {
            assert_eq!(c.try_login(name, "wrong password!").await, 401, "{name}");
        }
        assert_eq!(c.try_login(name, "wrong password!").await, 429, "{name}");
        assert_eq!(c.try_login(name, common::PASSWORD).await, 429, "{name}");
    }
    assert!(c.cookie.is_none());
    // Nobody can lock bob out from elsewhere: another address signs in.
    let mut elsewhere = Client::anonymous_from(&srv.base, "127.0.0.2".parse().unwrap());
    assert_eq!(elsewhere.try_login("bob", common::PASSWORD).await, 303);
    // Logout ends the session server-side: the old cookie no longer works.
    let alice = Client::login(&srv.base, "alice").await;
    assert_eq!(alice.get("/").await.status(), 200);
    assert_eq!(alice.post_form("/logout", &[]).await.status(), 303);
    assert_eq!(alice.get("/").await.status(), 303);
    // A disabled account's sessions end at once.
    let carol = Client::login(&srv.base, "carol").await;
    cts_store::users::set_disabled(&srv.state.store, "test:admin", "carol", true)
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

/// Twenty wrong passwords at once: the store counts every attempt in one
/// atomic statement, so exactly `FREE_FAILURES` passwords are checked and the
/// rest are throttled unchecked, whatever the interleaving. Before, the
/// read-modify-write lost updates and the account stayed open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_all_counted() {
    let srv = common::start(2, 1).await;
    for name in ["bob", "no-such-user"] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let base = srv.base.clone();
            let name = name.to_owned();
            tasks.spawn(async move {
                let mut c = Client::anonymous(&base);
                c.try_login(&name, "a wrong password!").await
            });
        }
        let mut statuses = Vec::new();
        while let Some(s) = tasks.join_next().await {
            statuses.push(s.unwrap());
        }
        let checked = statuses.iter().filter(|&&s| s == 401).count();
        let throttled = statuses.iter().filter(|&&s| s == 429).count();
        assert_eq!(
            (checked as i64, throttled),
            (cts_store::users::FREE_FAILURES, 20 - checked),
            "{name}: {statuses:?}"
        );
        let (failures, next_allowed) =
            cts_store::users::login_failures(&srv.state.store, name, "127.0.0.1")
                .await
                .unwrap();
        assert_eq!(failures, cts_store::users::FREE_FAILURES, "{name}");
        assert!(next_allowed > 0, "{name}: a wait is set");
        // Throttled, even with the right password; unknown names alike.
        let mut c = Client::anonymous(&srv.base);
        assert_eq!(c.try_login(name, common::PASSWORD).await, 429, "{name}");
    }
    // Case does not open a second counter.
    let mut c = Client::anonymous(&srv.base);
    assert_eq!(c.try_login("BOB", common::PASSWORD).await, 429);
}

/// `next` after sign-in is only ever a path on this origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_never_redirects_elsewhere() {
    let srv = common::start(2, 1).await;
    let bad = [
        "//evil.example/",
        "/\t/evil.example/path",
        "/\t\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: cts_session=x",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        " /queue",
        "/queue\u{0}",
        "/\u{3000}/evil.example",
        "evil.example",
    ];
    for next in bad {
        let mut c = Client::anonymous(&srv.base);
        let (status, location) = c.try_login_next("dave", common::PASSWORD, next).await;
        assert_eq!(status, 303, "{next:?}");
        assert_eq!(location.as_deref(), Some("/"), "{next:?}");
    }
    let mut c = Client::anonymous(&srv.base);
    let (_, location) = c
        .try_login_next("dave", common::PASSWORD, "/audit?page=2")
        .await;
    assert_eq!(location.as_deref(), Some("/audit?page=2"));
    // The form carries only a safe value, percent-encoded tab or not.
    let c = Client::anonymous(&srv.base);
    for raw in [
        "/%09/evil.example/path",
        "%2F%2Fevil.example",
        "/%0d%0aX:%20y",
    ] {
        let html = c
            .get(&format!("/login?next={raw}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("name=\"next\" value=\"/\""), "{raw}: {html}");
    }
}

/// An adjudicator who also reviews a trace is as blind as a clinician: no
/// other review in the history, no adjudication page, before or after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjudicator_who_reviews_stays_blind() {
    let srv = common::start(2, 1).await;
    let t0 = q(&srv.traces[0]);
    let alice = Client::login(&srv.base, "alice").await;
    let carol = Client::login(&srv.base, "carol").await;
    assert_eq!(alice.post_form("/queue/claim", &[]).await.status(), 303);
    assert_eq!(carol.post_form("/queue/claim", &[]).await.status(), 303);
    let mut secret = review_body(1, 5);
    secret["rationale"] = json!("alice's hidden rationale about warfarin");
    let r = alice
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": secret, "revision": 0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Carol holds an open assignment.
    let h = carol.get(&format!("/history?trace={t0}")).await;
    assert_eq!(h.status(), 403);
    assert!(!h.text().await.unwrap().contains("hidden rationale"));
    let a = carol.get(&format!("/adjudication/trace?trace={t0}")).await;
    assert_eq!(a.status(), 403);
    assert!(!a.text().await.unwrap().contains("hidden rationale"));
    // Giving the lease back does not lift her blindness (she may claim it
    // again and review it): the released assignment still counts.
    assert_eq!(
        carol
            .post_form(&format!("/review/release?trace={t0}"), &[])
            .await
            .status(),
        303
    );
    for page in ["/history", "/adjudication/trace"] {
        let r = carol.get(&format!("{page}?trace={t0}")).await;
        assert_eq!(r.status(), 403, "{page} after a release");
        assert!(!r.text().await.unwrap().contains("hidden rationale"));
    }
    assert_eq!(carol.post_form("/queue/claim", &[]).await.status(), 303);
    // Carol submits a review that disagrees: the trace needs adjudication,
    // and still she sees only her own review.
    let r = carol
        .send_json(
            Method::POST,
            &format!("/api/submit?trace={t0}"),
            &json!({"body": review_body(-1, 1), "revision": 0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let queue = carol.get("/adjudication").await.text().await.unwrap();
    assert!(
        !queue.contains(&srv.traces[0]),
        "the adjudication queue would tell carol her review disagreed"
    );
    let h = carol.get(&format!("/history?trace={t0}")).await;
    assert_eq!(h.status(), 200);
    let h = h.text().await.unwrap();
    assert!(!h.contains("hidden rationale"), "{h}");
    assert_eq!(h.matches("class=\"card review-version\"").count(), 1);
    assert_eq!(
        carol
            .get(&format!("/adjudication/trace?trace={t0}"))
            .await
            .status(),
        403
    );
    // Another adjudicator sees both.
    cts_store::users::add_user(
        &srv.state.store,
        "test:seed",
        "adam",
        common::PASSWORD,
        cts_store::users::Role::Adjudicator,
        &[],
    )
    .await
    .unwrap();
    let adam = Client::login(&srv.base, "adam").await;
    let page = adam.get(&format!("/adjudication/trace?trace={t0}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("hidden rationale"));
    // The page explains itself: reasons in words with 1-based steps, the
    // options and the model's answer, ratings side by side, a confirmation.
    for want in [
        "Step 1: R-",
        "Step 3: R-",
        "labelled it +1",
        "rated it 5",
        "The model's final answer",
        "id=\"model-answer\">B</span>",
        "id=\"ratings-side-by-side\"",
        "id=\"decision-confirm\"",
    ] {
        assert!(html.contains(want), "{want}: {html}");
    }
    assert!(!html.contains("step_sign"), "no raw JSON");
    let chosen = cts_store::review::reviews_of_trace(&srv.state.store, &srv.traces[0])
        .await
        .unwrap()[0]
        .id
        .clone();
    let d = adam
        .post_form(
            &format!("/adjudication/decide?trace={t0}"),
            &[
                ("chosen", &chosen),
                ("rationale", "The positive review is right here."),
            ],
        )
        .await;
    assert_eq!(d.status(), 303);
    let to = d.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/adjudication?decided={t0}"));
    let done = adam.get(&to).await.text().await.unwrap();
    assert!(done.contains("Decision recorded for"), "{done}");
    // The auditor's list links each trace to its history and shows the key.
    let dave = Client::login(&srv.base, "dave").await;
    let audit = dave.get("/audit").await.text().await.unwrap();
    assert!(
        audit.contains(&format!("review history of {}", srv.traces[0]))
            && audit.contains("class=\"history-link\" href=\"/history?trace="),
        "{audit}"
    );
    assert!(audit.contains(srv.verifier_key.trim()), "{audit}");
}

/// A submit answers the same whether the other review agrees or not, a
/// replayed submit never makes a version without Revise, and drafts refuse
/// what submit would refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_and_drafts_reveal_nothing_and_accept_nothing_invalid() {
    let srv = common::start(2, 2).await;
    let alice = Client::login(&srv.base, "alice").await;
    let bob = Client::login(&srv.base, "bob").await;
    let mut answers = Vec::new();
    // Trace 0: they agree; trace 1: they disagree.
    for (i, bob_label) in [(0usize, 1i8), (1, -1)] {
        alice.post_form("/queue/claim", &[]).await;
        bob.post_form("/queue/claim", &[]).await;
        let t = q(&srv.traces[i]);
        for (who, label) in [(&alice, 1i8), (&bob, bob_label)] {
            let r = who
                .send_json(
                    Method::POST,
                    &format!("/api/submit?trace={t}"),
                    &json!({"body": review_body(label, 4), "revision": 0}),
                )
                .await;
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            answers.push(keys);
        }
    }
    let states: Vec<String> = {
        let mut out = Vec::new();
        for t in &srv.traces {
            out.push(
                cts_store::review::queue_entry(&srv.state.store, t)
                    .await
                    .unwrap()
                    .unwrap()
                    .state,
            );
        }
        out
    };
    assert_eq!(states, ["complete", "adjudication"]);
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(answers[0], ["edit_leaves", "id", "leaf", "version"]);

    // Replays after a successful submit: refused, nothing written.
    let t0 = q(&srv.traces[0]);
    let size = srv.state.store.ledger().committed_size().0;
    for revision in [0, 1] {
        let r = alice
            .send_json(
                Method::POST,
                &format!("/api/submit?trace={t0}"),
                &json!({"body": review_body(0, 3), "revision": revision}),
            )
            .await;
        assert_eq!(r.status(), 409, "revision {revision}");
        // A stale tab's autosave does not open a draft either.
        let r = alice
            .send_json(
                Method::PUT,
                &format!("/api/draft?trace={t0}"),
                &json!({"body": review_body(0, 3), "revision": revision}),
            )
            .await;
        assert_eq!(r.status(), 409, "draft at revision {revision}");
    }
    assert_eq!(srv.state.store.ledger().committed_size().0, size);
    let versions = cts_store::review::reviews_of_trace(&srv.state.store, &srv.traces[0])
        .await
        .unwrap();
    assert!(
        versions.iter().all(|r| r.version == 1),
        "no version 2 without Revise"
    );

    // Drafts are validated as far as they go.
    let t1 = q(&srv.traces[1]);
    assert_eq!(
        alice
            .post_form(&format!("/review/revise?trace={t1}"), &[])
            .await
            .status(),
        303
    );
    let draft: serde_json::Value = alice
        .get(&format!("/api/draft?trace={t1}"))
        .await
        .json()
        .await
        .unwrap();
    let rev = draft["revision"].clone();
    let mut bad_label = draft["body"].clone();
    bad_label["steps"][0]["label"] = json!(5);
    let mut bad_flag = draft["body"].clone();
    bad_flag["steps"][0]["flags"] = json!(["no-such-flag"]);
    let mut bad_rating = draft["body"].clone();
    bad_rating["ratings"]["medication_safety"] = json!(9);
    let mut bad_dim = draft["body"].clone();
    bad_dim["ratings"]["no_such_dimension"] = json!(3);
    let mut bad_rubric = draft["body"].clone();
    bad_rubric["rubric"] = json!("other@1");
    for (body, field) in [
        (bad_label, "steps[0].label"),
        (bad_flag, "steps[0].flags"),
        (bad_rating, "ratings.medication_safety"),
        (bad_dim, "ratings.no_such_dimension"),
        (bad_rubric, "rubric"),
    ] {
        let r = alice
            .send_json(
                Method::PUT,
                &format!("/api/draft?trace={t1}"),
                &json!({"body": body, "revision": rev}),
            )
            .await;
        assert_eq!(r.status(), 422, "{field}");
        assert!(r.text().await.unwrap().contains(field), "{field}");
    }
}

/// A reload in one tab is never a conflict; a second tab is; concurrent
/// saves answer 409, never 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn draft_saves_tell_a_reload_from_a_second_tab() {
    let srv = common::start(2, 1).await;
    let alice = Client::login(&srv.base, "alice").await;
    alice.post_form("/queue/claim", &[]).await;
    let t0 = q(&srv.traces[0]);
    let put = |body: serde_json::Value| {
        let alice = &alice;
        let t0 = t0.clone();
        async move {
            alice
                .send_json(Method::PUT, &format!("/api/draft?trace={t0}"), &body)
                .await
        }
    };
    let body = |label: i8| review_body(label, 3);
    // The tab saves (its flush as the page was left, say)...
    let r = put(json!({"body": body(1), "revision": 0, "client": "tab1", "seq": 10})).await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["revision"], 1);
    // ...and the reloaded page, which loaded revision 0, saves its newer state.
    let r = put(json!({"body": body(0), "revision": 0, "client": "tab1", "seq": 11})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["revision"], 2);
    // A late flush from before the reload changes nothing.
    let r = put(json!({"body": body(-1), "revision": 0, "client": "tab1", "seq": 10})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["revision"], 2);
    let stored = cts_store::review::load_draft(
        &srv.state.store,
        &cts_store::users::user_by_name(&srv.state.store, "alice")
            .await
            .unwrap()
            .unwrap(),
        &srv.traces[0],
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((stored.0.steps[0].label, stored.1), (Some(0), 2));
    // Another tab that loaded revision 1 conflicts, whatever its counter.
    let r = put(json!({"body": body(-1), "revision": 1, "client": "tab2", "seq": 99})).await;
    assert_eq!(r.status(), 409);
    let r = put(json!({"body": body(-1), "revision": 1, "client": "bad id!", "seq": 99})).await;
    assert_eq!(r.status(), 400);

    // Twelve tabs save at once from revision 2: one wins, the rest are told.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let http = alice.http.clone();
        let url = format!("{}/api/draft?trace={t0}", srv.base);
        let cookie = format!("cts_session={}", alice.cookie.as_ref().unwrap());
        let csrf = alice.csrf.clone().unwrap();
        let b = json!({"body": body(1), "revision": 2, "client": format!("t{i}"), "seq": 1});
        tasks.spawn(async move {
            let r = http
                .put(url)
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .json(&b)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        });
    }
    let mut got = Vec::new();
    while let Some(r) = tasks.join_next().await {
        got.push(r.unwrap());
    }
    let ok = got.iter().filter(|(s, _)| *s == 200).count();
    let conflicts = got.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((ok, conflicts), (1, 11), "{got:?}");
    assert!(got.iter().all(|(_, t)| !t.contains("database")), "{got:?}");
}

/// Headers: a strict CSP, no framing, nosniff, a referrer policy, and no
/// caching of signed-in pages; sign-out clears the browser's storage;
/// `Origin` is compared with its scheme; sign-in rotates the session and
/// idle sessions end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_origin_rotation_and_idle_timeout() {
    let srv = common::start(2, 1).await;
    let alice = Client::login(&srv.base, "alice").await;
    for path in ["/login", "/", "/queue", "/healthz"] {
        let r = alice.get(path).await;
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    let js = alice.get("/static/app.js").await;
    assert_ne!(js.headers()["cache-control"], "no-store");
    assert_eq!(alice.get("/favicon.ico").await.status(), 200);

    // Origin with the wrong scheme, or a cross-site fetch, is refused.
    let host = srv.base.trim_start_matches("http://").to_owned();
    let attempt = |origin: Option<String>, site: Option<&'static str>| {
        let mut rb = alice
            .http
            .post(format!("{}/queue/claim", srv.base))
            .header(
                "cookie",
                format!("cts_session={}", alice.cookie.as_ref().unwrap()),
            )
            .header("x-csrf-token", alice.csrf.clone().unwrap());
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        if let Some(s) = site {
            rb = rb.header("sec-fetch-site", s);
        }
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(attempt(Some(format!("https://{host}")), None).await, 403);
    assert_eq!(attempt(Some("null".into()), None).await, 403);
    assert_eq!(attempt(None, Some("cross-site")).await, 403);
    assert_eq!(attempt(None, Some("same-site")).await, 403);
    assert_eq!(
        attempt(Some(format!("http://{host}")), Some("same-origin")).await,
        303
    );

    // Sign-out clears the browser's storage (unsaved draft copies).
    let bob = Client::login(&srv.base, "bob").await;
    let out = bob.post_form("/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert!(out.headers()["clear-site-data"]
        .to_str()
        .unwrap()
        .contains("\"storage\""));

    // Signing in again from the same browser ends the session it had.
    let mut carol = Client::login(&srv.base, "carol").await;
    let old = carol.cookie.clone().unwrap();
    assert_eq!(carol.try_login("carol", common::PASSWORD).await, 303);
    assert_ne!(carol.cookie.as_deref(), Some(old.as_str()));
    let mut stale = Client::anonymous(&srv.base);
    stale.cookie = Some(old);
    assert_eq!(stale.get("/").await.status(), 303, "the old session ended");
    assert_eq!(carol.get("/").await.status(), 200);

    // A session unused for longer than the idle timeout ends.
    let token = carol.cookie.clone().unwrap();
    cts_store::users::age_session(
        &srv.state.store,
        &token,
        cts_store::users::SESSION_IDLE_SECONDS + 1,
    )
    .await
    .unwrap();
    assert_eq!(carol.get("/").await.status(), 303);
}

/// New passwords: not common, not containing the username; usernames
/// unique without regard to case, and sign-in ignores case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_usernames() {
    let srv = common::start(2, 1).await;
    let add = |name: &'static str, password: &'static str| {
        let store = &srv.state.store;
        async move {
            cts_store::users::add_user(
                store,
                "test:seed",
                name,
                password,
                cts_store::users::Role::Clinician,
                &[],
            )
            .await
        }
    };
    for (name, password, why) in [
        ("zoe", "password123", "easy"),
        ("zoe", "qwertyuiop", "easy"),
        ("zoe", "1234567890", "easy"),
        ("zoe", "iloveyou2024", "easy"),
        ("zoe.h", "zoe.h-violet-tractor-47", "username"),
        ("Zoe", "my zoe is quartz-lantern-88", "username"),
        ("zoe", "short", "10 characters"),
    ] {
        let err = add(name, password).await.unwrap_err().to_string();
        assert!(err.contains(why), "{password}: {err}");
    }
    add("zoe", "violet tractor quartz lantern").await.unwrap();
    let err = add("ZOE", "another violet tractor quartz")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let mut c = Client::anonymous(&srv.base);
    assert_eq!(
        c.try_login("ZoE", "violet tractor quartz lantern").await,
        303
    );
}

/// `/api` answers every refusal as JSON and pages answer as HTML (or send
/// the browser to sign in), whichever layer refuses: no session, the
/// wrong role, an unknown route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refusals_are_json_and_page_refusals_are_html() {
    let srv = common::start(2, 1).await;
    let t0 = q(&srv.traces[0]);
    let content_type = |resp: &reqwest::Response| {
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };

    let anon = Client::anonymous(&srv.base);
    let resp = anon.get(&format!("/api/draft?trace={t0}")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(content_type(&resp), "application/json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"error": "sign in first", "status": 401}));
    let resp = anon.get(&format!("/review?trace={t0}")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        format!("/login?next=%2Freview%3Ftrace%3D{}", q(&t0)).as_str()
    );

    let dave = Client::login(&srv.base, "dave").await;
    let resp = dave.get(&format!("/api/draft?trace={t0}")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(content_type(&resp), "application/json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 403);
    assert!(
        body["error"].as_str().unwrap().contains("auditor"),
        "{body}"
    );
    let resp = dave.get("/queue").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(content_type(&resp), "text/html; charset=utf-8");
    assert!(resp.text().await.unwrap().contains("403 Forbidden"));

    for client in [&anon, &dave] {
        let resp = client.get("/api/no-such-route").await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.text().await.unwrap(), "");
    }
}
