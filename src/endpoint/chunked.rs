//! Re-signing an `aws-chunked` body (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, and its `-TRAILER`
//! variant) as it streams through.
//!
//! Each chunk's signature chains from the one before, starting at the request's own signature
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>): once the head is
//! re-signed for the real host, every chunk must be too. The framing and every length stay as
//! the client sent them (a signature is 64 hex digits either way), so `Content-Length` and
//! `x-amz-decoded-content-length` still hold. A chunk is held whole until it is signed: memory
//! is one chunk (the SDKs send 64 KiB to 8 MiB), whatever the object's size.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::http::Headers;
use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame};

/// A chunk larger than this is refused: the body would otherwise be held in memory whole.
pub const MAX_CHUNK: usize = 16 * 1024 * 1024;
/// A chunk header or trailer line longer than this is malformed.
const MAX_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("malformed aws-chunked body: {0}")]
    Malformed(&'static str),
    #[error("an aws-chunked chunk of {0} bytes is larger than the {MAX_CHUNK} tollgate holds to re-sign")]
    TooLarge(usize),
    #[error("cannot sign a chunk: {0}")]
    Sign(String),
}

/// What the chunks are signed with: the same identity, scope and time as the head.
pub struct ChunkSigner {
    pub identity: Identity,
    pub region: String,
    pub service: String,
    pub time: SystemTime,
    /// The previous signature: the head's, then each chunk's.
    pub running: String,
}

impl ChunkSigner {
    fn params(&self) -> Result<v4::SigningParams<'_, ()>, ChunkError> {
        v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.time)
            .settings(())
            .build()
            .map_err(|error| ChunkError::Sign(error.to_string()))
    }

    fn sign_chunk(&mut self, data: &Bytes) -> Result<String, ChunkError> {
        let params = self.params()?;
        let signature = v4::sign_chunk(data, &self.running, &params)
            .map_err(|error| ChunkError::Sign(error.to_string()))?
            .signature()
            .to_string();
        self.running = signature.clone();
        Ok(signature)
    }

    fn sign_trailer(&mut self, trailers: &Headers) -> Result<String, ChunkError> {
        let params = self.params()?;
        let signature = v4::sign_trailer(trailers, &self.running, &params)
            .map_err(|error| ChunkError::Sign(error.to_string()))?
            .signature()
            .to_string();
        self.running = signature.clone();
        Ok(signature)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk's header line.
    Header,
    /// Reading a chunk's data (its size).
    Data(usize),
    /// Reading the CRLF after a chunk's data.
    DataEnd,
    /// After the final chunk: trailer lines (the `-TRAILER` variant) or the closing CRLF.
    Trailer,
    Done,
}

/// The re-framing state machine, independent of any body type: bytes in, re-signed bytes out.
pub struct Resigner {
    signer: ChunkSigner,
    state: State,
    pending: BytesMut,
    trailers: Vec<(String, String)>,
}

impl Resigner {
    pub fn new(signer: ChunkSigner) -> Self {
        Self {
            signer,
            state: State::Header,
            pending: BytesMut::new(),
            trailers: Vec::new(),
        }
    }

    /// Feeds the next bytes of the client's body; appends what can be sent to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ChunkError> {
        self.pending.extend_from_slice(input);
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(size_text)
                        .ok()
                        .and_then(|text| usize::from_str_radix(text.trim(), 16).ok())
                        .ok_or(ChunkError::Malformed("a chunk header without a hex size"))?;
                    if size > MAX_CHUNK {
                        return Err(ChunkError::TooLarge(size));
                    }
                    if size == 0 {
                        let signature = self.signer.sign_chunk(&Bytes::new())?;
                        out.extend_from_slice(
                            format!("0;chunk-signature={signature}\r\n").as_bytes(),
                        );
                        self.state = State::Trailer;
                    } else {
                        self.state = State::Data(size);
                    }
                }
                State::Data(size) => {
                    if self.pending.len() < size {
                        self.pending.reserve(size - self.pending.len());
                        return Ok(());
                    }
                    let data = self.pending.split_to(size).freeze();
                    let signature = self.signer.sign_chunk(&data)?;
                    out.extend_from_slice(
                        format!("{size:x};chunk-signature={signature}\r\n").as_bytes(),
                    );
                    out.extend_from_slice(&data);
                    out.extend_from_slice(b"\r\n");
                    self.state = State::DataEnd;
                }
                State::DataEnd => {
                    if self.pending.len() < 2 {
                        return Ok(());
                    }
                    if &self.pending[..2] != b"\r\n" {
                        return Err(ChunkError::Malformed("chunk data not followed by CRLF"));
                    }
                    self.pending.advance(2);
                    self.state = State::Header;
                }
                State::Trailer => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    if line.is_empty() {
                        self.finish_trailers(out)?;
                        self.state = State::Done;
                        continue;
                    }
                    let text = std::str::from_utf8(&line)
                        .map_err(|_| ChunkError::Malformed("a trailer that is not text"))?;
                    let (name, value) = text
                        .split_once(':')
                        .ok_or(ChunkError::Malformed("a trailer without a colon"))?;
                    self.trailers
                        .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                }
                State::Done => {
                    if !self.pending.is_empty() {
                        return Err(ChunkError::Malformed("bytes after the final chunk"));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Whether the body ended where it may end.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Writes the trailers, with a new `x-amz-trailer-signature` when the client signed them.
    fn finish_trailers(&mut self, out: &mut BytesMut) -> Result<(), ChunkError> {
        let signed = self
            .trailers
            .iter()
            .any(|(name, _)| name == "x-amz-trailer-signature");
        let mut headers = Headers::new();
        for (name, value) in &self.trailers {
            if name == "x-amz-trailer-signature" {
                continue;
            }
            out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            headers
                .try_insert(name.clone(), value.clone())
                .map_err(|_| ChunkError::Malformed("a trailer that is not a header"))?;
        }
        if signed {
            let signature = self.signer.sign_trailer(&headers)?;
            out.extend_from_slice(format!("x-amz-trailer-signature:{signature}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The next CRLF-terminated line of `pending`, without its CRLF.
    fn take_line(&mut self) -> Result<Option<Bytes>, ChunkError> {
        match memchr::memmem::find(&self.pending, b"\r\n") {
            // However the body was cut: a long line is refused whether or not its end has come.
            Some(at) if at > MAX_LINE => Err(ChunkError::Malformed(
                "a chunk header or trailer line too long",
            )),
            Some(at) => {
                let line = self.pending.split_to(at).freeze();
                self.pending.advance(2);
                Ok(Some(line))
            }
            None if self.pending.len() > MAX_LINE => Err(ChunkError::Malformed(
                "a chunk header or trailer line too long",
            )),
            None => Ok(None),
        }
    }
}

pin_project_lite::pin_project! {
    /// A body whose aws-chunked framing is re-signed as it passes.
    pub struct ResignedBody<B> {
        #[pin]
        inner: B,
        resigner: Resigner,
        ended: bool,
    }
}

impl<B> ResignedBody<B> {
    pub fn new(inner: B, signer: ChunkSigner) -> Self {
        Self {
            inner,
            resigner: Resigner::new(signer),
            ended: false,
        }
    }
}

impl<B> Body for ResignedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<crate::proxy::BoxError>,
{
    type Data = Bytes;
    type Error = crate::proxy::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        loop {
            if *this.ended {
                return Poll::Ready(None);
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        // HTTP trailers of the request itself: the aws-chunked framing carries
                        // its own, so there are none to keep.
                        continue;
                    };
                    let mut out = BytesMut::new();
                    this.resigner.push(&data, &mut out)?;
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                    }
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error.into()))),
                None => {
                    *this.ended = true;
                    if !this.resigner.is_complete() {
                        return Poll::Ready(Some(Err(Box::new(ChunkError::Malformed(
                            "the body ended before its final chunk",
                        )))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        // Same framing, same length.
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::signing::example_credentials;

    fn signer(seed: &str) -> ChunkSigner {
        ChunkSigner {
            identity: example_credentials(None).into(),
            region: "us-east-1".into(),
            service: "s3".into(),
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600),
            running: seed.into(),
        }
    }

    /// AWS's documented example (sigv4-streaming.html: a 66,560-byte object of 'a' in 64 KiB and
    /// 1 KiB chunks, 2013-05-24, secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY): re-signed from
    /// the documented seed signature, each chunk gets the documented signature.
    #[test]
    fn the_documented_example_re_signs_to_the_documented_signatures() {
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={}\r\n", "0".repeat(64)).as_bytes());
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(format!("400;chunk-signature={}\r\n", "0".repeat(64)).as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(format!("0;chunk-signature={}\r\n\r\n", "0".repeat(64)).as_bytes());

        let mut resigner = Resigner::new(signer(seed));
        let mut out = BytesMut::new();
        // Fed in awkward pieces: a boundary may fall anywhere.
        for piece in body.chunks(7001) {
            resigner.push(piece, &mut out).unwrap();
        }
        assert!(resigner.is_complete());
        assert_eq!(out.len(), body.len());
        let text = String::from_utf8_lossy(&out);
        for documented in [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ] {
            assert!(text.contains(documented), "missing {documented}");
        }
    }

    #[test]
    fn signed_trailers_are_re_signed_and_malformed_bodies_refused() {
        let mut body = Vec::new();
        body.extend_from_slice(
            format!("3;chunk-signature={}\r\nabc\r\n", "1".repeat(64)).as_bytes(),
        );
        body.extend_from_slice(format!("0;chunk-signature={}\r\n", "1".repeat(64)).as_bytes());
        body.extend_from_slice(b"x-amz-checksum-crc32:NSRBwg==\r\n");
        body.extend_from_slice(
            format!("x-amz-trailer-signature:{}\r\n\r\n", "1".repeat(64)).as_bytes(),
        );
        let mut resigner = Resigner::new(signer(&"2".repeat(64)));
        let mut out = BytesMut::new();
        resigner.push(&body, &mut out).unwrap();
        assert!(resigner.is_complete());
        assert_eq!(out.len(), body.len());
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.contains("x-amz-checksum-crc32:NSRBwg==\r\n"));
        assert!(!text.contains(&"1".repeat(64)), "every signature replaced");

        for bad in [
            &b"zz;chunk-signature=00\r\n"[..],
            &b"3;chunk-signature=00\r\nabcXX"[..],
        ] {
            let mut resigner = Resigner::new(signer("00"));
            assert!(resigner.push(bad, &mut BytesMut::new()).is_err());
        }
        let mut resigner = Resigner::new(signer("00"));
        assert!(matches!(
            resigner.push(b"2000000;chunk-signature=00\r\n", &mut BytesMut::new()),
            Err(ChunkError::TooLarge(_))
        ));
    }
}
