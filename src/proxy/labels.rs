//! Labels a client gives a whole connection, for clients that cannot add a header to each
//! request but can be given proxy credentials: pyarrow's S3 client (the AWS SDK for C++ over
//! curl) takes `proxy_options` with a user name and password and sends them, as
//! `Proxy-Authorization: Basic`, on each CONNECT it opens. tollgate's Python bootstrap gives it
//! the user `tollgate` and, as the password, the labels of the line that made the filesystem:
//! `callsite=<value>&test=<value>`, each value encoded as the header would carry it (printable
//! ASCII, anything else and `%`, `&` percent-encoded). Every request on that connection is then
//! observed as if it carried `x-tollgate-callsite` and `x-tollgate-test`, unless it carries
//! them itself. tollgate authenticates nobody: other credentials are ignored, never logged.

use std::sync::Arc;

use base64::Engine;
use http::header::PROXY_AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The prefix of the headers a client addresses to tollgate itself (`x-tollgate-callsite`):
/// the observers see them on the exchange; the upstream never does.
pub const OWN_HEADER_PREFIX: &str = "x-tollgate-";

/// The proxy user name that says the password holds labels.
pub const LABELS_USER: &str = "tollgate";
/// The most labels one connection may carry, and the longest value kept (as the per-request
/// headers are bounded where they are read).
const MAX_LABELS: usize = 4;
const MAX_CREDENTIALS: usize = 4096;

/// The labels of one connection (empty for almost every connection: no allocation then).
#[derive(Clone, Default)]
pub(crate) struct ConnectionLabels(Option<Arc<[(HeaderName, HeaderValue)]>>);

impl std::fmt::Debug for ConnectionLabels {
    // The names only: the values are the client's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .flat_map(|labels| labels.iter().map(|(n, _)| n)),
            )
            .finish()
    }
}

impl ConnectionLabels {
    /// The labels in a proxy request's `Proxy-Authorization`, if it is `Basic` for
    /// [`LABELS_USER`]; none for anything else.
    pub fn from_proxy_request(headers: &HeaderMap) -> Self {
        let labels = headers
            .get(PROXY_AUTHORIZATION)
            .and_then(|value| parse(value.as_bytes()))
            .filter(|labels| !labels.is_empty());
        Self(labels.map(Arc::from))
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Adds to `headers` (the observers' copy of a request's) each label it does not carry
    /// itself.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.0.iter().flat_map(|labels| labels.iter()) {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

fn parse(authorization: &[u8]) -> Option<Vec<(HeaderName, HeaderValue)>> {
    if authorization.len() > MAX_CREDENTIALS {
        return None;
    }
    let text = std::str::from_utf8(authorization).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    if user != LABELS_USER {
        return None;
    }
    let labels = password
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return None;
            }
            let name =
                HeaderName::from_bytes(format!("{OWN_HEADER_PREFIX}{name}").as_bytes()).ok()?;
            let value = HeaderValue::from_str(value).ok()?;
            Some((name, value))
        })
        .take(MAX_LABELS)
        .collect();
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(credentials: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        headers.insert(
            PROXY_AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    #[test]
    fn the_tollgate_user_carries_labels_that_requests_may_override() {
        let labels = ConnectionLabels::from_proxy_request(&basic(
            "tollgate:callsite=etl.py:12 load&test=tests/t.py::test_a",
        ));
        let mut plain = HeaderMap::new();
        labels.apply(&mut plain);
        assert_eq!(plain["x-tollgate-callsite"], "etl.py:12 load");
        assert_eq!(plain["x-tollgate-test"], "tests/t.py::test_a");
        let mut own = HeaderMap::new();
        own.insert(
            "x-tollgate-callsite",
            HeaderValue::from_static("mine.py:1 f"),
        );
        labels.apply(&mut own);
        assert_eq!(own["x-tollgate-callsite"], "mine.py:1 f");
        assert_eq!(
            format!("{labels:?}"),
            r#"["x-tollgate-callsite", "x-tollgate-test"]"#
        );
    }

    #[test]
    fn other_credentials_and_junk_give_no_labels() {
        for headers in [
            HeaderMap::new(),
            basic("alice:callsite=etl.py:12 load"),
            basic("tollgate"),
            basic("tollgate:"),
            basic("tollgate:Callsite=x&=y&call site=z"),
        ] {
            assert!(ConnectionLabels::from_proxy_request(&headers).is_empty());
        }
        let mut bearer = HeaderMap::new();
        bearer.insert(PROXY_AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(ConnectionLabels::from_proxy_request(&bearer).is_empty());
        let mut broken = HeaderMap::new();
        broken.insert(PROXY_AUTHORIZATION, HeaderValue::from_static("Basic %%%"));
        assert!(ConnectionLabels::from_proxy_request(&broken).is_empty());
        let many = (0..10)
            .map(|i| format!("l-{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        let labels = ConnectionLabels::from_proxy_request(&basic(&format!("tollgate:{many}")));
        let mut headers = HeaderMap::new();
        labels.apply(&mut headers);
        assert_eq!(headers.len(), MAX_LABELS);
    }
}
