//! A CONNECT's `Proxy-Authorization`: the labels a client gives a whole connection through its
//! proxy credentials (`Basic tollgate:callsite=...&test=...`, pyarrow's way), or anything else,
//! which must give none.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tollgate::proxy::fuzzing::proxy_labels(data);
});
