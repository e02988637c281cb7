//! The first bytes a client sends on a CONNECT tunnel: TLS record framing and the ClientHello
//! (parsed by rustls), or anything else, which must be tunnelled untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tollgate::proxy::fuzzing::client_hello(data);
});
