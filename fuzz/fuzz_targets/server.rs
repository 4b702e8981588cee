//! cargo-fuzz target: see fuzz/src/lib.rs, `server`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qdtls_fuzz::server(data);
});
