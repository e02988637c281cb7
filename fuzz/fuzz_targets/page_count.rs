//! Listing pages streamed through the page counter (`src/aws/page_count/`): XML (rest-xml, query,
//! ec2), JSON and CBOR bodies of a handful of paginated operations, picked by the first byte, cut
//! into chunks by the second; the answer (items, tokens, why a count cannot be had) must be the
//! same whatever the cuts. Seeds: `fuzz/seeds/page_count/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tollgate::aws::fuzzing::page_count(data);
});
