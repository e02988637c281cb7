//! Small readers of AWS wire encodings shared by identification and extraction.

/// The raw value of `key` in an `a=1&b=2` string (a form body or a query string).
pub fn form_value<'a>(encoded: &'a str, key: &str) -> Option<&'a str> {
    encoded.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// Decodes `%XX` escapes and `+` (form encoding). Invalid escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_escapes() {
        assert_eq!(form_value("Action=GetItem&Version=1", "Version"), Some("1"));
        assert_eq!(form_value("acl&x=1", "acl"), None);
        assert_eq!(percent_decode("a%2Fb%zz+c%4"), "a/b%zz c%4");
    }
}
