//! cargo-fuzz target: see fuzz/src/lib.rs, `server_first`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qdtls_fuzz::server_first(data);
});
