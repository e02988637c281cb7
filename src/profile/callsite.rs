//! The labels a client puts on its own calls: `x-tollgate-callsite: <path>:<line> <function>`
//! (the line of the program that made the call) and `x-tollgate-test: <test id>` (the test that
//! was running). tollgate's Python bootstrap sends them; any client may (README's "Call sites").
//! The proxy removes them before the request goes on ([`crate::proxy::OWN_HEADER_PREFIX`]);
//! here they are read, bounded and cleaned, and used as labels only: never trusted for
//! anything else.

use http::HeaderMap;

/// The call-site header.
pub const CALLSITE_HEADER: &str = "x-tollgate-callsite";
/// The test header.
pub const TEST_HEADER: &str = "x-tollgate-test";
/// The longest value kept, in bytes as sent; a longer one is dropped (and counted).
pub const MAX_LABEL: usize = 512;

/// What one header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Absent,
    Kept(String),
    /// Longer than [`MAX_LABEL`], or empty once cleaned.
    Dropped,
}

impl Label {
    pub fn kept(self) -> Option<String> {
        match self {
            Label::Kept(text) => Some(text),
            _ => None,
        }
    }
}

/// The label in `name`, percent-decoded (the bootstrap encodes anything but printable ASCII),
/// with control characters replaced by `?`. Only the first value counts.
pub fn label(headers: &HeaderMap, name: &str) -> Label {
    let Some(value) = headers.get(name) else {
        return Label::Absent;
    };
    let raw = value.as_bytes();
    if raw.len() > MAX_LABEL {
        return Label::Dropped;
    }
    let text = clean(&percent_decode(raw));
    if text.trim().is_empty() {
        Label::Dropped
    } else {
        Label::Kept(text.trim().to_string())
    }
}

/// How many of the labels in `headers` are too long to keep (counted by the profiler).
pub fn dropped(headers: &HeaderMap) -> u64 {
    [CALLSITE_HEADER, TEST_HEADER]
        .iter()
        .filter(|name| matches!(label_len(headers, name), Some(len) if len > MAX_LABEL))
        .count() as u64
}

fn label_len(headers: &HeaderMap, name: &str) -> Option<usize> {
    headers.get(name).map(|value| value.as_bytes().len())
}

fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CALLSITE_HEADER, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn a_label_is_read_as_sent() {
        assert_eq!(
            label(&headers(b"sync.py:42 copy_all"), CALLSITE_HEADER),
            Label::Kept("sync.py:42 copy_all".into())
        );
        assert_eq!(label(&HeaderMap::new(), CALLSITE_HEADER), Label::Absent);
        assert_eq!(label(&headers(b"x"), TEST_HEADER), Label::Absent);
    }

    #[test]
    fn percent_encoding_is_decoded_and_control_characters_are_not_kept() {
        assert_eq!(
            label(&headers(b"caf%C3%A9.py:3 f%25"), CALLSITE_HEADER).kept(),
            Some("café.py:3 f%".into())
        );
        assert_eq!(
            label(&headers(b"a%0Ab%1B.py:1 g"), CALLSITE_HEADER).kept(),
            Some("a?b?.py:1 g".into())
        );
        // Not an escape: kept as it is, up to the very end.
        assert_eq!(
            label(&headers(b"100%.py:1 f%4"), CALLSITE_HEADER).kept(),
            Some("100%.py:1 f%4".into())
        );
        assert_eq!(
            label(&headers(b"%FF.py:1 f"), CALLSITE_HEADER).kept(),
            Some("\u{fffd}.py:1 f".into())
        );
    }

    #[test]
    fn labels_are_bounded() {
        let longest = format!("{}.py:1 f", "a".repeat(MAX_LABEL - 7));
        assert_eq!(longest.len(), MAX_LABEL);
        assert_eq!(
            label(&headers(longest.as_bytes()), CALLSITE_HEADER),
            Label::Kept(longest.clone())
        );
        let longer = format!("a{longest}");
        assert_eq!(
            label(&headers(longer.as_bytes()), CALLSITE_HEADER),
            Label::Dropped
        );
        assert_eq!(label(&headers(b"  "), CALLSITE_HEADER), Label::Dropped);
        assert_eq!(dropped(&headers(longer.as_bytes())), 1);
        assert_eq!(dropped(&headers(longest.as_bytes())), 0);
    }
}
