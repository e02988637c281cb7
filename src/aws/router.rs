//! REST operation routing: method, path template and literal query keys, compiled once per
//! service. The most specific template that matches wins, as in the SDKs' own models
//! (`GET /{Bucket}?list-type=2` is ListObjectsV2, bare `GET /{Bucket}` is ListObjects).

use std::collections::HashMap;

/// One operation's compiled request URI.
#[derive(Debug, Clone)]
struct Route {
    operation: u32,
    /// Segments before the greedy label, or all of them when there is none.
    segments: Vec<Segment>,
    /// Has a greedy label (`{Key+}`), which matches one or more segments.
    greedy: bool,
    /// Segments after the greedy label (`/instances/{name+}/policy`).
    after: Vec<Segment>,
    /// Literal query requirements: key, and the value when the template gives one.
    query: Vec<(String, Option<String>)>,
    /// Query keys and headers that required input members always send (S3 UploadPart's
    /// `uploadId`, CopyObject's `x-amz-copy-source`): what tells apart operations that share a
    /// method and template.
    required_query: Vec<String>,
    required_headers: Vec<String>,
    /// Higher is more specific.
    score: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A whole-segment label.
    Label,
    /// A label with literal text around it, e.g. `{Name}.json` or `prefix-{Id}`.
    Mixed {
        prefix: String,
        suffix: String,
    },
}

/// All REST routes of one service.
#[derive(Debug, Default, Clone)]
pub struct Router {
    /// Routes bucketed by method; each bucket sorted most specific first.
    by_method: HashMap<http::Method, Vec<Route>>,
}

impl Router {
    /// Adds an operation's `http.method` and `http.requestUri`. Returns false if the template
    /// cannot be parsed (the operation then stays unroutable and is reported as such).
    pub fn add(&mut self, operation: u32, method: &str, request_uri: &str) -> bool {
        self.add_operation(operation, method, request_uri, &RouteHints::default())
    }

    /// Like [`Router::add`], with what else the operation's required members put on the wire.
    pub fn add_operation(
        &mut self,
        operation: u32,
        method: &str,
        request_uri: &str,
        hints: &RouteHints<'_>,
    ) -> bool {
        let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
            return false;
        };
        let Some(mut route) = compile(operation, request_uri) else {
            return false;
        };
        route.required_query = hints.required_query.iter().map(|s| s.to_string()).collect();
        route.required_headers = hints
            .required_headers
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Each required key or header is as telling as a literal query key; a deprecated
        // operation loses ties to its replacement (GetBucketLifecycle vs ...Configuration).
        route.score += (hints.required_query.len() + hints.required_headers.len()) as u32 * 10_000;
        route.score = (route.score * 2) + u32::from(!hints.deprecated);
        self.by_method.entry(method).or_default().push(route);
        true
    }

    /// Sorts routes so the first match is the most specific. Call once after the last `add`.
    pub fn finish(&mut self) {
        for routes in self.by_method.values_mut() {
            routes.sort_by(|a, b| b.score.cmp(&a.score).then(a.operation.cmp(&b.operation)));
        }
    }

    /// The most specific operation matching the request, if any.
    pub fn route(
        &self,
        method: &http::Method,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Option<u32> {
        let routes = self.by_method.get(method)?;
        let segments = split_path(path);
        routes
            .iter()
            .find(|route| {
                route.matches(&segments, query)
                    && route
                        .required_query
                        .iter()
                        .all(|key| query_has(query, key, None))
                    && route
                        .required_headers
                        .iter()
                        .all(|name| headers.contains_key(name.as_str()))
            })
            .map(|route| route.operation)
    }
}

/// What an operation's required members add to its request beyond the URI template.
#[derive(Debug, Default, Clone, Copy)]
pub struct RouteHints<'a> {
    pub required_query: &'a [&'a str],
    pub required_headers: &'a [&'a str],
    pub deprecated: bool,
}

impl Route {
    fn matches(&self, segments: &[&str], query: Option<&str>) -> bool {
        let (before, after) = (self.segments.len(), self.after.len());
        let length_fits = if self.greedy {
            segments.len() > before + after
        } else {
            segments.len() == before
        };
        length_fits
            && segments_match(&self.segments, &segments[..before])
            && segments_match(&self.after, &segments[segments.len() - after..])
            && self
                .query
                .iter()
                .all(|(key, value)| query_has(query, key, value.as_deref()))
    }
}

fn segments_match(template: &[Segment], actual: &[&str]) -> bool {
    template
        .iter()
        .zip(actual)
        .all(|(template, actual)| match template {
            Segment::Literal(text) => text == actual,
            Segment::Label => !actual.is_empty(),
            Segment::Mixed { prefix, suffix } => {
                actual.len() > prefix.len() + suffix.len()
                    && actual.starts_with(prefix.as_str())
                    && actual.ends_with(suffix.as_str())
            }
        })
}

/// Splits a request path into segments: no leading empty segment, no trailing empty segment.
fn split_path(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn query_has(query: Option<&str>, key: &str, value: Option<&str>) -> bool {
    let Some(query) = query else {
        return false;
    };
    query.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        k == key && value.is_none_or(|expected| v == expected)
    })
}

fn compile(operation: u32, request_uri: &str) -> Option<Route> {
    let (path, query) = match request_uri.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request_uri, None),
    };
    let mut segments = Vec::new();
    let mut after = Vec::new();
    let mut greedy = false;
    for raw in split_path(path) {
        let segment = match (raw.find('{'), raw.find('}')) {
            (None, None) => Segment::Literal(raw.to_string()),
            (Some(open), Some(close)) if open < close => {
                let label = &raw[open + 1..close];
                let (prefix, suffix) = (&raw[..open], &raw[close + 1..]);
                if label.ends_with('+') {
                    // One greedy label per template, filling a whole segment.
                    if greedy || !prefix.is_empty() || !suffix.is_empty() {
                        return None;
                    }
                    greedy = true;
                    continue;
                } else if prefix.is_empty() && suffix.is_empty() {
                    Segment::Label
                } else {
                    Segment::Mixed {
                        prefix: prefix.to_string(),
                        suffix: suffix.to_string(),
                    }
                }
            }
            _ => return None,
        };
        if greedy {
            after.push(segment);
        } else {
            segments.push(segment);
        }
    }
    let query: Vec<(String, Option<String>)> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (key.to_string(), Some(value.to_string())),
            None => (pair.to_string(), None),
        })
        .collect();
    let literals = segments
        .iter()
        .chain(&after)
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count() as u32;
    let mixed = segments
        .iter()
        .chain(&after)
        .filter(|s| matches!(s, Segment::Mixed { .. }))
        .count() as u32;
    let valued = query.iter().filter(|(_, v)| v.is_some()).count() as u32;
    // Query literals first (they are what tell ListObjectsV2 from ListObjects), then literal path
    // text, then a fixed length over a greedy one.
    let score = (query.len() as u32 * 2 + valued) * 10_000
        + literals * 100
        + mixed * 10
        + u32::from(!greedy) * 5;
    Some(Route {
        operation,
        segments,
        greedy,
        after,
        query,
        required_query: Vec::new(),
        required_headers: Vec::new(),
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn s3_router() -> Router {
        let mut router = Router::default();
        for (id, (method, uri)) in [
            ("GET", "/{Bucket}?list-type=2"),
            ("GET", "/{Bucket}"),
            ("GET", "/{Bucket}/{Key+}"),
            ("GET", "/{Bucket}?acl"),
            ("GET", "/{Bucket}/{Key+}?acl"),
            ("PUT", "/{Bucket}/{Key+}"),
            ("GET", "/"),
            ("POST", "/{Bucket}?delete"),
            ("GET", "/{Bucket}?versions"),
            ("GET", "/{Bucket}/{Key+}?uploadId"),
        ]
        .iter()
        .enumerate()
        {
            assert!(router.add(id as u32, method, uri));
        }
        router.finish();
        router
    }

    #[test]
    fn most_specific_s3_route_wins() {
        let router = s3_router();
        let get = |path: &str, query: Option<&str>| {
            router.route(&Method::GET, path, query, &http::HeaderMap::new())
        };
        assert_eq!(get("/logs", Some("list-type=2&max-keys=100")), Some(0));
        assert_eq!(get("/logs", None), Some(1));
        assert_eq!(get("/logs", Some("prefix=a")), Some(1));
        assert_eq!(get("/logs/a/b/c.txt", None), Some(2));
        assert_eq!(get("/logs", Some("acl")), Some(3));
        assert_eq!(get("/logs/key", Some("acl=")), Some(4));
        assert_eq!(get("/", None), Some(6));
        assert_eq!(get("/logs", Some("versions&prefix=x")), Some(8));
        assert_eq!(get("/logs/key", Some("uploadId=abc&max-parts=5")), Some(9));
        assert_eq!(
            router.route(&Method::PUT, "/logs/k", None, &http::HeaderMap::new()),
            Some(5)
        );
        assert_eq!(
            router.route(
                &Method::POST,
                "/logs",
                Some("delete"),
                &http::HeaderMap::new()
            ),
            Some(7)
        );
        assert_eq!(
            router.route(&Method::DELETE, "/logs", None, &http::HeaderMap::new()),
            None
        );
    }

    #[test]
    fn labels_literals_and_mixed_segments() {
        let mut router = Router::default();
        router.add(0, "GET", "/2015-03-31/functions/{FunctionName}");
        router.add(
            1,
            "GET",
            "/2015-03-31/functions/{FunctionName}/configuration",
        );
        router.add(2, "GET", "/2015-03-31/functions/");
        router.add(3, "GET", "/v1/{Name}.json");
        router.add(4, "POST", "/model/{modelId}/invoke");
        router.add(5, "GET", "/mrap/instances/{name+}/policy");
        router.finish();
        assert_eq!(
            router.route(
                &Method::GET,
                "/2015-03-31/functions/f",
                None,
                &http::HeaderMap::new()
            ),
            Some(0)
        );
        assert_eq!(
            router.route(
                &Method::GET,
                "/2015-03-31/functions/f/configuration",
                None,
                &http::HeaderMap::new()
            ),
            Some(1)
        );
        assert_eq!(
            router.route(
                &Method::GET,
                "/2015-03-31/functions/",
                None,
                &http::HeaderMap::new()
            ),
            Some(2)
        );
        assert_eq!(
            router.route(
                &Method::GET,
                "/v1/report.json",
                None,
                &http::HeaderMap::new()
            ),
            Some(3)
        );
        assert_eq!(
            router.route(
                &Method::GET,
                "/v1/report.xml",
                None,
                &http::HeaderMap::new()
            ),
            None
        );
        assert_eq!(
            router.route(
                &Method::POST,
                "/model/anthropic.claude-v2%3A1/invoke",
                None,
                &http::HeaderMap::new()
            ),
            Some(4)
        );
        assert_eq!(
            router.route(
                &Method::GET,
                "/mrap/instances/a/b/policy",
                None,
                &http::HeaderMap::new()
            ),
            Some(5)
        );
        assert_eq!(
            router.route(
                &Method::GET,
                "/mrap/instances/policy",
                None,
                &http::HeaderMap::new()
            ),
            None
        );
    }

    #[test]
    fn required_members_split_operations_sharing_a_template() {
        let mut router = Router::default();
        let copy: &[&str] = &["x-amz-copy-source"];
        let part: &[&str] = &["partNumber", "uploadId"];
        let none: &[&str] = &[];
        for (id, (query, headers, deprecated)) in [
            (none, copy, false), // 0 CopyObject
            (none, none, false), // 1 PutObject
            (part, none, false), // 2 UploadPart
            (part, copy, false), // 3 UploadPartCopy
            (none, none, true),  // 4 a deprecated twin of PutObject
        ]
        .into_iter()
        .enumerate()
        {
            router.add_operation(
                id as u32,
                "PUT",
                "/{Bucket}/{Key+}",
                &RouteHints {
                    required_query: query,
                    required_headers: headers,
                    deprecated,
                },
            );
        }
        router.finish();
        let mut copy_header = http::HeaderMap::new();
        copy_header.insert("x-amz-copy-source", "/src/key".parse().unwrap());
        let none_headers = http::HeaderMap::new();
        let put = |query, headers| router.route(&Method::PUT, "/b/k", query, headers);
        assert_eq!(put(None, &copy_header), Some(0));
        assert_eq!(put(None, &none_headers), Some(1));
        assert_eq!(put(Some("partNumber=1&uploadId=x"), &none_headers), Some(2));
        assert_eq!(put(Some("partNumber=1&uploadId=x"), &copy_header), Some(3));
    }

    #[test]
    fn unparseable_templates_are_refused() {
        let mut router = Router::default();
        assert!(!router.add(0, "GET", "/{Key+}/{Other+}"));
        assert!(!router.add(0, "GET", "/{unclosed"));
        assert!(!router.add(0, "NOT A METHOD", "/"));
    }
}
