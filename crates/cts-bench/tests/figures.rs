//! The benchmarks that need no model, browser or `cts` binary, run small:
//! each counts what it was asked to do and reports every figure of its
//! `--json` output, and its text report starts as `cts bench` prints it.

use std::sync::Arc;

use cts_bench::Progress;

fn hidden() -> Progress {
    Arc::new(|_, _| indicatif::ProgressBar::hidden())
}

fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_benchmark_appends_audits_and_proves_every_event() {
    let f = cts_bench::ledger::run(None, 600, 2, 64, 50, &hidden())
        .await
        .unwrap();
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v["events"], 600);
    assert!(v["group_commits"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["hash_bytes_per_leaf"].as_f64().unwrap() > 32.0, "{v}");
    assert_eq!(
        keys(&v),
        [
            "append_events_per_s",
            "append_vs_plain_insert",
            "audit_leaves_per_s",
            "audit_vs_read_and_hash",
            "baseline_plain_insert_rows_per_s",
            "baseline_read_and_hash_rows_per_s",
            "encode_events_per_s_one_core",
            "entry_bytes_avg",
            "events",
            "group_commits",
            "hash_bytes_per_leaf",
            "peak_rss_mib",
            "proof_max_us",
            "proof_p50_us",
            "proof_p99_us",
            "tree_root_us",
        ]
    );
    let text = f.to_string();
    assert!(
        text.starts_with("ledger benchmark, 600 events of ~"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 9, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_benchmark_sends_every_request_through_both_clients() {
    let f = cts_bench::http::run(40, 4, None).await.unwrap();
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v["requests"], 40);
    assert_eq!(v["concurrency"], 4);
    assert_eq!(
        keys(&v),
        [
            "bare_p50_us",
            "bare_p99_us",
            "bare_requests_per_s",
            "concurrency",
            "cts_p50_us",
            "cts_p99_us",
            "cts_requests_per_s",
            "overhead_p50_us",
            "overhead_p99_us",
            "requests",
        ]
    );
    let text = f.to_string();
    assert!(
        text.starts_with("HTTP dispatch, 40 requests at concurrency 4 to a zero-latency stub"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redteam_benchmark_judges_every_instance() {
    let f = cts_bench::redteam::run(30, 4).await.unwrap();
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v["instances"], 30);
    let text = f.to_string();
    assert!(
        text.starts_with("red-team dispatch, 30 instances at concurrency 4"),
        "{text}"
    );
}

#[test]
fn peak_memory_is_read_from_proc() {
    assert!(cts_bench::peak_rss_mib() > 0.0);
}
