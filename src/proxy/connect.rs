//! `CONNECT host:port`: decide from the authority and the TLS ClientHello whether to intercept,
//! then either terminate TLS and serve HTTP, or tunnel the bytes untouched. A tunnel to an
//! intercepted host that does not start with TLS is refused: it is never tunnelled blind.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use rustls::server::{Accepted, Acceptor};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::StartHandshake;
use tracing::Instrument;

use super::forward::{self, client_error, error_response, ProxyBody};
use super::labels::ConnectionLabels;
use super::observer::{Distrust, DistrustKind, Transport, Tunnel};
use super::target::Target;
use super::tunnel;
use super::Shared;

/// Answers a CONNECT. The 200 goes out first; the tunnel or interception runs on the upgraded
/// connection in a task of its own.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    client: SocketAddr,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some((host, port)) = connect_target(request.uri()) else {
        return client_error(
            "bad-connect",
            format!(
                "tollgate: CONNECT needs a host:port target, got '{}'\n",
                request.uri()
            ),
        );
    };
    tracing::Span::current().record("host", tracing::field::display(&host));
    tracing::debug!(port, "CONNECT");
    let upgrade = hyper::upgrade::on(&mut request);
    let target = Target {
        client,
        transport: Transport::Https,
        host,
        port,
        labels: ConnectionLabels::from_proxy_request(request.headers()),
    };

    // A named host that is not on the list is tunnelled without waiting for the client to speak
    // (some protocols let the server speak first). Connecting before answering lets a failure be
    // a proper 502 instead of a connection the client sees die.
    if !shared.config.intercept.matches(&target.host) && target.host.parse::<IpAddr>().is_err() {
        let started = Instant::now();
        tracing::debug!("not intercepted: tunnelling");
        return match connect_upstream(&shared, &target).await {
            Ok(upstream) => {
                shared.tasks.spawn(
                    tunnel(shared.clone(), target, upgrade, upstream, started).in_current_span(),
                );
                Response::new(ProxyBody::Right(Default::default()))
            }
            Err(error) => {
                let message = error.to_string();
                shared.observers.tunnel(&Tunnel {
                    client,
                    host: target.host.clone(),
                    port: target.port,
                    bytes_up: 0,
                    bytes_down: 0,
                    duration: started.elapsed(),
                    error: Some(message.clone()),
                });
                error_response(
                    StatusCode::BAD_GATEWAY,
                    "connect",
                    format!(
                        "tollgate: cannot connect to {}:{}: {message}\n",
                        target.host, target.port
                    ),
                )
            }
        };
    }

    shared
        .tasks
        .spawn(intercept_or_tunnel(shared.clone(), target, upgrade).in_current_span());
    Response::new(ProxyBody::Right(Default::default()))
}

/// The `host:port` of a CONNECT request target (authority form; RFC 9110 §9.3.6 requires the port).
fn connect_target(uri: &http::Uri) -> Option<(String, u16)> {
    if uri.scheme().is_some() || uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
        return None;
    }
    let authority = uri.authority()?;
    let port = authority.port_u16()?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return None;
    }
    Some((host.to_ascii_lowercase(), port))
}

async fn connect_upstream(shared: &Shared, target: &Target) -> std::io::Result<TcpStream> {
    let connect = TcpStream::connect((target.host.as_str(), target.port));
    match tokio::time::timeout(shared.config.timeouts.upstream_connect, connect).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "no connection within {:?}",
                shared.config.timeouts.upstream_connect
            ),
        )),
    }
}

async fn intercept_or_tunnel(shared: Arc<Shared>, mut target: Target, upgrade: OnUpgrade) {
    let started = Instant::now();
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%error, "CONNECT upgrade failed");
            return;
        }
    };
    let mut client_io = TokioIo::new(upgraded);
    let hello = tokio::time::timeout(
        shared.config.timeouts.tls_handshake,
        read_client_hello(&mut client_io),
    )
    .await;
    let (accepted, consumed) = match hello {
        Ok(Ok(ClientHello::Tls { accepted, consumed })) => (accepted, consumed),
        Ok(Ok(ClientHello::NotTls { consumed })) => {
            // An intercepted host is reached only through a decrypted, observed connection:
            // never blind (with --upstream nothing may reach it at all).
            if shared.config.intercept.matches(&target.host) {
                return refuse_plain_tunnel(&shared, &target, client_io, consumed).await;
            }
            // Not TLS to a host that is not intercepted (an address): pass it on as it came.
            tracing::debug!("not TLS: tunnelling");
            return tunnel_after_peek(shared, target, client_io, consumed, started).await;
        }
        Ok(Err(error)) => {
            distrusted(&shared, &target, DistrustKind::HandshakeFailed);
            tracing::debug!(%error, "unreadable TLS ClientHello");
            return;
        }
        Err(_) => {
            distrusted(&shared, &target, DistrustKind::HandshakeFailed);
            tracing::debug!("no TLS ClientHello in time");
            return;
        }
    };

    // The SNI names the host the client will verify; the CONNECT authority may be an address.
    // A tunnel still goes where the client asked (the authority), whatever the SNI says.
    let hello = accepted.client_hello();
    let server_name = hello
        .server_name()
        .map_or_else(|| target.host.clone(), str::to_ascii_lowercase);
    let speaks_http = offers_http(hello.alpn());
    if !speaks_http || !shared.config.intercept.matches(&server_name) {
        tracing::debug!(sni = %server_name, speaks_http, "not intercepted: tunnelling");
        return tunnel_after_peek(shared, target, client_io, consumed, started).await;
    }
    target.host = server_name;

    let config = match shared.tls.server_config(&target.host) {
        Ok(config) => config,
        Err(error) => {
            tracing::warn!(%error, host = %target.host, "cannot mint a certificate");
            return;
        }
    };
    let handshake = StartHandshake::from_parts(*accepted, client_io).into_stream(config);
    let tls = match tokio::time::timeout(shared.config.timeouts.tls_handshake, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            // Almost always a client that does not trust the tollgate CA: counted and shown in
            // the summary, since it means the workload's calls are failing.
            distrusted(&shared, &target, DistrustKind::HandshakeFailed);
            tracing::warn!(
                %error, host = %target.host,
                "TLS handshake with the client failed; does it trust the tollgate CA bundle?"
            );
            return;
        }
        Err(_) => {
            distrusted(&shared, &target, DistrustKind::HandshakeFailed);
            return;
        }
    };
    let handshaken = Instant::now();
    shared
        .stats
        .intercepted_connections
        .fetch_add(1, Ordering::Relaxed);
    tracing::debug!(
        sni = %target.host,
        alpn = ?tls.get_ref().1.alpn_protocol().map(String::from_utf8_lossy),
        "intercepting"
    );
    // HTTP/2 serves each request in a task of its own: the connection's span goes with it.
    let connection_span = tracing::Span::current();
    let requests = Arc::new(AtomicU64::new(0));
    let service = {
        let shared = shared.clone();
        let target = target.clone();
        let requests = requests.clone();
        service_fn(move |request| {
            requests.fetch_add(1, Ordering::Relaxed);
            let request = request.map(http_body_util::Either::Left);
            forward::forward_observed(shared.clone(), target.clone(), request)
                .instrument(connection_span.clone())
        })
    };
    let connection = shared
        .intercepted_http
        .serve_connection_with_upgrades(TokioIo::new(tls), service);
    match super::serve_gracefully(connection, &shared.shutdown).await {
        Ok(()) => tracing::debug!("intercepted connection closed"),
        Err(error) => tracing::debug!(
            error = %forward::error_chain(&*error),
            "intercepted connection closed with an error"
        ),
    }
    // A client that checks the certificate only after the handshake (curl inside duckdb and
    // pyarrow) rejects it by closing at once, with no alert: counted like a failed handshake.
    // Closing soon and without a single request is the sign; an idle pooled connection that
    // the client closes later is not.
    if requests.load(Ordering::Relaxed) == 0
        && !shared.shutdown.is_cancelled()
        && handshaken.elapsed() < DROP_AFTER_HANDSHAKE_WINDOW
    {
        shared
            .stats
            .dropped_after_handshake
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            host = %target.host,
            after_ms = handshaken.elapsed().as_millis() as u64,
            "the client closed the connection right after the TLS handshake without a request; \
             does it trust the tollgate CA bundle?"
        );
        shared.observers.distrust(&Distrust {
            client: target.client,
            host: target.host.clone(),
            kind: DistrustKind::DroppedAfterHandshake,
        });
    }
}

/// How soon after the handshake a connection closed without a request counts as a client that
/// rejected the certificate.
const DROP_AFTER_HANDSHAKE_WINDOW: Duration = Duration::from_secs(5);

/// Counts a failed handshake and tells the observers who it was.
fn distrusted(shared: &Shared, target: &Target, kind: DistrustKind) {
    shared.stats.handshake_failed();
    shared.observers.distrust(&Distrust {
        client: target.client,
        host: target.host.clone(),
        kind,
    });
}

/// Whether a ClientHello's ALPN offer allows HTTP. No offer means HTTP/1.1 (what every SDK
/// sends without ALPN); an offer of only other protocols (AWS IoT's `x-amzn-mqtt-ca`) is not
/// HTTP, and decrypting it could only break it.
fn offers_http<'a>(alpn: Option<impl Iterator<Item = &'a [u8]>>) -> bool {
    match alpn {
        None => true,
        Some(mut protocols) => {
            protocols.any(|p| p == b"h2" || p == b"http/1.1" || p == b"http/1.0")
        }
    }
}

/// What the client sent first on a CONNECT tunnel.
pub(crate) enum ClientHello {
    /// A TLS ClientHello, parsed; `consumed` holds the bytes read, to replay if tunnelled.
    Tls {
        accepted: Box<Accepted>,
        consumed: Vec<u8>,
    },
    /// Something that is not a TLS handshake record.
    NotTls { consumed: Vec<u8> },
}

/// The most handshake bytes read before giving up: a ClientHello is at most a few KiB, even with
/// post-quantum key shares, and a record is at most 16 KiB plus overhead.
const MAX_HELLO_BYTES: usize = 64 * 1024;
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Reads TLS records until rustls has a whole ClientHello, keeping every byte read so that the
/// connection can still be tunnelled untouched.
pub(crate) async fn read_client_hello<R: AsyncRead + Unpin>(
    io: &mut R,
) -> std::io::Result<ClientHello> {
    let mut consumed = Vec::with_capacity(2048);
    let mut acceptor = Acceptor::default();
    loop {
        let mut header = [0u8; 5];
        let first = io.read(&mut header[..1]).await?;
        if first == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        consumed.push(header[0]);
        if header[0] != TLS_HANDSHAKE_RECORD {
            return Ok(ClientHello::NotTls { consumed });
        }
        io.read_exact(&mut header[1..]).await?;
        consumed.extend_from_slice(&header[1..]);
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if consumed.len() + length > MAX_HELLO_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "TLS ClientHello larger than 64 KiB",
            ));
        }
        let start = consumed.len();
        consumed.resize(start + length, 0);
        io.read_exact(&mut consumed[start..]).await?;

        let mut record = BytesMut::from(&header[..]);
        record.extend_from_slice(&consumed[start..]);
        let mut reader = record.reader();
        // Feed exactly this record. Never let `read_tls` see an empty reader: it takes a read of
        // 0 bytes as the peer's EOF, and the connection would carry that into the handshake.
        while reader.get_ref().has_remaining() {
            acceptor.read_tls(&mut reader)?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                return Ok(ClientHello::Tls {
                    accepted: Box::new(accepted),
                    consumed,
                })
            }
            Ok(None) => continue,
            Err((error, _alert)) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
            }
        }
    }
}

/// How long a refused tunnel's client gets to send the first word of its request line (the
/// method of an HTTP request), once its first byte has come.
const FIRST_WORD_WAIT: Duration = Duration::from_secs(2);
/// How much of what the client still sends is read and dropped after the refusal, so that closing
/// does not reset the connection before the client has read the answer.
const DRAIN_LIMIT: u64 = 64 * 1024;
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// A CONNECT to an intercepted host whose first bytes are not a TLS ClientHello: tollgate cannot
/// decrypt it, and tunnelling it would reach the real host unobserved (or, with `--upstream`, at
/// all). Refused: an HTTP request gets a `400` saying why (the client already had its `200` for
/// the CONNECT), anything else just the close. Counted, and logged once with the host; never
/// with what the client sent.
async fn refuse_plain_tunnel<IO>(
    shared: &Shared,
    target: &Target,
    mut client_io: IO,
    mut consumed: Vec<u8>,
) where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    shared.stats.tunnel_refused();
    tracing::warn!(
        host = %target.host,
        port = target.port,
        "refused a CONNECT tunnel to an intercepted host: the client sent something other than \
         TLS, which tollgate can neither decrypt nor let through unobserved"
    );
    let _ = tokio::time::timeout(
        FIRST_WORD_WAIT,
        read_first_word(&mut client_io, &mut consumed),
    )
    .await;
    if looks_like_http(&consumed) {
        let answer = refusal_answer(target, shared.config.upstream.is_some());
        if let Err(error) = client_io.write_all(&answer).await {
            tracing::debug!(%error, "cannot send the refusal");
        }
    }
    let _ = client_io.shutdown().await;
    let mut rest = (&mut client_io).take(DRAIN_LIMIT);
    let _ = tokio::time::timeout(
        DRAIN_WAIT,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
}

/// The longest HTTP method tollgate takes for one: longer words are not HTTP.
const MAX_METHOD: usize = 20;

/// Reads until `consumed` holds a space or more than a method's worth of bytes, or the client
/// stops sending.
async fn read_first_word<R: AsyncRead + Unpin>(
    io: &mut R,
    consumed: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut chunk = [0u8; 64];
    while !consumed.contains(&b' ') && consumed.len() <= MAX_METHOD {
        let read = io.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        consumed.extend_from_slice(&chunk[..read]);
    }
    Ok(())
}

/// Whether the first bytes of a connection look like an HTTP/1 request line: a method (an
/// upper-case token) and a space.
fn looks_like_http(first: &[u8]) -> bool {
    let method = first.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (1..=MAX_METHOD).contains(&method) && first.get(method) == Some(&b' ')
}

/// The whole HTTP/1.1 answer to plain HTTP sent through a CONNECT tunnel to an intercepted host.
fn refusal_answer(target: &Target, upstream: bool) -> Vec<u8> {
    let body = format!(
        "tollgate: refused: this CONNECT tunnel to {host}:{port}, an intercepted host, carried \
         plain HTTP instead of TLS. tollgate decrypts and observes an intercepted host's traffic \
         and never tunnels it blind, so nothing was sent to {host}{upstream}. Use https://, or \
         send http:// requests to the proxy as absolute URLs (HTTP_PROXY) rather than through \
         CONNECT.\n",
        host = target.host,
        port = target.port,
        upstream = if upstream { " or to --upstream" } else { "" },
    );
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         x-tollgate-error: not-tls\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    [head.into_bytes(), body.into_bytes()].concat()
}

async fn tunnel_after_peek(
    shared: Arc<Shared>,
    target: Target,
    client_io: TokioIo<Upgraded>,
    consumed: Vec<u8>,
    started: Instant,
) {
    let upstream = connect_upstream(&shared, &target).await;
    tunnel::splice(&shared, &target, client_io, upstream, &consumed, started).await;
}

async fn tunnel(
    shared: Arc<Shared>,
    target: Target,
    upgrade: OnUpgrade,
    upstream: TcpStream,
    started: Instant,
) {
    match upgrade.await {
        Ok(upgraded) => {
            let client_io = TokioIo::new(upgraded);
            tunnel::splice(&shared, &target, client_io, Ok(upstream), &[], started).await;
        }
        Err(error) => tracing::debug!(%error, "CONNECT upgrade failed"),
    }
}

/// Answers requests on the proxy's own port that are neither CONNECT nor absolute-form, and
/// closes the connection.
pub(crate) fn not_a_proxy_request(request: &Request<Incoming>) -> Response<ProxyBody> {
    client_error(
        "not-a-proxy-request",
        format!(
            "tollgate is an HTTP proxy, not the server: this request ('{} {}') was sent to it as \
             if it were the endpoint. Do not point an endpoint URL at tollgate; use it as the \
             proxy (HTTPS_PROXY=http://<this address>, which `tollgate run` sets), and reach an \
             emulator with `tollgate run --upstream URL`.\n",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_alpn_offers_are_intercepted() {
        let offer = |protocols: &[&'static [u8]]| offers_http(Some(protocols.iter().copied()));
        assert!(offers_http(None::<std::iter::Empty<&[u8]>>));
        assert!(offer(&[b"h2", b"http/1.1"]));
        assert!(offer(&[b"http/1.1"]));
        assert!(!offer(&[b"x-amzn-mqtt-ca"]));
        assert!(!offer(&[]));
    }

    #[test]
    fn connect_targets() {
        let parse = |s: &str| connect_target(&s.parse().unwrap());
        assert_eq!(
            parse("S3.amazonaws.com:443"),
            Some(("s3.amazonaws.com".into(), 443))
        );
        assert_eq!(parse("[::1]:8443"), Some(("::1".into(), 8443)));
        assert_eq!(parse("s3.amazonaws.com"), None);
        assert_eq!(parse("http://s3.amazonaws.com:443/"), None);
        assert_eq!(parse("/path"), None);
    }

    /// The first flight of a real rustls client connecting to `name`.
    fn real_client_hello(name: &str) -> Vec<u8> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let mut conn =
            rustls::ClientConnection::new(Arc::new(config), name.to_string().try_into().unwrap())
                .unwrap();
        let mut wire = Vec::new();
        conn.write_tls(&mut wire).unwrap();
        wire
    }

    #[tokio::test]
    async fn reads_a_real_client_hello_and_keeps_its_bytes() {
        // A real ClientHello from rustls's client, written into an in-memory pipe.
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut conn = rustls::ClientConnection::new(
            Arc::new(config),
            "sts.amazonaws.com".try_into().unwrap(),
        )
        .unwrap();
        let mut wire = Vec::new();
        conn.write_tls(&mut wire).unwrap();
        let mut reader = &wire[..];
        match read_client_hello(&mut reader).await.unwrap() {
            ClientHello::Tls { accepted, consumed } => {
                assert_eq!(
                    accepted.client_hello().server_name(),
                    Some("sts.amazonaws.com")
                );
                assert_eq!(consumed, wire);
            }
            ClientHello::NotTls { .. } => panic!("a ClientHello was not recognised"),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    proptest::proptest! {
        /// Whatever a client sends first, the peek ends in a verdict or an error, never a panic,
        /// and what it read is exactly a prefix of what was sent (so a tunnel can replay it).
        #[test]
        fn any_first_bytes_give_a_verdict_and_a_replayable_prefix(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            handshake_first in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = bytes;
            if handshake_first && !bytes.is_empty() {
                bytes[0] = TLS_HANDSHAKE_RECORD;
            }
            let mut reader = &bytes[..];
            match block_on(read_client_hello(&mut reader)) {
                Ok(ClientHello::NotTls { consumed }) | Ok(ClientHello::Tls { consumed, .. }) => {
                    proptest::prop_assert!(bytes.starts_with(&consumed));
                }
                Err(_) => {}
            }
        }

        /// A real ClientHello arriving in arbitrary pieces is still recognised.
        #[test]
        fn a_client_hello_split_anywhere_is_recognised(split in 1usize..200) {
            let wire = real_client_hello("dynamodb.us-east-1.amazonaws.com");
            let split = split.min(wire.len() - 1);
            let (head, tail) = wire.split_at(split);
            let mut reader = tokio::io::AsyncReadExt::chain(head, tail);
            match block_on(read_client_hello(&mut reader)).unwrap() {
                ClientHello::Tls { accepted, consumed } => {
                    let hello = accepted.client_hello();
                    proptest::prop_assert_eq!(
                        hello.server_name(),
                        Some("dynamodb.us-east-1.amazonaws.com")
                    );
                    proptest::prop_assert_eq!(consumed, wire);
                }
                ClientHello::NotTls { .. } => proptest::prop_assert!(false, "not recognised"),
            }
        }
    }

    #[tokio::test]
    async fn plain_bytes_are_not_tls_and_are_kept() {
        let mut reader = &b"GET / HTTP/1.1\r\n\r\n"[..];
        match read_client_hello(&mut reader).await.unwrap() {
            ClientHello::NotTls { consumed } => assert_eq!(consumed, b"G"),
            ClientHello::Tls { .. } => panic!("plain text taken for TLS"),
        }
    }

    #[test]
    fn http_request_lines_are_told_from_other_bytes() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"PROPFIND /x"));
        assert!(looks_like_http(b"POST "));
        assert!(!looks_like_http(b"G"));
        assert!(!looks_like_http(b"GET"));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
        assert!(!looks_like_http(b" GET /"));
        assert!(!looks_like_http(b"\x00\x01\x02 garbage"));
        assert!(!looks_like_http(b"SSH-2.0-OpenSSH_9.6\r\n"));
        assert!(!looks_like_http(&[b'A'; 40]));
    }

    #[tokio::test]
    async fn the_first_word_is_read_and_kept_after_the_peeked_byte() {
        let mut reader = &b"ET /path HTTP/1.1\r\n\r\n"[..];
        let mut consumed = b"G".to_vec();
        read_first_word(&mut reader, &mut consumed).await.unwrap();
        assert!(consumed.starts_with(b"GET "));
        let mut endless = tokio::io::repeat(b'A');
        let mut consumed = b"A".to_vec();
        read_first_word(&mut endless, &mut consumed).await.unwrap();
        assert!(consumed.len() > MAX_METHOD && !looks_like_http(&consumed));
    }

    #[test]
    fn the_refusal_is_one_whole_closing_http_answer() {
        let target = Target {
            client: "127.0.0.1:9".parse().unwrap(),
            transport: Transport::Https,
            host: "sqs.us-east-1.amazonaws.com".into(),
            port: 443,
            labels: Default::default(),
        };
        let answer = String::from_utf8(refusal_answer(&target, true)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(body.contains("sqs.us-east-1.amazonaws.com:443"));
        assert!(body.contains("or to --upstream"));
        let answer = String::from_utf8(refusal_answer(&target, false)).unwrap();
        assert!(!answer.contains("--upstream"));
    }

    #[tokio::test]
    async fn garbage_after_a_handshake_byte_is_an_error_not_a_panic() {
        let mut reader = &[0x16u8, 3, 1, 0, 4, 1, 2, 3, 4][..];
        assert!(read_client_hello(&mut reader).await.is_err());
        let mut short = &[0x16u8, 3][..];
        assert!(read_client_hello(&mut short).await.is_err());
    }
}
