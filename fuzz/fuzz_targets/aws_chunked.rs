//! An aws-chunked request body as endpoint mode re-signs it (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`):
//! chunk headers, data, the final chunk and trailers, from whatever a client sends. It must never
//! panic, and its answer must not depend on where the network cut the body.
#![no_main]

use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tollgate::endpoint::chunked::{ChunkSigner, Resigner};

fn resign(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), String> {
    let mut resigner = Resigner::new(ChunkSigner {
        identity: tollgate::aws::signing::example_credentials(None).into(),
        region: "us-east-1".into(),
        service: "s3".into(),
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000),
        running: "0".repeat(64),
    });
    let mut out = BytesMut::new();
    for piece in pieces {
        resigner
            .push(piece, &mut out)
            .map_err(|error| error.to_string())?;
    }
    Ok((out.to_vec(), resigner.is_complete()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) * body.len() / 256;
    let whole = resign(&[body]);
    let split = resign(&[&body[..at], &body[at..]]);
    assert_eq!(whole, split, "the answer depends on where the body was cut");
});
