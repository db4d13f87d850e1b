//! Signed checkpoints: `LogVerifier::open` and the raw C2SP checkpoint parser
//! must reject any input without panicking.
#![no_main]

use std::sync::OnceLock;

use cts_ledger::{LogSigner, LogVerifier};
use libfuzzer_sys::fuzz_target;

/// One verifier key for the whole run, so inputs are reproducible within it.
fn verifier() -> &'static LogVerifier {
    static VERIFIER: OnceLock<LogVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let (_, vkey) = LogSigner::generate("cts.fuzz/log").expect("valid origin");
        LogVerifier::new(&vkey).expect("generated key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = verifier().open(data);
    let _ = tlog_tiles::Checkpoint::from_bytes(data);
});
