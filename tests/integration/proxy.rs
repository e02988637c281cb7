//! The proxy against a real TLS origin, with real clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures_util::StreamExt;

use crate::common::{pattern_chunk, pattern_sha256, Origin, Tollgate};

const AWS_URL: &str = "https://s3.us-east-1.amazonaws.com";

fn upstream_args(origin: &Origin, dir: &std::path::Path) -> Vec<String> {
    vec![
        "--upstream".into(),
        origin.url(),
        "--upstream-ca".into(),
        origin.ca.write(dir).display().to_string(),
    ]
}

fn serve_with(args: &[String]) -> Tollgate {
    Tollgate::serve(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intercepted_requests_reach_the_upstream_intact_over_http1_and_h2() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tollgate = serve_with(&upstream_args(&origin, dir.path()));

    for (client, version) in [
        (
            tollgate.client(&[]).http1_only().build().unwrap(),
            "HTTP/1.1",
        ),
        (tollgate.client(&[]).build().unwrap(), "HTTP/2.0"),
    ] {
        let response = client
            .get(format!("{AWS_URL}/my-bucket/a%2Fkey?list-type=2&prefix=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), version.parse_version());
        let seen = |name: &str| response.headers()[name].to_str().unwrap().to_string();
        // The upstream sees the AWS host, path and query, as it would at AWS.
        assert_eq!(seen("x-seen-host"), "s3.us-east-1.amazonaws.com");
        assert_eq!(
            seen("x-seen-path"),
            "/my-bucket/a%2Fkey?list-type=2&prefix=x"
        );
        assert_eq!(seen("x-amz-request-id"), "TESTREQUESTID");
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("<ListBucketResult>"));
    }

    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("2 AWS calls"), "{stderr}");
    assert!(stderr.contains("s3.us-east-1.amazonaws.com"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_http_requests_to_aws_hosts_are_observed_and_forwarded() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tollgate = serve_with(&upstream_args(&origin, dir.path()));
    let response = tollgate
        .client(&[])
        .build()
        .unwrap()
        .get("http://sqs.us-east-1.amazonaws.com/?Action=ListQueues")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-seen-host"],
        "sqs.us-east-1.amazonaws.com"
    );
    assert_eq!(response.headers()["x-seen-path"], "/?Action=ListQueues");
    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 AWS call "), "{stderr}");
    assert!(stderr.contains("sqs.us-east-1.amazonaws.com"), "{stderr}");
}

/// With `-vv`, each exchange's lines are in its span (inside its connection's), and tell its story
/// in order; nothing from a query or a header value is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_tell_each_exchange_in_its_spans_without_secrets() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = upstream_args(&origin, dir.path());
    args.push("-vv".into());
    let tollgate = serve_with(&args);
    for client in [
        tollgate.client(&[]).http1_only().build().unwrap(),
        tollgate.client(&[]).build().unwrap(),
    ] {
        let response = client
            .get(format!(
                "{AWS_URL}/my-bucket/key?X-Amz-Signature=querysecret&list-type=2"
            ))
            .header("x-amz-security-token", "headersecret")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("querysecret"), "{stderr}");
    assert!(!stderr.contains("headersecret"), "{stderr}");
    assert!(!stderr.contains("list-type"), "{stderr}");

    for id in [1, 2] {
        let span = format!(
            "exchange{{id={id} method=GET host=s3.us-east-1.amazonaws.com path=\"/my-bucket/key\""
        );
        let lines: Vec<&str> = stderr.lines().filter(|line| line.contains(&span)).collect();
        let at = |message: &str| {
            lines
                .iter()
                .position(|line| line.contains(&format!("}}: {message}")))
                .unwrap_or_else(|| panic!("no '{message}' in exchange {id}:\n{stderr}"))
        };
        assert!(at("request") < at("response"), "{stderr}");
        assert!(at("response") < at("exchange ended"), "{stderr}");
        for line in &lines {
            assert!(
                line.contains("connection{client=127.0.0.1:")
                    && line.contains("host=s3.us-east-1.amazonaws.com}:exchange{"),
                "exchange {id} outside its connection's span: {line}\n{stderr}"
            );
        }
        for line in &lines[at("response")..] {
            assert!(line.contains("status=200}"), "{line}\n{stderr}");
        }
    }
}

trait ParseVersion {
    fn parse_version(&self) -> reqwest::Version;
}

impl ParseVersion for &str {
    fn parse_version(&self) -> reqwest::Version {
        match *self {
            "HTTP/1.1" => reqwest::Version::HTTP_11,
            _ => reqwest::Version::HTTP_2,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_hosts_are_tunnelled_without_decryption() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = upstream_args(&origin, dir.path());
    args.extend(["--shutdown-grace".into(), "1".into()]);
    let tollgate = serve_with(&args);
    // The client trusts only the origin's own CA: if tollgate decrypted, the handshake would fail.
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(tollgate.proxy_url()).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(origin.ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/tunnelled", origin.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-seen-host"],
        format!("localhost:{}", origin.addr.port()).as_str()
    );
    drop(client);

    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("0 AWS calls"), "{stderr}");
    assert!(
        stderr.contains(&format!("localhost:{}  1 connection", origin.addr.port())),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_body_streams_each_way_in_bounded_memory() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tollgate = serve_with(&upstream_args(&origin, dir.path()));
    let client = tollgate.client(&[]).http1_only().build().unwrap();
    // What tollgate holds before any body: its code (a debug build maps hundreds of MB of it,
    // and touches more as it grows) and its start-up state. The bodies may add only a bounded
    // amount on top.
    let idle_kib = tollgate.peak_rss_kib();

    // Upload: a generated stream, never held in memory by the test either.
    let chunk = pattern_chunk();
    let chunks = SIZE / chunk.len() as u64;
    let upload =
        futures_util::stream::iter(0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let response = client
        .put(format!("{AWS_URL}/upload"))
        .header("content-length", SIZE)
        .body(reqwest::Body::wrap_stream(upload))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        format!("{SIZE} {}", pattern_sha256(SIZE))
    );

    // Download: hashed as it arrives.
    let response = client
        .get(format!("{AWS_URL}/download?bytes={SIZE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut received = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len() as u64;
        sha2::Digest::update(&mut hasher, &chunk);
    }
    assert_eq!(received, SIZE);
    assert_eq!(
        crate::common::hex(&sha2::Digest::finalize(hasher)),
        pattern_sha256(SIZE)
    );

    // 512 MiB went through; buffering even one body would show here. (The release build's
    // peak, code included, is the bench's figure: `cargo bench --bench proxy`, 64 MiB target.)
    let peak_kib = tollgate.peak_rss_kib();
    assert!(
        peak_kib - idle_kib < 32 * 1024,
        "proxy peak RSS {peak_kib} KiB, {idle_kib} KiB before the bodies"
    );
    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("256.0 MiB"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_gives_502_naming_it_and_the_cause() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let tollgate = Tollgate::serve(&["--upstream", &format!("http://127.0.0.1:{closed_port}")]);
    let response = tollgate
        .client(&[])
        .build()
        .unwrap()
        .get(format!("{AWS_URL}/bucket"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-tollgate-error"], "connect");
    let body = response.text().await.unwrap();
    assert!(body.contains(&format!("127.0.0.1:{closed_port}")), "{body}");
    assert!(body.contains("s3.us-east-1.amazonaws.com"), "{body}");
    assert!(body.to_lowercase().contains("refused"), "{body}");
    let (_, stderr) = tollgate.stop();
    assert!(stderr.contains("failed (connect)"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failing_tls_verification_is_a_502_never_ignored() {
    let origin = Origin::start().await;
    // No --upstream-ca: the origin's certificate is not trusted.
    let tollgate = Tollgate::serve(&["--upstream", &origin.url()]);
    let response = tollgate
        .client(&[])
        .build()
        .unwrap()
        .get(format!("{AWS_URL}/bucket"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let kind = response.headers()["x-tollgate-error"].clone();
    let body = response.text().await.unwrap();
    assert_eq!(kind, "tls", "{body}");
    assert!(
        body.contains("UnknownIssuer") || body.contains("certificate"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_gives_504() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = upstream_args(&origin, dir.path());
    args.extend(["--upstream-timeout".into(), "1".into()]);
    let tollgate = serve_with(&args);
    let response = tollgate
        .client(&[])
        .build()
        .unwrap()
        .get(format!("{AWS_URL}/slow?ms=3000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("--upstream-timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_timeout_starts_after_the_upload_not_before() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = upstream_args(&origin, dir.path());
    args.extend(["--upstream-timeout".into(), "1".into()]);
    let tollgate = serve_with(&args);
    // 3 s of upload at 10 chunks: three times the timeout, and still a success.
    let chunk = bytes::Bytes::from(vec![b'x'; 1000]);
    let slow = futures_util::stream::iter(0..10).then(move |_| {
        let chunk = chunk.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, std::io::Error>(chunk)
        }
    });
    let response = tollgate
        .client(&[])
        .http1_only()
        .build()
        .unwrap()
        .put(format!("{AWS_URL}/upload"))
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().starts_with("10000 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_exchanges_finish_on_sigterm() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tollgate = serve_with(&upstream_args(&origin, dir.path()));
    let client = tollgate.client(&[]).build().unwrap();
    let slow = tokio::spawn(async move {
        let response = client
            .get(format!("{AWS_URL}/slow?ms=1500"))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, stderr) = tokio::task::spawn_blocking(move || tollgate.stop())
        .await
        .unwrap();
    let (status, body) = slow.await.unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "slow done"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 AWS call "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_cut_by_the_end_of_the_grace_period_are_reported_as_missing() {
    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = upstream_args(&origin, dir.path());
    args.extend(["--shutdown-grace".into(), "1".into()]);
    let tollgate = serve_with(&args);
    let client = tollgate.client(&[]).build().unwrap();
    let slow = tokio::spawn(async move {
        client
            .get(format!("{AWS_URL}/slow?ms=10000"))
            .send()
            .await
            .map(|response| response.status())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, stderr) = tokio::task::spawn_blocking(move || tollgate.stop())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("1 connection still open when tollgate stopped"),
        "{stderr}"
    );
    slow.abort();
}

/// Sends raw bytes to the proxy port and returns what came back.
fn raw_exchange(tollgate: &Tollgate, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(tollgate.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn malformed_proxy_requests_get_400_and_oversized_heads_431() {
    let tollgate = Tollgate::serve(&[]);
    for request in [
        &b"CONNECT s3.amazonaws.com HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n"[..],
        b"CONNECT /nonsense HTTP/1.1\r\n\r\n",
        b"GET /not-a-proxy-request HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\x01\x02 garbage\r\n\r\n",
    ] {
        let response = raw_exchange(&tollgate, request);
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{:?} -> {response:?}",
            String::from_utf8_lossy(request)
        );
    }
    let response = raw_exchange(&tollgate, b"CONNECT s3.amazonaws.com HTTP/1.1\r\n\r\n");
    assert!(response.contains("host:port"), "{response}");

    let huge = format!(
        "GET http://s3.amazonaws.com/ HTTP/1.1\r\nHost: s3.amazonaws.com\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let response = raw_exchange(&tollgate, huge.as_bytes());
    assert!(response.starts_with("HTTP/1.1 431"), "{response:?}");
}

#[test]
fn a_silent_client_is_disconnected_after_the_header_timeout() {
    let tollgate = Tollgate::serve(&["--header-timeout", "1"]);
    let mut stream = TcpStream::connect(tollgate.addr).unwrap();
    stream
        .write_all(b"CONNECT s3.amazonaws.com:443 HTTP/1.1\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    // Closed by the proxy (not our 10 s read timeout).
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_non_loopback_listen_address_needs_an_explicit_flag() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        crate::common::tollgate(home.path(), &["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_offering_only_non_http_alpn_is_tunnelled_even_to_an_intercepted_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A TLS server on localhost speaking a non-HTTP protocol (as AWS IoT's MQTT over 443 does).
    let origin_ca = crate::common::TestCa::new();
    let config = origin_ca.server_config(&["localhost"], &[b"x-amzn-mqtt-ca"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(config)
            .accept(stream)
            .await
            .unwrap();
        tls.write_all(b"MQTT hello").await.unwrap();
        tls.shutdown().await.unwrap();
    });

    // localhost is on the intercept list (and the CA permits it), so only ALPN can save it.
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        crate::common::tollgate(home.path(), &["ca", "init", "--domain", "localhost"]);
    assert_eq!(code, Some(0), "{stderr}");
    let tollgate = Tollgate::serve_in(home, &["--intercept", "localhost"]);

    let mut stream = tokio::net::TcpStream::connect(tollgate.addr).await.unwrap();
    stream
        .write_all(
            format!("CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 19];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[..12], b"HTTP/1.1 200");
    let mut rest = Vec::new();
    while !rest.ends_with(b"\r\n\r\n") && !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        rest.push(byte[0]);
    }

    let mut roots = rustls::RootCertStore::empty();
    roots.add(origin_ca.der.clone()).unwrap();
    let mut client_config = rustls::ClientConfig::builder_with_provider(crate::common::ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_config.alpn_protocols = vec![b"x-amzn-mqtt-ca".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client_config));
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), stream)
        .await
        .expect("the origin's own certificate: the connection was tunnelled");
    let mut greeting = Vec::new();
    tls.read_to_end(&mut greeting).await.unwrap();
    assert_eq!(greeting, b"MQTT hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_to_websocket_through_an_intercepted_host_works_both_ways() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    let origin = Origin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tollgate = serve_with(&upstream_args(&origin, dir.path()));
    let host = "abc123.execute-api.us-east-1.amazonaws.com";

    let mut stream = tokio::net::TcpStream::connect(tollgate.addr).await.unwrap();
    stream
        .write_all(format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut reader = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
    }

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(tollgate.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::common::ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(host.try_into().unwrap(), reader.into_inner())
        .await
        .unwrap();
    let mut tls = tokio::io::BufReader::new(tls);
    tls.write_all(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut status = String::new();
    tls.read_line(&mut status).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    let mut header = String::new();
    while header != "\r\n" {
        header.clear();
        tls.read_line(&mut header).await.unwrap();
    }
    tls.write_all(b"ping over the upgraded connection")
        .await
        .unwrap();
    let mut echoed = vec![0u8; 33];
    tls.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, b"ping over the upgraded connection");
    drop(tls);

    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("101"),
        "the handshake is an exchange: {stderr}"
    );
}

/// Opens a CONNECT tunnel to `authority` and reads the proxy's `200` head.
fn open_tunnel(tollgate: &Tollgate, authority: &str) -> TcpStream {
    let mut stream = TcpStream::connect(tollgate.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    stream
}

#[test]
fn a_connect_to_an_intercepted_host_that_is_not_tls_is_refused_not_tunnelled() {
    // The intercepted host (localhost, standing in for an AWS endpoint) listens: a blind tunnel
    // would reach it. So does the --upstream: nothing may reach it either.
    let real_host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = real_host.local_addr().unwrap().port();
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let home = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        crate::common::tollgate(home.path(), &["ca", "init", "--domain", "localhost"]);
    assert_eq!(code, Some(0), "{stderr}");
    let tollgate = Tollgate::serve_in(
        home,
        &[
            "--intercept",
            "localhost",
            "--upstream",
            &format!("http://{}", upstream.local_addr().unwrap()),
        ],
    );

    // Plain HTTP inside the tunnel: an HTTP answer that says why, then the close.
    let mut stream = open_tunnel(&tollgate, &format!("localhost:{port}"));
    stream
        .write_all(b"GET /secret-path?X-Amz-Signature=abc HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "still open ({read:?}) after {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("TLS"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer:?}"
    );

    // Bytes that are neither TLS nor HTTP: just the close.
    let mut stream = open_tunnel(&tollgate, &format!("localhost:{port}"));
    stream.write_all(b"\x00\x01\x02 not a protocol").unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(read.is_ok(), "still open ({read:?})");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));

    for (name, listener) in [
        ("the intercepted host", &real_host),
        ("--upstream", &upstream),
    ] {
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_err(), "{name} got a connection");
    }
    let (code, stderr) = tollgate.stop();
    assert_eq!(code, Some(0), "{stderr}");
    // One warning per refusal, naming the host and nothing of what the client sent; the summary
    // counts them; nothing was tunnelled.
    assert_eq!(
        stderr.matches("WARN").count(),
        2,
        "one warning per refused tunnel: {stderr}"
    );
    assert!(
        stderr.contains("host=localhost") && stderr.contains(&format!("port={port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-path"), "{stderr}");
    assert!(!stderr.contains("X-Amz-Signature"), "{stderr}");
    assert!(
        stderr.contains("2 tunnels to intercepted hosts refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("tunnelled without decryption"), "{stderr}");
}

/// Sends raw bytes to the proxy port and reads until the proxy closes the connection; panics if
/// it is still open after 5 s (the header timeout is 60 s, so only a close ends the read).
fn raw_exchange_until_closed(tollgate: &Tollgate, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(tollgate.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(
        read.is_ok(),
        "the proxy left the connection open ({read:?}) after {response:?}"
    );
    response
}

#[test]
fn a_400_for_get_slash_closes_the_connection() {
    let tollgate = Tollgate::serve(&[]);
    let response = raw_exchange_until_closed(&tollgate, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 400"), "{response:?}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response:?}"
    );
}

#[test]
fn a_400_for_a_malformed_connect_closes_the_connection() {
    let tollgate = Tollgate::serve(&[]);
    let response = raw_exchange_until_closed(
        &tollgate,
        b"CONNECT s3.amazonaws.com HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 400"), "{response:?}");
    assert!(response.contains("host:port"), "{response:?}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response:?}"
    );
}

#[test]
fn a_502_for_a_host_not_intercepted_does_not_claim_it_was_sent_upstream() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A port just closed on 127.0.0.2: the other tests' servers (tollgate, moto) listen on
    // 127.0.0.1, so none of them can take it meanwhile and answer in its place.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let tollgate = Tollgate::serve(&[
        "--upstream",
        &format!("http://{}", upstream.local_addr().unwrap()),
    ]);
    let response = raw_exchange_until_closed(
        &tollgate,
        format!(
            "GET http://127.0.0.2:{closed_port}/page HTTP/1.1\r\nHost: 127.0.0.2:{closed_port}\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(response.starts_with("HTTP/1.1 502"), "{response:?}");
    // The host is not intercepted: tollgate tried it directly, and says so.
    assert!(!response.contains("sent to --upstream"), "{response:?}");
    assert!(response.contains("not intercepted"), "{response:?}");
    assert!(
        response.contains(&format!("127.0.0.2:{closed_port}")),
        "{response:?}"
    );
    upstream.set_nonblocking(true).unwrap();
    assert!(upstream.accept().is_err(), "the upstream got a connection");
}

/// The longest an AWS API keeps a caller waiting for a response head by its own limits: Bedrock's
/// inference timeout (60 min; Lambda's synchronous Invoke is 15 min, an SQS long poll 20 s).
const LONGEST_AWS_WAIT_SECS: u64 = 60 * 60;

#[test]
fn the_default_upstream_timeout_outlasts_every_aws_wait_and_is_the_documented_one() {
    let home = tempfile::tempdir().unwrap();
    let (code, help, stderr) = crate::common::tollgate(home.path(), &["serve", "--help"]);
    assert_eq!(code, Some(0), "{stderr}");
    let flag = help
        .find("--upstream-timeout <SECS>")
        .unwrap_or_else(|| panic!("no --upstream-timeout in {help}"));
    let shown: u64 = help[flag..]
        .split_once("[default: ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(value, _)| value.parse().ok())
        .unwrap_or_else(|| panic!("no default for --upstream-timeout in {help}"));

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let documented: u64 = readme
        .split_once("`--upstream-timeout` (")
        .and_then(|(_, rest)| rest.split_once(" s"))
        .and_then(|(value, _)| value.parse().ok())
        .expect("README gives --upstream-timeout's default as `--upstream-timeout` (N s");

    assert_eq!(shown, documented, "--help and README disagree");
    assert!(
        help[flag..].contains(&format!("The default, {shown} ")),
        "the flag's own explanation names another default: {help}"
    );
    assert!(
        shown > LONGEST_AWS_WAIT_SECS,
        "a {shown} s default cuts calls AWS would still answer (up to {LONGEST_AWS_WAIT_SECS} s)"
    );
}
