//! Text or JSON output, chosen once by `--json`.

use serde::Serialize;

/// Where results go.
pub struct Output {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON when `--json`, else the text from `text`.
    pub fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        use std::io::Write;
        let text = if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: cannot encode output: {e}");
                    return;
                }
            }
        } else {
            text().trim_end().to_owned()
        };
        if !text.is_empty() {
            // A closed pipe (`cts … | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    /// A progress bar on stderr, hidden with `--json` or when stderr is not a terminal.
    pub fn progress(&self, len: u64, what: &str) -> indicatif::ProgressBar {
        if self.json {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }
}
