//! The `/metrics` HTTP endpoint: HTTP/1.1, GET and HEAD only, one small task per scraper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Exporter, Format};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--metrics {addr}: cannot listen: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A bound metrics endpoint; serves from [`Self::spawn`] until [`Self::stop`] or the process ends.
pub struct MetricsServer {
    listener: TcpListener,
    stop: CancellationToken,
}

impl MetricsServer {
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            stop: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves `exporter` in a task of its own; the returned token stops it.
    pub fn spawn(self, exporter: Arc<Exporter>) -> CancellationToken {
        let stop = self.stop.clone();
        tokio::spawn(accept_loop(self.listener, exporter, self.stop));
        stop
    }
}

async fn accept_loop(listener: TcpListener, exporter: Arc<Exporter>, stop: CancellationToken) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let exporter = exporter.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(exporter.clone(), request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "metrics: connection ended with an error");
                    }
                }
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn answer(
    exporter: Arc<Exporter>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let plain = |status: StatusCode, text: &'static str| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(text.as_bytes())))
            .expect("a valid response")
    };
    if request.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "tollgate serves its metrics at /metrics\n",
        ));
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n"));
    }
    let format = Format::from_accept(
        request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    // Encoding takes the families' read locks and the drain's lock, never the proxy's: off the
    // runtime's async threads all the same, since a registry of many series takes a moment.
    let rendered = tokio::task::spawn_blocking(move || exporter.render(format)).await;
    Ok(match rendered {
        Ok(Ok(text)) => Response::builder()
            .header(header::CONTENT_TYPE, format.content_type())
            .body(Full::new(Bytes::from(text)))
            .expect("a valid response"),
        _ => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "tollgate: the metrics could not be encoded\n",
        ),
    })
}
