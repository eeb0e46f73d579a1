//! Secrets kept out of every text the connector writes. A secret can reach a message by paths
//! no code meant (an API or a proxy echoing the key in an error body, a panic), and a text may be
//! cut before anyone reads it, so matching the whole secret is not enough: any run of
//! `FRAGMENT` or more characters taken from a secret, from its percent-encoded forms or from its
//! base64 forms (at each of the three alignments base64 can give it) is replaced, and so is a
//! run found once a text's JSON string escapes (`\"`, `\\`, `\/`, `\uXXXX` in either case,
//! surrogate pairs), nested up to `JSON_DEPTH` deep, are read: a server that echoes a request
//! in its error body escapes what it echoes, each escaper its own way. One `Scrubber`
//! serves every path that emits text (LOG, TRACE, connection status, stderr), a process-wide one
//! serves the panic hook, and a text is cut only after it is scrubbed (`scrub_cut`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::RwLock;

use base64::Engine;

mod json;

/// The shortest run of a secret's characters that is redacted: shorter ones say too little to
/// matter, and would match ordinary text.
pub const FRAGMENT: usize = 8;

/// What a redacted run becomes.
pub const REDACTED: &str = "(redacted)";

/// Redacts the secrets it is told, in any text.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Every run of `FRAGMENT` bytes of every form of every secret: a text's run of bytes that
    /// is one of them is part of a secret.
    grams: HashSet<[u8; FRAGMENT]>,
    /// Forms shorter than `FRAGMENT`, matched whole.
    short: Vec<String>,
    /// The longest form, in characters: how far past a cut a secret that the cut splits can
    /// reach.
    longest: usize,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} fragments)", self.grams.len())
    }
}

impl Scrubber {
    pub fn new() -> Scrubber {
        Scrubber::default()
    }

    /// From now on, `secret` and its percent-encoded and base64 forms are redacted, and its
    /// JSON-escaped forms (which `scrub` reads decoded).
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        self.add_form(secret.as_bytes());
        // Escaped, a byte takes up to 7 characters (`\\u00e9` for one of `é`'s two bytes):
        // a secret split by a cut reaches that far past it.
        self.longest = self.longest.max(secret.len() * 7);
        if secret.len() < FRAGMENT {
            for form in json_escaped_forms(secret) {
                self.add_form(form.as_bytes());
            }
        }
        for upper in [true, false] {
            self.add_encoded(percent_encoded(secret.as_bytes(), upper, false).as_bytes());
            self.add_encoded(percent_encoded(secret.as_bytes(), upper, true).as_bytes());
        }
        for form in base64_forms(secret.as_bytes()) {
            self.add_encoded(form.as_bytes());
        }
    }

    /// An encoded form: only its runs of `FRAGMENT` count. A shorter one (the base64 of a short
    /// secret can be a letter or two) would redact ordinary text and say nothing of the secret.
    fn add_encoded(&mut self, form: &[u8]) {
        if form.len() >= FRAGMENT {
            self.add_form(form);
        }
    }

    /// Redacts the basic-auth credentials `user:password` as an `Authorization` header carries
    /// them (the password alone is told with `add`).
    pub fn add_basic_auth(&mut self, user: &str, password: &str) {
        let pair = format!("{user}:{password}");
        for form in base64_forms(pair.as_bytes()) {
            self.add_encoded(form.as_bytes());
        }
    }

    /// Everything `other` redacts is redacted here too.
    pub fn merge(&mut self, other: &Scrubber) {
        self.grams.extend(other.grams.iter().copied());
        for s in &other.short {
            if !self.short.contains(s) {
                self.short.push(s.clone());
            }
        }
        self.longest = self.longest.max(other.longest);
    }

    pub fn is_empty(&self) -> bool {
        self.grams.is_empty() && self.short.is_empty()
    }

    fn add_form(&mut self, form: &[u8]) {
        if form.is_empty() {
            return;
        }
        self.longest = self.longest.max(form.len());
        if form.len() < FRAGMENT {
            let text = String::from_utf8_lossy(form).into_owned();
            if !self.short.contains(&text) {
                self.short.push(text);
            }
            return;
        }
        for w in form.windows(FRAGMENT) {
            self.grams
                .insert(w.try_into().expect("windows have FRAGMENT bytes"));
        }
    }

    /// `text` with every run of a secret's characters (`FRAGMENT` or more) replaced by
    /// `REDACTED`. Runs that touch or overlap become one.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let bytes = text.as_bytes();
        let mut runs = self.runs(bytes);
        if !self.grams.is_empty() {
            // The same runs in the text with its JSON escapes read, mapped back to the escapes.
            let views = json::views(bytes);
            for view in &views {
                for (start, end) in self.runs(&view.bytes) {
                    runs.push((view.spans[start].0, view.spans[end - 1].1));
                }
            }
            if !views.is_empty() {
                runs.sort_unstable();
            }
        }
        let mut text = if runs.is_empty() {
            Cow::Borrowed(text)
        } else {
            let mut out = String::with_capacity(text.len());
            let mut at = 0;
            // Where the last redaction ended: a run that starts there is part of it.
            let mut redacted_to = None;
            for (mut start, mut end) in runs {
                // A secret with characters beyond ASCII: the whole characters go.
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                let start = start.max(at);
                if redacted_to != Some(start) {
                    out.push_str(&text[at..start]);
                    out.push_str(REDACTED);
                }
                at = end.max(at);
                redacted_to = Some(at);
            }
            out.push_str(&text[at..]);
            Cow::Owned(out)
        };
        for s in &self.short {
            if text.contains(s.as_str()) {
                text = Cow::Owned(text.replace(s.as_str(), REDACTED));
            }
        }
        text
    }

    /// The runs of `bytes` made of a secret's grams, in order; runs that touch or overlap are
    /// one.
    fn runs(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        if self.grams.is_empty() || bytes.len() < FRAGMENT {
            return runs;
        }
        for i in 0..=bytes.len() - FRAGMENT {
            let gram: &[u8; FRAGMENT] = bytes[i..i + FRAGMENT]
                .try_into()
                .expect("a slice of FRAGMENT bytes");
            if !self.grams.contains(gram) {
                continue;
            }
            match runs.last_mut() {
                Some(last) if last.1 >= i => last.1 = i + FRAGMENT,
                _ => runs.push((i, i + FRAGMENT)),
            }
        }
        runs
    }

    /// At most `max_chars` characters of `text`, scrubbed before the cut: a secret that the cut
    /// splits is redacted whole, so no part of it is left before the cut. Only the part of a long
    /// text that can reach the cut is scrubbed.
    pub fn scrub_cut(&self, text: &str, max_chars: usize) -> String {
        let reach = max_chars.saturating_add(self.longest);
        let window = match text.char_indices().nth(reach) {
            Some((i, _)) => &text[..i],
            None => text,
        };
        self.scrub(window).chars().take(max_chars).collect()
    }
}

/// The JSON-escaped forms of a short secret, which is matched whole and so not found in a decoded
/// view: as serde_json writes it, with `/` escaped too, and with every character beyond ASCII
/// as `\uXXXX` in upper and lower case (Python's and PHP's encoders).
fn json_escaped_forms(secret: &str) -> Vec<String> {
    let plain = serde_json::to_string(secret).expect("a string serializes");
    let plain = plain[1..plain.len() - 1].to_string();
    let mut forms = vec![plain.replace('/', "\\/")];
    for upper in [false, true] {
        let mut ascii = String::new();
        for c in plain.chars() {
            if c.is_ascii() {
                ascii.push(c);
                continue;
            }
            for unit in c.encode_utf16(&mut [0u16; 2]) {
                if upper {
                    ascii.push_str(&format!("\\u{unit:04X}"));
                } else {
                    ascii.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        forms.push(ascii);
    }
    forms.push(plain);
    forms.retain(|f| f != secret);
    forms.sort();
    forms.dedup();
    forms
}

/// `bytes` percent-encoded as in a URL (RFC 3986: all but unreserved characters), with upper
/// or lower case hex digits, and spaces as `+` when `plus` (form encoding).
fn percent_encoded(bytes: &[u8], upper: bool, plus: bool) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else if plus && b == b' ' {
            out.push('+');
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The base64 characters that encode `bytes` whatever comes before and after them: `bytes` may
/// start at any of the three positions of a 3-byte group, and the characters that mix in bits of
/// the unknown neighbours are left out. Standard and URL-safe alphabets.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for offset in 0..3 {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(bytes);
        // Characters before the secret's first bit, or mixing in the bytes before it.
        let skip = [0, 2, 3][offset];
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&shifted);
            // The last character of a partial group mixes in the bits of the byte after.
            let end = if shifted.len() % 3 == 0 {
                encoded.len()
            } else {
                encoded.len() - 1
            };
            if end > skip {
                forms.push(encoded[skip..end].to_string());
            }
        }
    }
    forms
}

/// The secrets of this process, for the panic hook, which has no writer to ask.
static PROCESS: RwLock<Option<Scrubber>> = RwLock::new(None);

/// From now on, the panic hook redacts what `scrubber` redacts.
pub fn protect_process(scrubber: &Scrubber) {
    let mut held = PROCESS.write().unwrap_or_else(|e| e.into_inner());
    held.get_or_insert_with(Scrubber::new).merge(scrubber);
}

/// `text` scrubbed of every secret the process was told (`protect_process`).
pub fn scrub_process(text: &str) -> String {
    match PROCESS.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(s) => s.scrub(text).into_owned(),
        None => text.to_string(),
    }
}

/// Replaces the default panic message (which prints whatever the panic says) with the same
/// message scrubbed of the process's secrets, on stderr. A stderr that cannot be written is
/// ignored, as the default hook does: a panic while panicking would abort.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        use std::io::Write;
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let mut message = scrub_process(&format!("thread '{name}' {info}"));
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            message.push('\n');
            message.push_str(&scrub_process(&backtrace.to_string()));
        }
        let _ = writeln!(std::io::stderr().lock(), "{message}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef01234567";

    fn scrubber() -> Scrubber {
        let mut s = Scrubber::new();
        s.add(KEY);
        s
    }

    /// Every run of `FRAGMENT` characters of `secret` that is in `text`.
    fn leaks(secret: &str, text: &str) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(FRAGMENT)
            .map(|w| w.iter().collect::<String>())
            .filter(|w| text.contains(w.as_str()))
            .collect()
    }

    #[test]
    fn any_fragment_of_eight_or_more_is_redacted() {
        let s = scrubber();
        for len in FRAGMENT..=KEY.len() {
            for start in 0..=KEY.len() - len {
                let piece = &KEY[start..start + len];
                let text = format!("token {piece} rejected");
                let out = s.scrub(&text);
                assert_eq!(out, "token (redacted) rejected", "{piece}");
            }
        }
        // Shorter runs are kept: they say nothing, and ordinary text has them.
        assert_eq!(s.scrub("id 0123456 ok"), "id 0123456 ok");
    }

    #[test]
    fn encoded_forms_are_redacted() {
        let mut s = Scrubber::new();
        let password = "pässword with spaces&more";
        s.add(password);
        s.add_basic_auth("hooks", password);
        let pct = percent_encoded(password.as_bytes(), true, false);
        let lower = percent_encoded(password.as_bytes(), false, false);
        let form = percent_encoded(password.as_bytes(), true, true);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("hooks:{password}"));
        for text in [pct, lower, form, basic] {
            let sent = format!("sent: {text}!");
            let out = s.scrub(&sent);
            assert!(out.starts_with("sent: (redacted)"), "{text}: {out}");
            assert!(leaks(&text, &out).is_empty(), "{text}: {out}");
        }
        // The secret's base64 at each alignment, cut anywhere, inside other base64.
        for prefix in ["", "a", "ab", "abc"] {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{password}.."));
            let out = s.scrub(&encoded);
            assert!(out.contains(REDACTED), "{prefix}: {out}");
            // What is left encodes the prefix, the dots and the bits they share with the
            // password: less than a fragment on each side.
            let left = out.split(REDACTED).map(str::len).max().unwrap_or_default();
            assert!(left < FRAGMENT, "{prefix}: {out}");
        }
    }

    /// `secret` as a JSON string's content, escaped as encoders do: `\/` for `/`, every
    /// character beyond ASCII (or every one) as `\uXXXX` in upper or lower case.
    fn escaped(secret: &str, slash: bool, ascii_only: bool, upper: bool) -> String {
        let mut out = String::new();
        for c in secret.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if slash => out.push_str("\\/"),
                c if c.is_ascii() && !c.is_control() => out.push(c),
                c if !ascii_only && !c.is_control() => out.push(c),
                c => {
                    for unit in c.encode_utf16(&mut [0u16; 2]) {
                        match upper {
                            true => out.push_str(&format!("\\u{unit:04X}")),
                            false => out.push_str(&format!("\\u{unit:04x}")),
                        }
                    }
                }
            }
        }
        out
    }

    /// The webhook passwords that came out whole as JSON escapes, and more: quotes,
    /// backslashes, slashes, Cyrillic, an emoji (a surrogate pair), each escaped by every
    /// encoder's rules, once and twice (JSON inside a JSON string), cut anywhere.
    #[test]
    fn json_escaped_forms_are_redacted() {
        for secret in [
            r#"Q"7\x"9\k"2\m"4"#,
            "пароль-вебхука-2024",
            "a/b/c/d/e/f/g/h/i/j",
            "emoji😀pass😀word😀",
            "tab\tand\nnewline\u{1}x",
        ] {
            let mut s = Scrubber::new();
            s.add(secret);
            let mut forms = Vec::new();
            for slash in [false, true] {
                for ascii_only in [false, true] {
                    for upper in [false, true] {
                        let once = escaped(secret, slash, ascii_only, upper);
                        forms.push(escaped(&once, slash, ascii_only, upper));
                        forms.push(once);
                    }
                }
            }
            for form in forms {
                let body = format!(r#"{{"error":null,"errors":{{"password":"{form}"}}}}"#);
                let out = s.scrub(&body);
                assert!(out.contains(REDACTED), "{secret:?} as {form}: {out}");
                assert!(leaks(secret, &out).is_empty(), "{form}: {out}");
                assert!(leaks(&form, &out).is_empty(), "{form}: {out}");
                assert!(
                    out.starts_with(r#"{"error":null,"errors":{"password":""#)
                        && out.ends_with(r#""}}"#),
                    "the text around is kept: {out}"
                );
                for cut in 1..body.chars().count() {
                    let out = s.scrub_cut(&body, cut);
                    assert!(leaks(&form, &out).is_empty(), "{form} cut at {cut}: {out}");
                }
            }
        }
        // A short secret is matched whole in its escaped forms too.
        let mut s = Scrubber::new();
        s.add("п\"ss");
        assert_eq!(s.scrub(r#"x \u043f\"ss y"#), "x (redacted) y");
        assert_eq!(s.scrub(r#"x \u043F\"ss y"#), "x (redacted) y");
    }

    #[test]
    fn text_around_and_between_secrets_is_kept() {
        let s = scrubber();
        assert_eq!(
            s.scrub(&format!("a{KEY}b{KEY}{KEY}c")),
            "a(redacted)b(redacted)c"
        );
        assert_eq!(s.scrub("nothing here"), "nothing here");
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_secrets_are_matched_whole() {
        let mut s = Scrubber::new();
        s.add("k3y");
        s.add("k");
        assert_eq!(s.scrub("bad k3y, k3"), "bad (redacted), (redacted)3");
        // Their encoded forms are a few letters: not matched, or any text would go.
        assert_eq!(
            s.scrub("GET /v1/users/me: Connection refused (base_url)"),
            "GET /v1/users/me: Connection refused (base_url)"
        );
    }

    #[test]
    fn non_ascii_secrets_leave_valid_text() {
        let mut s = Scrubber::new();
        s.add("ééééééééé");
        assert_eq!(s.scrub("xéééééééééy"), "x(redacted)y");
        assert_eq!(s.scrub("xééééy"), "x(redacted)y");
    }

    #[test]
    fn a_cut_never_leaves_part_of_a_secret() {
        let s = scrubber();
        for offset in 0..=360 {
            let body = format!("{}{KEY}{}", "x".repeat(offset), "y".repeat(50));
            // Every cut from just before the key to just after it.
            for cut in offset.max(1)..=offset + KEY.len() + 1 {
                let out = s.scrub_cut(&body, cut);
                assert!(out.chars().count() <= cut);
                assert!(
                    leaks(KEY, &out).is_empty(),
                    "offset {offset}, cut {cut}: {out}"
                );
            }
        }
    }

    /// The panic hook, in a process of its own (it is process-wide, and writes to stderr): this
    /// test binary run again on this test alone, which then panics with parts of a secret.
    #[test]
    fn a_panic_message_is_scrubbed() {
        const SECRET: &str = "panic secret/0123456789abcdef";
        if std::env::var_os("SECRETS_PANIC_CHILD").is_some() {
            install_panic_hook();
            let mut s = Scrubber::new();
            s.add(SECRET);
            protect_process(&s);
            let url = percent_encoded(SECRET.as_bytes(), true, false);
            std::thread::Builder::new()
                .name("delivery".into())
                .spawn(move || panic!("bad token {} ({url})", &SECRET[3..15]))
                .unwrap()
                .join()
                .unwrap_or_else(|_| std::process::exit(3));
        }
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "secrets::tests::a_panic_message_is_scrubbed"])
            .args(["--nocapture", "--test-threads=1"])
            .env("SECRETS_PANIC_CHILD", "1")
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        assert_eq!(child.status.code(), Some(3), "the child panicked");
        let stderr = String::from_utf8_lossy(&child.stderr);
        assert!(
            stderr.contains("thread 'delivery' panicked at")
                && stderr.contains("bad token (redacted) ((redacted))"),
            "{stderr}"
        );
        assert!(leaks(SECRET, &stderr).is_empty(), "{stderr}");
    }

    #[test]
    fn the_process_scrubber_redacts_what_it_was_told() {
        let mut s = Scrubber::new();
        s.add("process-wide-secret-value");
        protect_process(&s);
        assert_eq!(
            scrub_process("panicked: process-wide-secret-value"),
            "panicked: (redacted)"
        );
    }
}
