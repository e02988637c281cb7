//! Response bodies as usage and paginator-loop extraction read them: XML (truncated or not),
//! JSON, CBOR and Bedrock event streams, for a handful of operations picked by the first byte.
//! Seeds: `fuzz/seeds/response/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tollgate::aws::fuzzing::response(data);
});
