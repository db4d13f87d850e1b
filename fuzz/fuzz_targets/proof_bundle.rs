//! `tlog-proof@v1` bundles: parse strictly, verify what parses, and check
//! that a parsed bundle re-encodes to itself.
#![no_main]

use std::sync::OnceLock;

use cts_ledger::bundle::ProofBundle;
use cts_ledger::{LogSigner, LogVerifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static LogVerifier {
    static VERIFIER: OnceLock<LogVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let (_, vkey) = LogSigner::generate("cts.fuzz/log").expect("valid origin");
        LogVerifier::new(&vkey).expect("generated key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = ProofBundle::parse(data) else {
        return;
    };
    let _ = bundle.verify(verifier(), None);
    let again = ProofBundle::parse(&bundle.to_text()).expect("re-encoded bundle parses");
    assert_eq!(again, bundle);
});
