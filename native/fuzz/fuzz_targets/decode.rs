//! Decoding one record's blocks and layout: see `dvd_rw_native::fuzz_checks::decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dvd_rw_native::fuzz_checks::decode(data));
