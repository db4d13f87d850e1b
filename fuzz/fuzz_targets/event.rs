//! Log entries. `Event::decode` accepts only canonical, valid envelopes; and
//! `Event::encode`'s fast path must agree byte for byte with full RFC 8785
//! canonicalization for any body, so arbitrary JSON is also tried as a body.
#![no_main]

use cts_ledger::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::decode(data) {
        assert_eq!(event.encode().expect("decoded event encodes"), data);
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let envelope = serde_json::json!({
        "actor": "cli:fuzz", "body": body, "kind": "note.appended",
        "time": "2026-01-01T00:00:00.000Z", "v": 1,
    });
    let event: Event = serde_json::from_value(envelope).expect("template is an envelope");
    if let Ok(fast) = event.encode() {
        let full = serde_json_canonicalizer::to_vec(&event).expect("RFC 8785 encodes");
        assert_eq!(fast, full, "fast encoding differs from RFC 8785");
    }
});
