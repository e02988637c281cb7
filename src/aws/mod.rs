//! Identifying AWS calls: which service, operation and region an exchange is.
//!
//! Knows nothing of the proxy or of storage: it reads a request head, a bounded body prefix and
//! the response head.

pub mod document;
pub mod extract;
pub mod host;
pub mod identify;
pub mod model;
pub mod pages;
pub mod router;
pub mod signing;
pub mod sigv4;
pub mod usage;
mod wire;

/// Entry points for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod fuzzing {
    use super::identify::{Identifier, Request};
    use super::model::Model;

    /// Identifies an arbitrary request written as text: a first line `METHOD HOST PATH[?QUERY]`,
    /// then `name: value` header lines, a blank line, and the body. Anything unparseable as such
    /// is still identified with what could be read.
    pub fn identify(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = http::Method::from_bytes(first.next().unwrap_or("GET").as_bytes())
            .unwrap_or(http::Method::GET);
        let host = first.next().unwrap_or("").to_ascii_lowercase();
        let target = first.next().unwrap_or("/");
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let mut headers = http::HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.trim().as_bytes()),
                    http::HeaderValue::from_str(value.trim()),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let identification = Identifier::new(Model::embedded()).identify(&Request {
            method: &method,
            host: &host,
            path,
            query,
            headers: &headers,
            body: body.as_bytes(),
        });
        std::hint::black_box(identification);
    }
}
