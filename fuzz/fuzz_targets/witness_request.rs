//! C2SP tlog-witness `add-checkpoint` request bodies: parse strictly, run
//! what parses through the witness's checks (signature, old size, proof),
//! and check that a parsed request re-encodes to itself.
#![no_main]

use std::sync::OnceLock;

use cts_ledger::{Hash, LogSigner, LogVerifier, TreeSize};
use cts_witness::{AddCheckpointRequest, Cosigner, Witness, WitnessedTree};
use libfuzzer_sys::fuzz_target;

fn witness() -> &'static Witness {
    static WITNESS: OnceLock<Witness> = OnceLock::new();
    WITNESS.get_or_init(|| {
        let (_, vkey) = LogSigner::generate("cts.fuzz/log").expect("valid origin");
        let (skey, _) = Cosigner::generate("cts.fuzz/witness").expect("valid name");
        Witness::new(
            Cosigner::from_private_key(&skey).expect("generated key parses"),
            vec![LogVerifier::new(&vkey).expect("generated key parses")],
        )
        .expect("one log")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = AddCheckpointRequest::parse(data) else {
        return;
    };
    assert_eq!(AddCheckpointRequest::parse(&request.encode()), Ok(request));
    if let Ok(signed) = witness().open(data) {
        let _ = witness().check(&signed, None);
        let _ = witness().check(
            &signed,
            Some(WitnessedTree {
                size: TreeSize(5),
                root: Hash([0; 32]),
            }),
        );
    }
});
