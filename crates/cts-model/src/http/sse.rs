//! Server-sent events, as far as chat completions need them: bytes in,
//! whole lines out, whatever the chunk boundaries.
//!
//! Not a general SSE parser: each `data:` line is taken as one JSON payload
//! (what OpenAI-compatible servers send); `event:`, `id:`, `retry:` and
//! comment lines are ignored by the caller.

use std::string::FromUtf8Error;

/// Buffers bytes until a line is complete. Lines end in `\n` or `\r\n`;
/// splitting only at `\n` keeps multi-byte UTF-8 characters whole.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no `\n`.
    scanned: usize,
}

impl LineBuffer {
    /// Appends bytes as they arrive.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, without its terminator; `None` until one is complete.
    pub(crate) fn next_line(&mut self) -> Option<Result<String, FromUtf8Error>> {
        let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
            self.scanned = self.buf.len();
            return None;
        };
        let end = self.scanned + pos;
        let mut line: Vec<u8> = self.buf.drain(..=end).collect();
        self.scanned = 0;
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(String::from_utf8(line))
    }

    /// What is left after the stream ended: a last line without terminator, if any.
    pub(crate) fn finish(&mut self) -> Option<Result<String, FromUtf8Error>> {
        if self.buf.is_empty() {
            return None;
        }
        let mut line = std::mem::take(&mut self.buf);
        self.scanned = 0;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(String::from_utf8(line))
    }
}

/// The payload of a `data:` line (one optional space after the colon is dropped).
pub(crate) fn data_payload(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("data:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "data: {\"t\":\"β-blocker\"}\r\n\r\n: keep-alive\n\ndata:{\"t\":\"5 µg ≥ 3\"}\n\ndata: [DONE]\n\n";

    fn payloads(chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = LineBuffer::default();
        let mut out = Vec::new();
        for chunk in chunks {
            lines.feed(chunk);
            while let Some(line) = lines.next_line() {
                let line = line.expect("valid UTF-8");
                if let Some(data) = data_payload(&line) {
                    out.push(data.to_owned());
                }
            }
        }
        if let Some(line) = lines.finish() {
            let line = line.expect("valid UTF-8");
            if let Some(data) = data_payload(&line) {
                out.push(data.to_owned());
            }
        }
        out
    }

    fn expected() -> Vec<String> {
        vec![
            "{\"t\":\"β-blocker\"}".into(),
            "{\"t\":\"5 µg ≥ 3\"}".into(),
            "[DONE]".into(),
        ]
    }

    #[test]
    fn lines_are_whole_at_every_two_way_split() {
        let bytes = BODY.as_bytes();
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(payloads(&[a, b]), expected(), "split at byte {cut}");
        }
    }

    #[test]
    fn lines_are_whole_when_fed_one_byte_at_a_time() {
        let chunks: Vec<&[u8]> = BODY.as_bytes().chunks(1).collect();
        assert_eq!(payloads(&chunks), expected());
    }

    #[test]
    fn last_line_without_terminator_is_kept() {
        assert_eq!(payloads(&[b"data: x\r\ndata: y"]), vec!["x", "y"]);
    }

    #[test]
    fn invalid_utf8_in_a_line_is_an_error() {
        let mut lines = LineBuffer::default();
        lines.feed(b"data: \xff\n");
        assert!(matches!(lines.next_line(), Some(Err(_))));
    }
}
