//! Arbitrary bytes through the signature engine's CMS, certificate, CRL
//! and policy entry points; see `src/lib.rs`, which the corpus test on
//! stable Rust shares.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tapline_signature_fuzz::fuzz_one(data);
});
