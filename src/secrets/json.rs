//! A text read as if its JSON string escapes were decoded, with the place each decoded byte came
//! from: the scrubber looks for secrets in this view too, and redacts the escapes they came
//! from. Escapers differ (`\/` or `/`, `\u00e9` or `\u00E9` or `é`, `\u0022` or `\"`), and may
//! mix forms in one string, so decoding what is there finds them all where listing every
//! escaped form of a secret could not. An escape that is not valid JSON (a lone surrogate, `\x`)
//! is kept as it is.

/// A decoded view: `bytes[i]` came from `spans[i]` (start, end) of the text it was read from.
pub(super) struct View {
    pub bytes: Vec<u8>,
    pub spans: Vec<(usize, usize)>,
}

/// How many layers of escaping are read: JSON quoted inside a JSON string (an echoed request
/// body in an error message) is escaped twice, and a log line of that once more.
pub(super) const JSON_DEPTH: usize = 3;

/// The views of `text` with one, two, ... `JSON_DEPTH` layers of escapes decoded, as long as a
/// layer has escapes left; spans are in `text`'s bytes.
pub(super) fn views(text: &[u8]) -> Vec<View> {
    let mut views: Vec<View> = Vec::new();
    for _ in 0..JSON_DEPTH {
        let from = views.last().map_or(text, |v| &v.bytes[..]);
        let Some(mut next) = decode(from) else {
            break;
        };
        if let Some(outer) = views.last() {
            for span in &mut next.spans {
                *span = (outer.spans[span.0].0, outer.spans[span.1 - 1].1);
            }
        }
        views.push(next);
    }
    views
}

/// One layer of escapes decoded; `None` when `text` has none.
fn decode(text: &[u8]) -> Option<View> {
    if !text.contains(&b'\\') {
        return None;
    }
    let mut view = View {
        bytes: Vec::with_capacity(text.len()),
        spans: Vec::with_capacity(text.len()),
    };
    let mut i = 0;
    let mut decoded_any = false;
    while i < text.len() {
        if let Some((len, ch)) = escape_at(text, i) {
            let mut buf = [0u8; 4];
            for &b in ch.encode_utf8(&mut buf).as_bytes() {
                view.bytes.push(b);
                view.spans.push((i, i + len));
            }
            decoded_any = true;
            i += len;
        } else {
            view.bytes.push(text[i]);
            view.spans.push((i, i + 1));
            i += 1;
        }
    }
    decoded_any.then_some(view)
}

/// The escape at `text[i]`, if there is a valid one: its length and the character it stands for.
fn escape_at(text: &[u8], i: usize) -> Option<(usize, char)> {
    if text[i] != b'\\' {
        return None;
    }
    let ch = match *text.get(i + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return unicode_at(text, i),
        _ => return None,
    };
    Some((2, ch))
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00` (12 bytes, one character).
fn unicode_at(text: &[u8], i: usize) -> Option<(usize, char)> {
    let unit = hex4(text.get(i + 2..i + 6)?)?;
    match unit {
        0xD800..=0xDBFF => {
            if text.get(i + 6..i + 8)? != b"\\u" {
                return None;
            }
            let low = hex4(text.get(i + 8..i + 12)?)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            Some((12, char::from_u32(code)?))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((6, char::from_u32(unit)?)),
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(digits).ok()?;
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(text: &str) -> Vec<String> {
        views(text.as_bytes())
            .iter()
            .map(|v| String::from_utf8_lossy(&v.bytes).into_owned())
            .collect()
    }

    #[test]
    fn every_escape_is_read() {
        assert!(views(b"no escapes here").is_empty());
        assert_eq!(
            decoded(r#"Q\"7\\x\/\u043F\u0430\ud83d\ude00\n"#),
            ["Q\"7\\x/па😀\n"]
        );
        // Invalid escapes stay as they are.
        assert_eq!(decoded(r#"\x \ud800 \udc00 \u12"#), Vec::<String>::new());
        assert_eq!(decoded(r#"\x\ud800\"\u12"#), [r#"\x\ud800"\u12"#]);
    }

    #[test]
    fn nested_escapes_are_read_layer_by_layer_with_spans_in_the_text() {
        let text = r#"a\\\"b\\u00e9"#;
        let v = views(text.as_bytes());
        assert_eq!(v.len(), 2);
        assert_eq!(String::from_utf8_lossy(&v[0].bytes), r#"a\"b\u00e9"#);
        assert_eq!(String::from_utf8_lossy(&v[1].bytes), "a\"bé");
        // `"` came from `\\\"`, each byte of `é` from `\\u00e9`.
        assert_eq!(v[1].spans[1], (1, 5));
        assert_eq!(v[1].spans[3], (6, 13));
        assert_eq!(v[1].spans[4], (6, 13));
    }
}
