//! Reading records from memory and from a mapped file: see `dvd_rw_native::fuzz_checks::record`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

/// One scratch file per fuzzing process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let name = format!("dvd-rw-fuzz-record-{}.dvd.lz4", std::process::id());
        std::env::temp_dir().join(name)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| dvd_rw_native::fuzz_checks::record(data, scratch()));
