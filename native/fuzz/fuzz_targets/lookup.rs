//! Lookups and the replay fast path: see `dvd_rw_native::fuzz_checks::lookup`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dvd_rw_native::fuzz_checks::lookup(data));
