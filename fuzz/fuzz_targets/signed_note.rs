//! C2SP signed notes: the parser must reject any input without panicking, and
//! whatever it accepts must survive a re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signed_note::Note;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = Note::from_bytes(data) {
        let again = Note::from_bytes(&note.to_bytes()).expect("re-encoded note parses");
        assert_eq!(again.text(), note.text());
    }
});
