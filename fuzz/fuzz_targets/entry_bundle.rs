//! C2SP entry bundles: the first byte picks the expected entry count
//! (0..=255, plus 256 for a full tile), the rest is the bundle.
#![no_main]

use cts_ledger::tile::{decode_bundle, encode_bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    // 0xff stands for a full tile; 255 itself is then never asked for, which costs nothing.
    let expected = if first == 0xff {
        256
    } else {
        usize::from(first)
    };
    if let Ok(entries) = decode_bundle(bytes, expected) {
        assert_eq!(entries.len(), expected);
        assert_eq!(encode_bundle(entries).expect("entries fit"), bytes);
    }
});
