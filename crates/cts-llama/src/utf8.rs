//! Turns a stream of token bytes into whole UTF-8 text.
//!
//! A token can end in the middle of a multi-byte character; this module holds
//! such a tail back until the next token completes it, so streamed pieces are
//! always whole characters. Pure: bytes in, text out.

/// Accumulates raw bytes and releases the longest prefix of whole characters.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and returns the whole characters now available.
    ///
    /// Bytes that can never become valid UTF-8 are replaced by U+FFFD; an
    /// incomplete character at the end is kept for the next call.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(text) => {
                    out.push_str(text);
                    start = self.pending.len();
                    break;
                }
                Err(err) => {
                    let valid_end = start + err.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[start..valid_end]));
                    match err.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid_end + bad;
                        }
                        None => {
                            start = valid_end;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        out
    }

    /// Releases whatever is left, replacing an unfinished character by U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Stream;

    #[test]
    fn ascii_passes_through_at_once() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(b"dose"), "dose");
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn split_multibyte_character_is_held_until_complete() {
        let micro = "µg".as_bytes(); // µ is two bytes
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(&micro[..1]), "");
        assert_eq!(s.push(&micro[1..]), "µg");
    }

    #[test]
    fn four_byte_character_split_three_ways_is_emitted_once() {
        let pill = "💊".as_bytes();
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(&pill[..1]), "");
        assert_eq!(s.push(&pill[1..3]), "");
        assert_eq!(s.push(&pill[3..]), "💊");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(b"a\xffb"), "a\u{FFFD}b");
    }

    #[test]
    fn unfinished_tail_is_replaced_at_finish() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(b"x\xe2\x82"), "x");
        assert_eq!(s.finish(), "\u{FFFD}");
    }
}
