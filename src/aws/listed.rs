//! Which objects an S3 listing named, as 64-bit hashes, so that a later HeadObject of one of
//! them can be told apart from one of a key no listing returned (issue 24 item 3). Keys are
//! never kept as text: a listing of a million keys costs 8 MB of hashes, a page's worth at a
//! time.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The S3 listings and where their keys are in the XML answer (`<Contents><Key>`; versions'
/// `<Version><Key>`: a delete marker names a key a HEAD would not find).
pub const KEY_PATHS: &[(&str, &[&str])] = &[
    ("ListObjectsV2", &["Contents", "Key"]),
    ("ListObjects", &["Contents", "Key"]),
    ("ListObjectVersions", &["Version", "Key"]),
];

/// The operations whose calls ask about one listed key.
pub const PER_KEY: &[&str] = &["HeadObject"];

/// The operations whose calls name one object: the per-key calls, and GetObject (whose bytes
/// and preceding HEADs the profiler follows).
pub const OBJECT_CALLS: &[&str] = &["HeadObject", "GetObject"];

/// The hash of an object key (its bytes as S3 stores them).
pub fn key_hash(key: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// The hash of an object: its bucket and its key's hash.
pub fn object_hash(bucket: &str, key_hash: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    bucket.hash(&mut hasher);
    key_hash.hash(&mut hasher);
    hasher.finish()
}

/// A key as it is in the XML text of a listing (entities not decoded), hashed.
pub fn xml_key_hash(raw: &[u8]) -> u64 {
    key_hash(&xml_text(raw))
}

/// The same, for a listing asked with `encoding-type=url` (botocore asks for it and decodes
/// keys as `unquote_plus` does).
pub fn xml_url_key_hash(raw: &[u8]) -> u64 {
    key_hash(&percent_decode(&xml_text(raw), true))
}

fn xml_text(raw: &[u8]) -> Cow<'_, [u8]> {
    // Most keys are plain UTF-8 with nothing escaped: hashed where they lie, as the decoding
    // below would give them back unchanged (once per listed key).
    if !raw.contains(&b'&') && std::str::from_utf8(raw).is_ok() {
        return Cow::Borrowed(raw);
    }
    let text = String::from_utf8_lossy(raw);
    Cow::Owned(match quick_xml::escape::unescape(&text) {
        Ok(text) => text.into_owned().into_bytes(),
        Err(_) => raw.to_vec(),
    })
}

/// Whether a listing request asked for URL-encoded keys.
pub fn url_encoded(query: Option<&str>) -> bool {
    query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("encoding-type=url"))
    })
}

/// The key hash of a per-key request, from its path-style path (`/bucket/key`).
pub fn request_key_hash(path_style: &str) -> Option<u64> {
    let (_, key) = path_style.strip_prefix('/')?.split_once('/')?;
    (!key.is_empty()).then(|| key_hash(&percent_decode(key.as_bytes(), false)))
}

fn percent_decode(text: &[u8], plus_is_space: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'%' if i + 2 < text.len() => {
                if let (Some(high), Some(low)) = (hex(text[i + 1]), hex(text[i + 2])) {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_key_and_its_request_hash_alike() {
        let listed = xml_key_hash(b"data/a &amp; b+c.parquet");
        assert_eq!(
            Some(listed),
            request_key_hash("/bucket/data/a%20%26%20b%2Bc.parquet")
        );
        assert_eq!(
            xml_url_key_hash(b"data/a+%26+b%2Bc.parquet"),
            listed,
            "encoding-type=url"
        );
        assert_ne!(Some(listed), request_key_hash("/bucket/data/other"));
        assert_eq!(request_key_hash("/bucket"), None);
        assert_eq!(request_key_hash("/bucket/k%4"), Some(key_hash(b"k%4")));
        assert_ne!(object_hash("a", listed), object_hash("b", listed));
        assert!(url_encoded(Some("list-type=2&encoding-type=url")));
        assert!(!url_encoded(Some("list-type=2")));
    }
}
