//! What the fuzz targets (`native/fuzz/`) check on each input, here so that the ordinary
//! `cargo test` replays every committed finding (`native/fuzz/regressions/`) through the same
//! checks. Each check takes any bytes; a panic is a finding: the reader must answer every input
//! with a value or a `DvdError`, and its different paths to the same answer must agree.
#![allow(clippy::panic)]

use crate::error::{DvdError, DvdResult, ErrorCode};
use crate::find::{find, FindState, Query, FOUND, NONE, NO_ROOM, RESULT_LEN};
use crate::find::{SLOT_COUNT, SLOT_ID, SLOT_SAME_REQUEST, SLOT_STATUS};
use crate::frame::{blocks_for, decode_record, decode_record_into};
use crate::reader::Reader;
use crate::record_layout::{method_and_url, record_layout};
use crate::request_key::{simple_key, url_matchers};
use crate::reseal::{reseal, reseal_blocks};
use std::path::Path;

/// How many records a check reads at most per input: enough to reach every shape of the seeds,
/// few enough to keep executions fast.
const MAX_RECORDS: u32 = 24;

/// The input itself, then a copy with every checksum made to match, so that mutations reach the
/// structure and the records behind the checksums as well as the checksums themselves.
fn variants(data: &[u8]) -> [Vec<u8>; 2] {
    let mut sealed = data.to_vec();
    reseal_blocks(&mut sealed);
    reseal(&mut sealed);
    [data.to_vec(), sealed]
}

fn code<T>(r: &Result<T, DvdError>) -> Option<ErrorCode> {
    r.as_ref().err().map(|e| e.code)
}

/// Opening (header, footer, index checksums) and `verify`: a file `verify` accepts reads every
/// record and its match fields, and its stats agree with the reader.
pub fn open_verify(data: &[u8]) {
    for bytes in variants(data) {
        let len = bytes.len() as u64;
        let Ok(reader) = Reader::from_bytes(bytes) else {
            continue;
        };
        let stats = reader.stats();
        assert_eq!(stats.record_count, reader.count());
        assert_eq!(stats.file_len, len);
        if reader.verify().is_ok() {
            for id in 0..reader.count().min(MAX_RECORDS) {
                assert!(reader.record(id).is_ok(), "verified, record {id} fails");
                assert!(
                    reader.match_fields(id).is_ok(),
                    "verified, fields {id} fail"
                );
            }
        }
    }
}

/// Where [`find`] writes: its result slots and a room for the record it chooses.
struct Found {
    room: Vec<u8>,
    result: Vec<u32>,
}

impl Found {
    fn new() -> Self {
        Found {
            room: vec![0u8; 1 << 16],
            result: vec![0u32; RESULT_LEN],
        }
    }

    /// The replay lookup of `query`, taking the first candidate whatever its plays.
    fn first(&mut self, reader: &Reader, state: &mut FindState, query: &Query) -> DvdResult<()> {
        self.result.fill(0);
        find(
            reader,
            state,
            query,
            0,
            None,
            &mut self.room,
            &mut self.result,
        )
    }

    fn slot(&self, slot: usize) -> u32 {
        self.result.get(slot).copied().unwrap_or(u32::MAX)
    }
}

/// `lookup` and the replay lookup by key (`find`) see the same candidates: the same count and
/// the same first id, or the same error (`find` also reads the first candidate's record, so a
/// record that fails to read fails it with the code reading that record gives).
fn lookups_agree(reader: &Reader, state: &mut FindState, found: &mut Found, key: &[u8]) {
    let ids = reader.lookup(key);
    let chosen = found.first(reader, state, &Query::Key(key));
    match (&ids, &chosen) {
        (Ok(ids), Ok(())) => {
            assert_eq!(
                found.slot(SLOT_COUNT) as usize,
                ids.len(),
                "lookup {ids:?}: count"
            );
            match ids.first() {
                None => assert_eq!(found.slot(SLOT_STATUS), NONE),
                Some(&first) => {
                    assert!([FOUND, NO_ROOM].contains(&found.slot(SLOT_STATUS)));
                    assert_eq!(found.slot(SLOT_ID), first, "lookup {ids:?}: first id");
                }
            }
        }
        (Ok(ids), Err(e)) => {
            let first = ids.first().copied();
            let read = first.map(|id| code(&reader.record(id)));
            assert_eq!(read, Some(Some(e.code)), "lookup {ids:?}, find fails: {e}");
        }
        (Err(a), Err(b)) => assert_eq!(a.code, b.code),
        (Err(a), Ok(())) => panic!("lookup fails ({a}), find does not"),
    }
}

/// Lookups with keys from the input bytes and from the file's own records, as replay computes
/// them: `lookup` and `find`, by key and by dispatch parts, agree.
pub fn lookup(data: &[u8]) {
    for bytes in variants(data) {
        let Ok(reader) = Reader::from_bytes(bytes) else {
            continue;
        };
        let mut state = FindState::new(reader.match_on());
        let mut found = Found::new();
        lookups_agree(&reader, &mut state, &mut found, b"GET https://example.com/");
        let head = data.get(..data.len().min(64)).unwrap_or_default();
        lookups_agree(&reader, &mut state, &mut found, head);
        if let Some(word) = data.first_chunk::<8>() {
            let _ = reader.lookup_hash(u64::from_le_bytes(*word));
        }
        let Some(matchers) = url_matchers(reader.match_on()) else {
            continue;
        };
        let mut layout = [0u32; 256];
        for id in 0..reader.count().min(MAX_RECORDS) {
            let Ok(record) = reader.record(id) else {
                continue;
            };
            if record_layout(&record, &mut layout).is_none() {
                continue;
            }
            let Some((method, url)) = method_and_url(&record, &layout) else {
                continue;
            };
            let (Ok(method), Ok(url)) = (std::str::from_utf8(method), std::str::from_utf8(url))
            else {
                continue;
            };
            // The dispatch parts of the recorded URL: the origin, then the path and query.
            let cut = url
                .find("://")
                .and_then(|s| url.get(s + 3..)?.find('/').map(|p| s + 3 + p))
                .unwrap_or(url.len());
            let (origin, path) = url.split_at(cut);
            let Some(simple) = simple_key(method, origin, path, &matchers) else {
                continue;
            };
            lookups_agree(&reader, &mut state, &mut found, simple.as_bytes());
            let parts = Query::Parts {
                method,
                origin,
                path,
            };
            // By its parts, the request finds what its key finds, and this record's own request
            // is recognised as the first candidate's when that candidate is this record.
            if found.first(&reader, &mut state, &parts).is_ok() && found.slot(SLOT_STATUS) == FOUND
            {
                let ids = reader.lookup(simple.as_bytes()).unwrap_or_default();
                assert_eq!(
                    ids.first(),
                    Some(&found.slot(SLOT_ID)),
                    "parts differ from lookup"
                );
                assert_eq!(found.slot(SLOT_COUNT) as usize, ids.len());
                if found.slot(SLOT_ID) == id {
                    assert_eq!(
                        found.slot(SLOT_SAME_REQUEST),
                        1,
                        "record {id}: its own request"
                    );
                }
            }
        }
    }
}

/// Records and match fields, whole and into a room too small, from memory and from the file
/// mapped at `scratch` (rewritten for each input): the same bytes or the same error either way.
pub fn record(data: &[u8], scratch: &Path) {
    for bytes in variants(data) {
        if std::fs::write(scratch, &bytes).is_err() {
            return;
        }
        let (owned, mapped) = match (Reader::from_bytes(bytes), Reader::open(scratch)) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => {
                assert_eq!(code(&a), code(&b), "open: memory vs mapped");
                continue;
            }
        };
        let mut short = [0u8; 7];
        for id in 0..owned.count().min(MAX_RECORDS) + 1 {
            let whole = owned.record(id);
            assert_eq!(
                whole.as_ref().ok(),
                mapped.record(id).as_ref().ok(),
                "record {id}"
            );
            assert_eq!(code(&whole), code(&mapped.record(id)), "record {id}");
            let (c, d) = (
                owned.read_record(id, &mut short),
                mapped.read_record(id, &mut short),
            );
            assert_eq!(c.as_ref().ok(), d.as_ref().ok(), "record {id} into 7 bytes");
            assert_eq!(code(&c), code(&d), "record {id} into 7 bytes");
            // Every way of reading a record gives the same answer. `record_len` checks the blocks'
            // sizes only, not their checksums or their LZ4 data: what it refuses, reading refuses
            // the same way, and what reading accepts has its length.
            match (owned.record_len(id), &whole) {
                (Err(e), _) => assert_eq!(code(&whole), Some(e.code), "record {id}: length"),
                (Ok(len), Ok(w)) => assert_eq!(w.len(), len, "record {id}: length"),
                (Ok(_), Err(_)) => {}
            }
            if let Ok(len) = owned.record_len(id) {
                let mut room = vec![0u8; len];
                let into = owned.read_record(id, &mut room);
                assert_eq!(code(&whole), code(&into), "record {id} into its length");
                if let (Ok(w), Ok(Ok(n))) = (&whole, &into) {
                    assert_eq!(w.get(..), room.get(..*n), "record {id} into its length");
                }
            }
            let _ = owned.match_fields(id);
        }
    }
}

/// One record's bytes: the LZ4 blocks of a record (the first four bytes give its length, the
/// rest are its blocks), and the MessagePack layout the replay fast path reads requests from.
pub fn decode(data: &[u8]) {
    let mut layout = [0u32; 256];
    if record_layout(data, &mut layout).is_some() {
        let _ = method_and_url(data, &layout);
    }
    let Some((head, region)) = data.split_first_chunk::<4>() else {
        return;
    };
    // Up to 1 MiB, so that every input decodes in bounded time and memory.
    let raw_len = (u32::from_le_bytes(*head) & 0xF_FFFF) as usize;
    let blocks = blocks_for(raw_len);
    let mut whole = Vec::new();
    let a = decode_record(region, 0, blocks, raw_len, &mut whole);
    let mut exact = vec![0u8; raw_len];
    let b = decode_record_into(region, 0, blocks, &mut exact);
    match (&a, &b) {
        (Ok(n), Ok(m)) => {
            assert_eq!(n, m);
            assert_eq!(whole, exact);
            if record_layout(&whole, &mut layout).is_some() {
                let _ = method_and_url(&whole, &layout);
            }
        }
        (Err(x), Err(y)) => assert_eq!(x.code, y.code, "{x} vs {y}"),
        _ => panic!("decode_record {a:?} vs decode_record_into {b:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TestDir;
    use std::path::PathBuf;

    fn files(dir: &str) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
        let mut all: Vec<PathBuf> = std::fs::read_dir(&root)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        all.sort();
        all
    }

    /// Every committed seed and every committed finding, through the check of its target.
    fn replay(target: &str, seeds: &str, check: impl Fn(&[u8])) {
        let mut inputs = files(&format!("seeds/{seeds}"));
        inputs.extend(files(&format!("regressions/{target}")));
        assert!(!inputs.is_empty(), "no inputs for {target}");
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
            assert!(run.is_ok(), "{target}: {} fails its check", path.display());
        }
    }

    #[test]
    fn fuzz_seeds_and_findings_pass_open_verify() {
        replay("open_verify", "dvd", open_verify);
    }

    #[test]
    fn fuzz_seeds_and_findings_pass_lookup() {
        replay("lookup", "dvd", lookup);
    }

    #[test]
    fn fuzz_seeds_and_findings_pass_record() {
        let dir = TestDir::new("fuzz-record");
        let scratch = dir.join("input.dvd.lz4");
        replay("record", "dvd", |data| record(data, &scratch));
    }

    #[test]
    fn fuzz_seeds_and_findings_pass_decode() {
        replay("decode", "record", decode);
    }
}
