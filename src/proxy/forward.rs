//! Forwarding one request upstream and its response back, and the error answers the proxy gives
//! when that fails.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use tracing::Instrument;

use super::exchange::{EndSignal, ExchangeRecorder, RequestHead, Side, Tap, TapBody};
use super::labels::OWN_HEADER_PREFIX;
use super::observer::{ResponseRecord, Transport, Tunnel, UpstreamFailure};
use super::target::Target;
use super::tunnel;
use super::{BoxError, Shared};

/// What the proxy answers with: a streamed upstream body, or a small body of its own.
pub(crate) type ProxyBody = Either<TapBody<Incoming>, Full<Bytes>>;

/// What the proxy sends upstream: the client's body as it arrived, or one an endpoint front end
/// rewrote (re-framed, re-signed) on its way through.
pub type RequestBody = Either<Incoming, UnsyncBoxBody<Bytes, BoxError>>;

/// Forwards an intercepted request and reports the exchange to the observers, in an `exchange`
/// span within the connection's.
pub(crate) async fn forward_observed(
    shared: Arc<Shared>,
    target: Target,
    request: Request<RequestBody>,
) -> Result<Response<ProxyBody>, Infallible> {
    let id = shared.next_exchange_id.fetch_add(1, Ordering::Relaxed);
    // The path only: a query may hold a presigned URL's signature.
    let span = tracing::debug_span!(
        "exchange",
        id,
        method = %request.method(),
        host = %target.host,
        path = request.uri().path(),
        status = tracing::field::Empty,
    );
    observe(shared, target, request, id, span.clone())
        .instrument(span)
        .await
}

async fn observe(
    shared: Arc<Shared>,
    target: Target,
    mut request: Request<RequestBody>,
    id: u64,
    span: tracing::Span,
) -> Result<Response<ProxyBody>, Infallible> {
    tracing::debug!(version = ?request.version(), "request");
    // An upgrade (WebSocket to API Gateway or IoT): the handshake is an exchange like any other;
    // after a 101 the connection becomes a byte tunnel.
    let client_upgrade = upgrade_protocol(request.headers())
        .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
    let started = std::time::Instant::now();
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let upstream_uri = shared.upstream_uri(&target, &path_and_query);
    let recorder = ExchangeRecorder::new(
        shared.observers.clone(),
        span,
        RequestHead {
            id,
            client: target.client,
            transport: target.transport,
            host: target.host.clone(),
            port: target.port,
            method: parts.method.clone(),
            uri: Uri::from(path_and_query),
            version: parts.version,
            headers: {
                let mut observed = parts.headers.clone();
                target.labels.apply(&mut observed);
                observed
            },
        },
    );
    let capture = shared.capture_limit();
    let (end, body_sent) = EndSignal::new();
    let body = TapBody::new(
        body,
        Some(Tap::new(recorder.clone(), Side::Request, capture)),
    )
    .with_end_signal(end);
    prepare_upstream_request(&mut parts, &target, upstream_uri);
    if let Some((protocol, _)) = &client_upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol.clone());
    }

    let client = match client_upgrade {
        Some(_) => &shared.upgrade_client,
        None => &shared.client,
    };
    match send(&shared, client, Request::from_parts(parts, body), body_sent).await {
        Ok(mut response) => {
            let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
            let upgraded_to = response.headers().get(header::UPGRADE).cloned();
            if let (true, Some((_, client_side))) = (switched, client_upgrade) {
                let upstream_side = hyper::upgrade::on(&mut response);
                shared.tasks.spawn(
                    splice_upgraded(
                        shared.clone(),
                        target.clone(),
                        client_side,
                        upstream_side,
                        started,
                    )
                    .in_current_span(),
                );
            }
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            if let (true, Some(protocol)) = (switched, upgraded_to) {
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                parts.headers.insert(header::UPGRADE, protocol);
            }
            let body_tap = recorder.response_head(ResponseRecord {
                status: parts.status,
                version: parts.version,
                headers: parts.headers.clone(),
            });
            tracing::debug!(upstream_version = ?parts.version, "response");
            let tap = Tap::new(recorder, Side::Response, capture).with_body_tap(body_tap);
            let body = TapBody::new(body, Some(tap));
            Ok(Response::from_parts(parts, Either::Left(body)))
        }
        Err(failure) => {
            let response = failure.response(&shared, &target, true);
            recorder.record_status(response.status());
            tracing::debug!(
                kind = failure.kind.as_str(),
                error = %failure.message,
                "no response from upstream"
            );
            recorder.upstream_failed(failure.kind, failure.message);
            Ok(response)
        }
    }
}

/// The protocol a request asks to switch to (`Connection: upgrade` plus `Upgrade: ...`).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Once both sides have switched protocols, copies bytes between them like a CONNECT tunnel.
async fn splice_upgraded(
    shared: Arc<Shared>,
    target: Target,
    client_side: hyper::upgrade::OnUpgrade,
    upstream_side: hyper::upgrade::OnUpgrade,
    started: std::time::Instant,
) {
    let (client, upstream) = match tokio::try_join!(client_side, upstream_side) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let client = hyper_util::rt::TokioIo::new(client);
    let upstream = hyper_util::rt::TokioIo::new(upstream);
    tunnel::splice(&shared, &target, client, Ok(upstream), &[], started).await;
}

/// Forwards a plain-HTTP request to a host that is not intercepted: no observation beyond a
/// count, as for a tunnel.
pub(crate) async fn forward_passthrough(
    shared: Arc<Shared>,
    target: Target,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = std::time::Instant::now();
    tracing::debug!(
        host = %target.host,
        port = target.port,
        "plain HTTP, not intercepted: passed through"
    );
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    prepare_upstream_request(&mut parts, &target, uri);
    let (end, body_sent) = EndSignal::new();
    let body = TapBody::new(Either::Left(body), None).with_end_signal(end);
    let result = send(
        &shared,
        &shared.client,
        Request::from_parts(parts, body),
        body_sent,
    )
    .await;
    let (response, error) = match result {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let body = Either::Left(TapBody::new(body, None));
            (Response::from_parts(parts, body), None)
        }
        Err(failure) => (
            failure.response(&shared, &target, false),
            Some(failure.message),
        ),
    };
    shared.observers.tunnel(&Tunnel {
        client: target.client,
        host: target.host,
        port: target.port,
        bytes_up: 0,
        bytes_down: 0,
        duration: started.elapsed(),
        error,
    });
    Ok(response)
}

fn prepare_upstream_request(parts: &mut http::request::Parts, target: &Target, uri: Uri) {
    // An HTTP/2 client sends the authority as a pseudo-header; an upstream (moto, LocalStack, or
    // an HTTP/1.1 AWS endpoint) routes on Host, and SigV4 signed it, so it must be there.
    if !parts.headers.contains_key(header::HOST) {
        let authority = parts
            .uri
            .authority()
            .map(Authority::to_string)
            .unwrap_or_else(|| target.authority());
        if let Ok(value) = HeaderValue::from_str(&authority) {
            parts.headers.insert(header::HOST, value);
        }
    }
    strip_hop_by_hop(&mut parts.headers);
    strip_own_headers(&mut parts.headers);
    // The proxy already answered `Expect: 100-continue` to the client by reading the body.
    parts.headers.remove(header::EXPECT);
    parts.uri = uri;
    // The upstream pool picks HTTP/1.1 or HTTP/2 per connection by ALPN.
    parts.version = Version::HTTP_11;
}

/// The headers that describe one connection rather than the message (RFC 9110 §7.6.1), besides
/// those `Connection` names.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
];

/// Removes the headers that describe one connection rather than the message (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Twice per exchange, and most messages have none: one pass over the names is cheaper than
    // nine removals that find nothing. (`Connection` is itself on the list.)
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes the headers addressed to tollgate ([`OWN_HEADER_PREFIX`]): they are unsigned labels
/// that must never reach the upstream.
fn strip_own_headers(headers: &mut HeaderMap) {
    // Once per request, and most have none: one pass over the names first.
    if !headers
        .keys()
        .any(|name| name.as_str().starts_with(OWN_HEADER_PREFIX))
    {
        return;
    }
    let own: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(OWN_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in own {
        headers.remove(name);
    }
}

/// Why a request got no response from upstream.
pub(crate) struct Failure {
    pub kind: UpstreamFailure,
    pub message: String,
    upstream: String,
}

impl Failure {
    /// The answer for the client, saying where the request went: to `--upstream` only when it
    /// was intercepted and there is one; a host that is not intercepted is always tried itself.
    fn response(&self, shared: &Shared, target: &Target, intercepted: bool) -> Response<ProxyBody> {
        let status = match self.kind {
            UpstreamFailure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        let upstream = shared.config.upstream.is_some();
        let route = match (intercepted, upstream) {
            (true, true) => format!(", redirected to --upstream {},", self.upstream),
            (true, false) => String::new(),
            (false, true) => {
                " (not intercepted: tollgate tried the host itself, not --upstream)".to_string()
            }
            (false, false) => " (not intercepted: tollgate tried the host itself)".to_string(),
        };
        let text = format!(
            "tollgate: the request to {}{route} failed ({}): {}\n",
            target.authority(),
            self.kind.as_str(),
            self.message
        );
        error_response(status, self.kind.as_str(), text)
    }
}

/// Sends a request upstream. The `--upstream-timeout` clock starts once the request body has
/// been sent (`body_sent`), so a long upload is never cut short; it bounds the wait for the
/// response head after that.
async fn send(
    shared: &Shared,
    client: &Client<HttpsConnector<HttpConnector>, TapBody<RequestBody>>,
    request: Request<TapBody<RequestBody>>,
    body_sent: Arc<tokio::sync::Notify>,
) -> Result<Response<Incoming>, Failure> {
    let upstream = request
        .uri()
        .authority()
        .map(Authority::to_string)
        .unwrap_or_default();
    let limit = shared.config.timeouts.upstream_response;
    let response = client.request(request);
    tokio::pin!(response);
    let deadline = async {
        body_sent.notified().await;
        tokio::time::sleep(limit).await;
    };
    tokio::select! {
        result = &mut response => result.map_err(|error| classify(&error, upstream)),
        () = deadline => Err(Failure {
            kind: UpstreamFailure::Timeout,
            message: format!(
                "no response within {limit:?} of sending the request (--upstream-timeout)"
            ),
            upstream,
        }),
    }
}

fn classify(error: &hyper_util::client::legacy::Error, upstream: String) -> Failure {
    let mut kind = if error.is_connect() {
        UpstreamFailure::Connect
    } else {
        UpstreamFailure::Protocol
    };
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            kind = UpstreamFailure::Tls;
        } else if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                kind = UpstreamFailure::Timeout;
            } else if io_error_wraps_tls(io) {
                kind = UpstreamFailure::Tls;
            }
        }
        source = cause.source();
    }
    Failure {
        kind,
        message: error_chain(error),
        upstream,
    }
}

/// Whether an I/O error carries a rustls error, possibly wrapped in further I/O errors (the
/// connector wraps tokio-rustls's error, which wraps rustls's). `io::Error::source` skips the
/// wrapped error itself, so the chain walk alone would not see it.
fn io_error_wraps_tls(error: &std::io::Error) -> bool {
    match error.get_ref() {
        Some(inner) if inner.is::<rustls::Error>() => true,
        Some(inner) => inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(io_error_wraps_tls),
        None => false,
    }
}

/// "outer: inner: innermost", skipping repeats (hyper's errors often repeat their cause).
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// An answer of the proxy's own, marked with `x-tollgate-error` so it is never mistaken for AWS's.
///
/// 5xx answers are a minimal HTML page: that is what the SDKs expect from a gateway in front of
/// AWS, so they treat it as a generic, retryable server error. A plain-text body makes botocore's
/// XML parsers (STS, SQS query, EC2...) fail outright instead of retrying.
pub(crate) fn error_response(
    status: StatusCode,
    reason: &'static str,
    text: String,
) -> Response<ProxyBody> {
    let (body, content_type) = if status.is_server_error() {
        (
            format!(
                "<html><body><pre>{}</pre></body></html>\n",
                html_escape(text.trim_end())
            ),
            "text/html; charset=utf-8",
        )
    } else {
        (text, "text/plain; charset=utf-8")
    };
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-tollgate-error", HeaderValue::from_static(reason));
    response
}

/// A `400` of the proxy's own, for a request it cannot make sense of: it closes the connection
/// (`connection: close`), since what the client sends next on it cannot be trusted to be a new
/// request.
pub(crate) fn client_error(reason: &'static str, text: String) -> Response<ProxyBody> {
    let mut response = error_response(StatusCode::BAD_REQUEST, reason, text);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn upstream_uri(
    upstream: Option<&Uri>,
    target: &Target,
    path_and_query: &PathAndQuery,
) -> Uri {
    let builder = match upstream {
        Some(upstream) => Uri::builder()
            .scheme(upstream.scheme().cloned().unwrap_or(Scheme::HTTP))
            .authority(
                upstream
                    .authority()
                    .cloned()
                    .expect("--upstream was validated to have a host"),
            ),
        None => Uri::builder()
            .scheme(match target.transport {
                Transport::Https => Scheme::HTTPS,
                Transport::Http => Scheme::HTTP,
            })
            .authority(target.authority()),
    };
    builder
        .path_and_query(path_and_query.clone())
        .build()
        .expect("scheme, authority and path were each valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(transport: Transport, port: u16) -> Target {
        Target {
            client: "127.0.0.1:9".parse().unwrap(),
            transport,
            host: "sqs.us-east-1.amazonaws.com".into(),
            port,
            labels: Default::default(),
        }
    }

    #[test]
    fn upstream_uri_keeps_path_and_query() {
        let pq = PathAndQuery::from_static("/bucket/key?list-type=2&prefix=a%2Fb");
        let direct = upstream_uri(None, &target(Transport::Https, 443), &pq);
        assert_eq!(
            direct,
            "https://sqs.us-east-1.amazonaws.com/bucket/key?list-type=2&prefix=a%2Fb"
        );
        let odd_port = upstream_uri(None, &target(Transport::Https, 8443), &pq);
        assert_eq!(
            odd_port.authority().unwrap(),
            "sqs.us-east-1.amazonaws.com:8443"
        );
        let moto: Uri = "http://127.0.0.1:5000".parse().unwrap();
        let redirected = upstream_uri(Some(&moto), &target(Transport::Https, 443), &pq);
        assert_eq!(
            redirected,
            "http://127.0.0.1:5000/bucket/key?list-type=2&prefix=a%2Fb"
        );
    }

    #[test]
    fn the_proxys_own_400s_close_the_connection() {
        let response = client_error("bad-connect", "tollgate: no\n".into());
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(response.headers()["x-tollgate-error"], "bad-connect");
    }

    #[test]
    fn headers_addressed_to_tollgate_never_go_upstream() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-date", HeaderValue::from_static("20261126T000000Z"));
        headers.insert(
            "x-tollgate-callsite",
            HeaderValue::from_static("app.py:3 main"),
        );
        headers.append("x-tollgate-test", HeaderValue::from_static("t.py::a"));
        headers.append("x-tollgate-test", HeaderValue::from_static("t.py::b"));
        strip_own_headers(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-amz-date"));
    }

    #[test]
    fn messages_without_hop_by_hop_headers_are_left_as_they_are() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-date", HeaderValue::from_static("20261126T000000Z"));
        headers.append("x-amz-meta-a", HeaderValue::from_static("1"));
        headers.append("x-amz-meta-a", HeaderValue::from_static("2"));
        let before = headers.clone();
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
    }

    #[test]
    fn hop_by_hop_headers_go_including_those_connection_names() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("x-amz-date", HeaderValue::from_static("20261126T000000Z"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-amz-date"));
    }
}
