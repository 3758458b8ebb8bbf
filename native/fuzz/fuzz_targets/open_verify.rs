//! Opening a file and verifying it: see `dvd_rw_native::fuzz_checks::open_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dvd_rw_native::fuzz_checks::open_verify(data));
