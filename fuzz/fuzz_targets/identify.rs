//! AWS request identification: a request written as text (`METHOD HOST PATH?QUERY`, then
//! `name: value` header lines, a blank line and the body) identified against the embedded model.
//! Seeds: `fuzz/seeds/identify/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tollgate::aws::fuzzing::identify(data);
});
