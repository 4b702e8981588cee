//! cargo-fuzz target: see fuzz/src/lib.rs, `verify_client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qdtls_fuzz::verify_client(data);
});
