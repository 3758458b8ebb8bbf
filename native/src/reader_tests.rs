//! Round-trip, CLI-compatibility and hostile-input tests of the reader
//! (and, through it, of the writer).

use super::*;
use crate::error::ErrorCode;
use crate::format::{
    CHECK_CHUNK, DESCRIPTOR_LEN, OFF_CHECKSUM, OFF_DIR_OFF, OFF_MAJOR, OFF_SECTIONS,
    SKIP_HEADER_LEN, SLOT_LEN,
};
use crate::frame::{FRAME_HEADER_LEN, MAX_BLOCK, STORED_FLAG};
use crate::reseal::{reseal, reseal_blocks};
use crate::test_dir::TestDir;
use crate::writer::Writer;
use std::path::Path;
use std::time::{Duration, Instant};

fn test_dir(name: &str) -> TestDir {
    TestDir::new(&format!("reader-{name}"))
}

/// Simple seeded PRNG (xorshift64*), no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Sample {
    records: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    fields: Vec<Vec<u8>>,
}

impl Sample {
    fn new(n: usize, big: bool) -> Self {
        let mut rng = Rng(42);
        let mut records = Vec::new();
        let mut keys = Vec::new();
        let mut fields = Vec::new();
        for i in 0..n {
            let rec = match i {
                3 => Vec::new(),
                5 if big => {
                    // > 4 MiB: a compressible first block, an incompressible tail.
                    let mut v = b"{\"status\":200,\"body\":\"".repeat(MAX_BLOCK / 22 + 1);
                    v.truncate(MAX_BLOCK);
                    v.extend((0..300_000).map(|_| rng.next() as u8));
                    v
                }
                _ if i % 4 == 1 => (0..50 + i).map(|_| rng.next() as u8).collect(),
                _ => format!(
                    "\u{85}\u{a6}status\u{cc}\u{c8}record {i} {}",
                    "x".repeat(i * 3)
                )
                .into_bytes(),
            };
            records.push(rec);
            keys.push(format!("GET https://example.com/{}", i % 7).into_bytes());
            fields.push(format!("method=GET,path=/{},i={i}", i % 7).into_bytes());
        }
        Sample {
            records,
            keys,
            fields,
        }
    }

    fn write(&self, path: &Path) {
        let mut w = Writer::create(path, "method,scheme,host,port,path,query").unwrap();
        for i in 0..self.records.len() {
            let id = w
                .add(&self.records[i], &self.keys[i], &self.fields[i])
                .unwrap();
            assert_eq!(id as usize, i);
        }
        w.finish().unwrap();
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        let dir = test_dir(name);
        let p = dir.join("s.dvd.lz4");
        self.write(&p);
        std::fs::read(p).unwrap()
    }

    fn expected_ids(&self, key: &[u8]) -> Vec<u32> {
        (0..self.keys.len() as u32)
            .filter(|&i| self.keys[i as usize] == key)
            .collect()
    }
}

#[test]
fn round_trip() {
    let s = Sample::new(40, true);
    let dir = test_dir("round_trip");
    let path = dir.join("rt.dvd.lz4");
    s.write(&path);
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.count(), 40);
    assert_eq!(r.match_on(), "method,scheme,host,port,path,query");
    assert_eq!(r.version(), (1, 0));
    for i in 0..40u32 {
        assert_eq!(r.record(i).unwrap(), s.records[i as usize], "record {i}");
        assert_eq!(r.match_fields(i).unwrap(), s.fields[i as usize]);
    }
    for k in 0..7 {
        let key = format!("GET https://example.com/{k}").into_bytes();
        let ids = r.lookup(&key).unwrap();
        assert_eq!(ids, s.expected_ids(&key));
        assert!(ids.len() >= 5, "duplicate keys keep every record in order");
    }
    assert!(r
        .lookup(b"GET https://example.com/none")
        .unwrap()
        .is_empty());
    assert_eq!(r.record(40).unwrap_err().code, ErrorCode::Range);
    assert_eq!(r.match_fields(u32::MAX).unwrap_err().code, ErrorCode::Range);
    r.verify().unwrap();
    let st = r.stats();
    assert_eq!(st.record_count, 40);
    assert_eq!(st.distinct_keys, 7);
    assert_eq!(st.hash_capacity, 16);
    assert!(st.load_factor <= 0.5);
    let total: u64 = s.records.iter().map(|v| v.len() as u64).sum();
    assert_eq!(st.uncompressed_record_bytes, total);
    assert!(st.compressed_record_bytes < total);
    assert_eq!(st.file_len, std::fs::metadata(&path).unwrap().len());
}

#[test]
fn empty_dvd() {
    let dir = test_dir("empty_dvd");
    let path = dir.join("e.dvd.lz4");
    let mut w = Writer::create(&path, "").unwrap();
    w.finish().unwrap();
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.count(), 0);
    assert!(r.lookup(b"x").unwrap().is_empty());
    r.verify().unwrap();
    assert_eq!(r.record(0).unwrap_err().code, ErrorCode::Range);
}

#[test]
fn lz4_cli_decodes_to_concatenated_records() {
    let lz4 = Path::new("/usr/bin/lz4");
    if !lz4.exists() {
        eprintln!("SKIPPED: /usr/bin/lz4 not found");
        return;
    }
    let s = Sample::new(30, true);
    let dir = test_dir("cli");
    let path = dir.join("cli.dvd.lz4");
    s.write(&path);
    let out = std::process::Command::new(lz4)
        .arg("-dc")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lz4 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<u8> = s.records.concat();
    assert_eq!(out.stdout.len(), expected.len());
    assert!(
        out.stdout == expected,
        "lz4 -dc output differs from the records"
    );
    // The integrity test mode of the tool accepts the file too.
    let t = std::process::Command::new(lz4)
        .arg("-t")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        t.status.success(),
        "lz4 -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
}

#[test]
fn stored_and_compressed_blocks_present() {
    let s = Sample::new(8, true);
    let bytes = s.bytes("blocks");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let mut flags = Vec::new();
    for id in 0..r.count() {
        let (pos, blocks, _) = r.entry(id).unwrap();
        if blocks > 0 {
            let size = read_u32(r.block_area(), pos).unwrap();
            flags.push(size & STORED_FLAG != 0);
        }
    }
    assert!(flags.contains(&true) && flags.contains(&false));
}

#[test]
fn mapped_records_are_read_with_positioned_reads_of_any_size() {
    let dir = test_dir("pread");
    let path = dir.join("r.dvd.lz4");
    let mut rng = Rng(7);
    // Incompressible and compressible records, one spanning two 4 MiB blocks.
    let mut records: Vec<Vec<u8>> = (0..200)
        .map(|i| match i % 3 {
            0 => (0..40_000).map(|_| rng.next() as u8).collect(),
            1 => vec![b'a'; 40_000],
            _ => Vec::new(),
        })
        .collect();
    records.push((0..(5 << 20)).map(|_| rng.next() as u8).collect());
    let mut w = Writer::create(&path, "m").unwrap();
    for (i, rec) in records.iter().enumerate() {
        w.add(rec, format!("k{i}").as_bytes(), b"f").unwrap();
    }
    w.finish().unwrap();
    let r = Reader::open(&path).unwrap();
    let before = PREADS.with(Cell::get);
    let n = records.len() as u32;
    let mut out = Vec::new();
    for pass in 0..2 {
        for k in 0..n {
            let id = (k * 7 + pass) % n;
            r.record_into(id, &mut out).unwrap();
            assert!(out == records[id as usize], "record {id}, pass {pass}");
        }
    }
    assert_eq!(PREADS.with(Cell::get) - before, 2 * u64::from(n));
    let mut short = vec![0u8; 10];
    assert_eq!(r.read_record(0, &mut short).unwrap(), Err(40_000));
    r.verify().unwrap();
}

#[test]
fn a_lying_record_length_is_refused_before_its_bytes_are_read() {
    let dir = test_dir("lying");
    let path = dir.join("l.dvd.lz4");
    let mut rng = Rng(3);
    // Two incompressible 3 MiB records: one stored block each, a 6 MiB data frame.
    let records: Vec<Vec<u8>> = (0..2)
        .map(|_| (0..3 << 20).map(|_| rng.next() as u8).collect())
        .collect();
    let mut w = Writer::create(&path, "m").unwrap();
    for (i, rec) in records.iter().enumerate() {
        w.add(rec, format!("k{i}").as_bytes(), b"f").unwrap();
    }
    w.finish().unwrap();
    let d = Reader::open(&path).unwrap().desc;
    let mut bytes = std::fs::read(&path).unwrap();
    // Record 0 claims 5 MiB (two blocks), more than its one block holds but less than the file.
    let claim = 5u32 << 20;
    let at = d.records.off as usize;
    bytes[at + 8..at + 12].copy_from_slice(&2u32.to_le_bytes());
    bytes[at + 12..at + 16].copy_from_slice(&claim.to_le_bytes());
    reseal(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let r = Reader::open(&path).unwrap();
    let before = PREAD_BYTES.with(Cell::get);
    let e = r.record(0).unwrap_err();
    assert_eq!(e.code, ErrorCode::Corrupt, "{e}");
    assert!(e.message.starts_with("record 0: "), "{e}");
    assert_eq!(
        PREAD_BYTES.with(Cell::get) - before,
        0,
        "read before checking"
    );
    assert_eq!(r.record(1).unwrap(), records[1]);
}

#[test]
fn candidates_are_the_ids_of_a_bucket_in_recording_order() {
    let dir = test_dir("first-of");
    let path = dir.join("f.dvd.lz4");
    let mut w = Writer::create(&path, "m").unwrap();
    for (i, key) in ["a", "b", "a", "c", "a"].iter().enumerate() {
        w.add(format!("r{i}").as_bytes(), key.as_bytes(), b"f")
            .unwrap();
    }
    w.finish().unwrap();
    let r = Reader::open(&path).unwrap();
    for key in [&b"a"[..], b"b", b"c", b"z"] {
        let (hash, candidates) = r.candidates(key).unwrap();
        assert_eq!(hash, crate::index_table::key_hash(key));
        let ids: Vec<u32> = (0..candidates.len())
            .map(|at| candidates.id(at).unwrap())
            .collect();
        assert_eq!(ids, r.lookup(key).unwrap());
        assert_eq!(candidates.is_empty(), ids.is_empty());
    }
    assert_eq!(r.lookup(b"a").unwrap(), vec![0, 2, 4]);
}

#[test]
fn a_candidate_with_an_invalid_id_is_refused_as_lookup_refuses_its_bucket() {
    let dir = test_dir("first-of-bad");
    let path = dir.join("f.dvd.lz4");
    let mut w = Writer::create(&path, "m").unwrap();
    for (i, key) in ["a", "a", "b"].iter().enumerate() {
        w.add(format!("r{i}").as_bytes(), key.as_bytes(), b"f")
            .unwrap();
    }
    w.finish().unwrap();
    let d = Reader::open(&path).unwrap().desc;
    let mut bytes = std::fs::read(&path).unwrap();
    // The bucket ids follow the slots: make the second id of every bucket of two out of range.
    let ids_at = (d.hash.off + u64::from(d.hash_capacity) * SLOT_LEN as u64) as usize;
    let r = Reader::open(&path).unwrap();
    let bucket_a = r.lookup(b"a").unwrap();
    assert_eq!(bucket_a, vec![0, 1]);
    drop(r);
    let second = (0..3)
        .map(|k| ids_at + k * 4)
        .find(|&at| bytes[at..at + 4] == 1u32.to_le_bytes())
        .unwrap();
    bytes[second..second + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let r = Reader::open(&path).unwrap();
    let general = r.lookup(b"a").unwrap_err();
    let (_, candidates) = r.candidates(b"a").unwrap();
    assert_eq!(candidates.id(0).unwrap(), 0);
    let bad = candidates.id(1).unwrap_err();
    assert_eq!(general.code, ErrorCode::Corrupt, "{general}");
    assert_eq!(bad.code, general.code, "{bad}");
    assert_eq!(r.candidates(b"b").unwrap().1.id(0).unwrap(), 2);
}

#[test]
fn positioned_reads_retry_short_and_interrupted_reads_until_full() {
    let file: Vec<u8> = (0..=255).collect();
    let mut calls = 0;
    let mut buf = [0u8; 40];
    fill_at(&mut buf, 100, |b, at| {
        calls += 1;
        if calls == 2 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = b.len().min(7);
        b[..n].copy_from_slice(&file[at as usize..at as usize + n]);
        Ok(n)
    })
    .unwrap();
    assert_eq!(&buf[..], &file[100..140]);
    assert!(calls > 6);
    let eof = fill_at(&mut buf, 0, |_, _| Ok(0)).unwrap_err();
    assert_eq!(eof.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn old_mapping_survives_rename() {
    let dir = test_dir("rename");
    let path = dir.join("x.dvd.lz4");
    let a = Sample::new(10, false);
    a.write(&path);
    let old = Reader::open(&path).unwrap();
    let mut w = Writer::create(&path, "other").unwrap();
    w.add(b"new", b"k", b"f").unwrap();
    w.finish().unwrap();
    assert_eq!(old.count(), 10);
    assert_eq!(old.record(9).unwrap(), a.records[9]);
    old.verify().unwrap();
    let new = Reader::open(&path).unwrap();
    assert_eq!(new.count(), 1);
    assert_eq!(new.match_on(), "other");
}

#[test]
fn empty_missing_and_foreign_files() {
    let dir = test_dir("foreign");
    let empty = dir.join("empty.dvd.lz4");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(Reader::open(&empty).err().unwrap().code, ErrorCode::NotDvd);
    let text = dir.join("text.dvd.lz4");
    std::fs::write(&text, b"{\"interactions\": []}\n").unwrap();
    assert_eq!(Reader::open(&text).err().unwrap().code, ErrorCode::NotDvd);
    let tiny = dir.join("tiny.dvd.lz4");
    std::fs::write(&tiny, b"x").unwrap();
    assert_eq!(Reader::open(&tiny).err().unwrap().code, ErrorCode::NotDvd);
    // A plain LZ4 frame is not a DVD.
    let mut enc = crate::frame::BlockEncoder::new();
    let mut lz = crate::frame::encode_frame_header(3).to_vec();
    enc.encode_block(b"abc", &mut lz).unwrap();
    lz.extend_from_slice(&[0; 8]);
    assert_eq!(
        Reader::from_bytes(lz).err().unwrap().code,
        ErrorCode::NotDvd
    );
    let missing = dir.join("missing.dvd.lz4");
    assert_eq!(Reader::open(&missing).err().unwrap().code, ErrorCode::Io);
}

/// Exercises every API on `bytes`; only checks that nothing panics.
fn exercise(bytes: Vec<u8>, keys: &[Vec<u8>]) -> bool {
    let Ok(r) = Reader::from_bytes(bytes) else {
        return false;
    };
    for k in keys.iter().take(3) {
        let _ = r.lookup(k);
    }
    let _ = r.lookup(b"not there");
    for id in 0..r.count().min(12) {
        let _ = r.record(id);
        let _ = r.match_fields(id);
    }
    let _ = r.record(r.count());
    let _ = r.match_fields(r.count().wrapping_add(7));
    let _ = r.verify();
    let _ = r.stats();
    true
}

/// A mapped file reads its records with positioned reads, an in-memory one by slicing: both must
/// give the same bytes or the same error for the same file.
fn mapped_reads_like_owned(bytes: &[u8], path: &Path) {
    std::fs::write(path, bytes).unwrap();
    let code = |e: DvdError| e.code;
    let (owned, mapped) = match (Reader::from_bytes(bytes.to_vec()), Reader::open(path)) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            assert_eq!(a.err().map(code), b.err().map(code));
            return;
        }
    };
    let mut short = [0u8; 4];
    for id in 0..owned.count().min(12) + 1 {
        let (a, b) = (owned.record(id), mapped.record(id));
        assert_eq!(a.as_ref().ok(), b.as_ref().ok(), "record {id}");
        assert_eq!(a.err().map(code), b.err().map(code), "record {id}");
        let (a, b) = (
            owned.read_record(id, &mut short),
            mapped.read_record(id, &mut short),
        );
        assert_eq!(a.as_ref().ok(), b.as_ref().ok(), "record {id} into 4 bytes");
        assert_eq!(
            a.err().map(code),
            b.err().map(code),
            "record {id} into 4 bytes"
        );
    }
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let s = Sample::new(12, false);
    let bytes = s.bytes("trunc");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let index_off = r.desc.index_off as usize;
    for cut in 0..bytes.len() {
        let e = Reader::from_bytes(bytes[..cut].to_vec()).err();
        let e = e.unwrap_or_else(|| panic!("truncation at {cut} was accepted"));
        let expected = if cut == 0 {
            ErrorCode::NotDvd
        } else {
            ErrorCode::Truncated
        };
        assert_eq!(e.code, expected, "cut at {cut} (index at {index_off}): {e}");
    }
}

#[test]
fn newer_major_version_is_refused() {
    let s = Sample::new(3, false);
    let mut bytes = s.bytes("version");
    let len = bytes.len();
    for d in [SKIP_HEADER_LEN, len - DESCRIPTOR_LEN] {
        bytes[d + OFF_MAJOR..d + OFF_MAJOR + 2].copy_from_slice(&2u16.to_le_bytes());
    }
    reseal(&mut bytes);
    let e = Reader::from_bytes(bytes).err().unwrap();
    assert_eq!(e.code, ErrorCode::Version);
    assert!(e.to_string().starts_with("DVD_ERR_VERSION: "));
    assert!(
        e.message.contains("2.0") && e.message.contains("1.0"),
        "{e}"
    );
}

#[test]
fn checksums_catch_index_corruption() {
    let s = Sample::new(12, false);
    let bytes = s.bytes("checksums");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let d = r.desc;
    // meta and the checksum directory are checked at open.
    for at in [d.meta.off, d.dir_off] {
        let mut m = bytes.clone();
        m[at as usize] ^= 0x01;
        let e = Reader::from_bytes(m).err().unwrap();
        assert_eq!(e.code, ErrorCode::Checksum, "{e}");
        assert!(e
            .to_string()
            .starts_with("DVD_ERR_CHECKSUM: index checksum mismatch"));
    }
    // A flipped bit in a record block is found by record() and verify(), not by open().
    let (pos, _, _) = r.entry(0).unwrap();
    let mut m = bytes.clone();
    m[r.layout.blocks.start + pos + 6] ^= 0x10;
    let r2 = Reader::from_bytes(m).unwrap();
    assert_eq!(r2.record(0).unwrap_err().code, ErrorCode::Checksum);
    assert_eq!(r2.verify().unwrap_err().code, ErrorCode::Checksum);
    assert_eq!(r2.record(1).unwrap(), s.records[1]);
}

#[test]
fn hostile_resealed_index_is_an_error() {
    let s = Sample::new(12, false);
    let bytes = s.bytes("hostile");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let d = r.desc;
    // Bucket length 2^32-1 in every occupied slot.
    let mut m = bytes.clone();
    for i in 0..d.hash_capacity as usize {
        let at = d.hash.off as usize + i * SLOT_LEN + 12;
        if read_u32(&m, at) != Some(0) {
            m[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
    }
    reseal(&mut m);
    let r2 = Reader::from_bytes(m).unwrap();
    assert_eq!(r2.lookup(&s.keys[0]).unwrap_err().code, ErrorCode::Corrupt);
    assert!(r2.verify().is_err());
    // Record offset past the end of the file.
    let mut m = bytes.clone();
    let at = d.records.off as usize;
    m[at..at + 8].copy_from_slice(&(bytes.len() as u64 + 100).to_le_bytes());
    reseal(&mut m);
    let r2 = Reader::from_bytes(m).unwrap();
    assert_eq!(r2.record(0).unwrap_err().code, ErrorCode::Corrupt);
    // Overlapping sections (hash table moved onto the record table).
    let mut m = bytes.clone();
    for base in [SKIP_HEADER_LEN, bytes.len() - DESCRIPTOR_LEN] {
        let at = base + OFF_SECTIONS + 24;
        m[at..at + 8].copy_from_slice(&d.records.off.to_le_bytes());
    }
    reseal(&mut m);
    assert_eq!(
        Reader::from_bytes(m).err().unwrap().code,
        ErrorCode::Corrupt
    );
    // Section offset far outside the file.
    let mut m = bytes.clone();
    for base in [SKIP_HEADER_LEN, bytes.len() - DESCRIPTOR_LEN] {
        let at = base + OFF_SECTIONS + 48;
        m[at..at + 8].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    }
    reseal(&mut m);
    assert_eq!(
        Reader::from_bytes(m).err().unwrap().code,
        ErrorCode::Corrupt
    );
    // Trailing garbage.
    let mut m = bytes.clone();
    m.extend_from_slice(b"junk");
    assert!(Reader::from_bytes(m).is_err());
}

#[test]
fn seeded_mutations_never_panic() {
    let s = Sample::new(10, false);
    let bytes = s.bytes("mutations");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let d = r.desc;
    drop(r);
    let len = bytes.len();
    let descs = [SKIP_HEADER_LEN, len - DESCRIPTOR_LEN];
    let mut rng = Rng(0x5EED_D0D0_1234_5678);
    let started = Instant::now();
    let mut opened = 0usize;
    const N: usize = 12_000;
    for n in 0..N {
        let mut m = bytes.clone();
        let kind = rng.below(9);
        let mut seal = rng.below(2) == 0;
        match kind {
            0 => {
                let i = rng.below(len);
                m[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                m[i] = [0u8, 0xFF, 0x80, rng.next() as u8][rng.below(4)];
            }
            2 => {
                m.truncate(rng.below(len));
                seal = false;
            }
            3 => {
                // A descriptor u64 field (both copies) pointing outside the file.
                let field = 16 + 8 * rng.below((OFF_CHECKSUM - 16) / 8);
                let v = [
                    len as u64 + rng.below(100) as u64,
                    u64::MAX,
                    u64::MAX / 2,
                    rng.next(),
                ][rng.below(4)];
                for base in descs {
                    m[base + field..base + field + 8].copy_from_slice(&v.to_le_bytes());
                }
                seal = true;
            }
            4 => {
                // A record-table entry offset/length/blocks set to hostile values.
                let id = rng.below(10);
                let at = d.records.off as usize + id * 16 + [0, 8, 12][rng.below(3)];
                let v = [u32::MAX, 0, len as u32, (len as u32).wrapping_mul(3)][rng.below(4)];
                m[at..at + 4].copy_from_slice(&v.to_le_bytes());
                seal = true;
            }
            5 => {
                // Bucket length 2^32-1 / start out of range in a random slot.
                let slot = rng.below(d.hash_capacity as usize);
                let at = d.hash.off as usize + slot * SLOT_LEN + 8 + 4 * rng.below(2);
                m[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                seal = true;
            }
            6 => {
                // Random u32 anywhere in the index frame.
                let at = d.index_off as usize + rng.below(d.index_len as usize - 4);
                m[at..at + 4].copy_from_slice(&(rng.next() as u32).to_le_bytes());
            }
            7 => {
                // Corrupt record data, then fix block checksums: reaches the LZ4 decoder.
                let start = DESCRIPTOR_FRAME_LEN + FRAME_HEADER_LEN;
                for _ in 0..1 + rng.below(4) {
                    let i = start + rng.below(d.data_len as usize - FRAME_HEADER_LEN - 8);
                    m[i] = rng.next() as u8;
                }
                reseal_blocks(&mut m);
            }
            _ => {
                // Several random bytes anywhere.
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(len);
                    m[i] = rng.next() as u8;
                }
            }
        }
        if seal {
            reseal(&mut m);
        }
        let t = Instant::now();
        if exercise(m, &s.keys) {
            opened += 1;
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "mutation {n} (kind {kind}) too slow"
        );
    }
    eprintln!(
        "{N} mutations, {opened} still opened, {:?}",
        started.elapsed()
    );
    assert!(opened > 100, "resealing should let many mutated files open");
}

#[test]
#[ignore = "slow: 1,000,000 records of 2 KiB; run with --ignored"]
fn million_records_bounded_memory() {
    let dir = test_dir("million");
    let path = dir.join("m.dvd.lz4");
    let mut w = Writer::create(&path, "method,path").unwrap();
    let mut rec = vec![0u8; 2048];
    let mut rng = Rng(7);
    let t = Instant::now();
    for i in 0..1_000_000u32 {
        for chunk in rec.chunks_mut(8).take(32) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        rec[256..260].copy_from_slice(&i.to_le_bytes());
        let key = format!("GET /item/{}", i % 50_000);
        let fields = format!("GET,/item/{}", i % 50_000);
        w.add(&rec, key.as_bytes(), fields.as_bytes()).unwrap();
    }
    w.finish().unwrap();
    eprintln!("wrote 1M records in {:?}", t.elapsed());
    let t = Instant::now();
    let r = Reader::open(&path).unwrap();
    eprintln!("opened in {:?}: {:?}", t.elapsed(), r.stats());
    assert_eq!(r.lookup(b"GET /item/7").unwrap().len(), 20);
    assert_eq!(
        &r.record(999_999).unwrap()[256..260],
        &999_999u32.to_le_bytes()
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for l in status
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
    {
        eprintln!("{l}");
    }
    std::fs::remove_file(&path).unwrap();
}

/// Writes the small example file shown as a hex dump in `docs/FORMAT.md`
/// to `target/format-example.dvd.lz4` (regenerate the dump with
/// `xxd -g1 native/target/format-example.dvd.lz4`). Records 0 and 2 share a key.
#[test]
fn format_example_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/format-example.dvd.lz4");
    let mut w = Writer::create(&path, "method,path").unwrap();
    // {"s":200,"b":"hi"}, {"s":404}, {"s":200,"b":"hi"} as MessagePack.
    let ok = b"\x82\xa1s\xcc\xc8\xa1b\xa2hi";
    let nf = b"\x81\xa1s\xcd\x01\x94";
    w.add(ok, b"GET /a", b"\x92\xa3GET\xa2/a").unwrap();
    w.add(nf, b"GET /b", b"\x92\xa3GET\xa2/b").unwrap();
    w.add(ok, b"GET /a", b"\x92\xa3GET\xa2/a").unwrap();
    w.finish().unwrap();
    let r = Reader::open(&path).unwrap();
    r.verify().unwrap();
    assert_eq!(r.lookup(b"GET /a").unwrap(), vec![0, 2]);
    assert_eq!(r.lookup(b"GET /b").unwrap(), vec![1]);
    assert_eq!(r.record(1).unwrap(), nf);
    let d = r.desc;
    eprintln!("{}: {:?}\n{:#?}", path.display(), r.stats(), d);
}

#[test]
fn empty_match_fields_round_trip() {
    // An empty match-fields value used to point at a chunk the writer never
    // created (nothing pending at `finish`), so match_fields() and verify()
    // failed on a file this crate had just written.
    let cases: [&[&[u8]]; 4] = [
        &[b""],
        &[b"", b""],
        &[&[7u8; 20_000], b""],
        &[b"ab", &[7u8; 20_000], b"", b"cd", b""],
    ];
    for (n, fields) in cases.iter().enumerate() {
        let dir = test_dir("empty_fields");
        let path = dir.join(format!("e{n}.dvd.lz4"));
        let mut w = Writer::create(&path, "m").unwrap();
        for f in fields.iter() {
            w.add(b"rec", b"k", f).unwrap();
        }
        w.finish().unwrap();
        let r = Reader::open(&path).unwrap();
        for (id, f) in fields.iter().enumerate() {
            assert_eq!(r.match_fields(id as u32).unwrap(), *f, "case {n} id {id}");
        }
        r.verify().unwrap_or_else(|e| panic!("case {n}: {e}"));
    }
}

/// Every integer field of the structure, as `(absolute offset, width)`:
/// descriptor fields (both copies get the same value), the LZ4 frame
/// header's content size, record-table entries, hash slots and bucket ids,
/// match-fields chunk table and entries, and every block size field.
/// `(absolute offset, width)` of integer fields.
type FieldList = Vec<(usize, usize)>;

fn structure_fields(b: &[u8], d: &Descriptor) -> (FieldList, FieldList) {
    use crate::format::{
        OFF_CAPACITY, OFF_CHUNKS, OFF_DESC_LEN, OFF_FILE_LEN, OFF_FLAGS, OFF_MINOR,
    };
    let mut desc = vec![(OFF_MINOR, 2), (OFF_DESC_LEN, 2), (OFF_FLAGS, 4)];
    desc.extend((OFF_FILE_LEN..OFF_CAPACITY).step_by(8).map(|o| (o, 8)));
    desc.extend([(OFF_CAPACITY, 4), (OFF_CHUNKS, 4), (OFF_DIR_OFF, 8)]);
    for i in 0..4 {
        desc.push((OFF_SECTIONS + i * 24, 8));
        desc.push((OFF_SECTIONS + i * 24 + 8, 8));
    }
    let mut body = vec![(DESCRIPTOR_FRAME_LEN + 6, 8)];
    let rec = d.records.off as usize;
    for id in 0..d.record_count as usize {
        body.extend([
            (rec + id * 16, 8),
            (rec + id * 16 + 8, 4),
            (rec + id * 16 + 12, 4),
        ]);
    }
    let hash = d.hash.off as usize;
    for s in 0..d.hash_capacity as usize {
        body.extend([
            (hash + s * 16, 8),
            (hash + s * 16 + 8, 4),
            (hash + s * 16 + 12, 4),
        ]);
    }
    let ids = hash + d.hash_capacity as usize * 16;
    body.extend((0..d.record_count as usize).map(|i| (ids + i * 4, 4)));
    let f = d.fields.off as usize;
    for c in 0..d.fields_chunk_count as usize {
        body.extend([(f + c * 16, 8), (f + c * 16 + 8, 4), (f + c * 16 + 12, 4)]);
    }
    let e = f + d.fields_chunk_count as usize * 16;
    body.extend((0..d.record_count as usize * 3).map(|i| (e + i * 4, 4)));
    let mut pos = DESCRIPTOR_FRAME_LEN + FRAME_HEADER_LEN;
    while let Some(size) = read_u32(b, pos).filter(|&s| s != 0) {
        body.push((pos, 4));
        pos += 8 + (size & !STORED_FLAG) as usize;
    }
    (desc, body)
}

fn put_le(b: &mut [u8], at: usize, width: usize, v: u64) {
    if let Some(dst) = b.get_mut(at..at + width) {
        dst.copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

fn get_le(b: &[u8], at: usize, width: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(src) = b.get(at..at + width) {
        v[..width].copy_from_slice(src);
    }
    u64::from_le_bytes(v)
}

/// 20,000 seeded structure-aware mutations: integer fields of every table set
/// to extreme or neighbouring values, then every checksum (sections,
/// descriptors, LZ4 header, blocks) recomputed so the mutation reaches the
/// deep validation and the accessors. Nothing may panic, hang or explode.
#[test]
fn structure_aware_mutations_never_panic() {
    let mut records = Vec::new();
    let mut keys = Vec::new();
    let mut fields = Vec::new();
    let mut rng = Rng(99);
    for i in 0..40usize {
        records.push(match i % 5 {
            0 => Vec::new(),
            1 => (0..200).map(|_| rng.next() as u8).collect(),
            _ => format!("record {i} {}", "abc".repeat(i * 7)).into_bytes(),
        });
        keys.push(format!("GET /{}", i % 9).into_bytes());
        fields.push(format!("{i:04}{}", "f".repeat(900 + i)).into_bytes());
    }
    let s = Sample {
        records,
        keys,
        fields,
    };
    let bytes = s.bytes("structure");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let d = r.desc;
    assert!(d.fields_chunk_count >= 2);
    drop(r);
    let len = bytes.len();
    let descs = [SKIP_HEADER_LEN, len - DESCRIPTOR_LEN];
    let (desc_fields, body_fields) = structure_fields(&bytes, &d);
    let mut rng = Rng(0xD1CE_5EED_0BAD_F00D);
    let dir = test_dir("structure-mapped");
    let mapped = dir.join("m.dvd.lz4");
    let started = Instant::now();
    let (mut opened, mut verified) = (0usize, 0usize);
    const N: usize = 20_000;
    for n in 0..N {
        let mut m = bytes.clone();
        for _ in 0..1 + rng.below(3) * rng.below(2) {
            let in_desc = rng.below(3) == 0;
            let (at, w) = if in_desc {
                desc_fields[rng.below(desc_fields.len())]
            } else {
                body_fields[rng.below(body_fields.len())]
            };
            let base = if in_desc { descs[0] } else { 0 };
            let cur = get_le(&m, base + at, w);
            let max = if w == 8 {
                u64::MAX
            } else {
                (1u64 << (w * 8)) - 1
            };
            let other = if in_desc {
                desc_fields[rng.below(desc_fields.len())]
            } else {
                body_fields[rng.below(body_fields.len())]
            };
            let v = match rng.below(12) {
                0 => 0,
                1 => 1,
                2 => max,
                3 => max - 1,
                4 => 1 << (w * 8 - 1),
                5 => (len as u64)
                    .wrapping_add(rng.below(64) as u64)
                    .wrapping_sub(32),
                6 => cur.wrapping_add(1),
                7 => cur.wrapping_sub(1),
                8 => cur.wrapping_add(8 * (1 + rng.below(4) as u64)),
                9 => get_le(&m, base + other.0, other.1),
                10 => cur ^ (1 << rng.below(w * 8)),
                _ => rng.next(),
            } & max;
            if in_desc {
                for b in descs {
                    put_le(&mut m, b + at, w, v);
                }
            } else {
                put_le(&mut m, at, w, v);
            }
        }
        // Recompute every checksum: LZ4 header byte, blocks, sections, descriptors.
        let h = DESCRIPTOR_FRAME_LEN;
        let hc = ((xxhash_rust::xxh32::xxh32(&m[h + 4..h + 14], 0) >> 8) & 0xFF) as u8;
        m[h + 14] = hc;
        reseal_blocks(&mut m);
        reseal(&mut m);
        let t = Instant::now();
        if let Ok(r) = Reader::from_bytes(m.clone()) {
            opened += 1;
            if r.verify().is_ok() {
                verified += 1;
            }
        }
        if n % 10 == 0 {
            mapped_reads_like_owned(&m, &mapped);
        }
        exercise(m, &s.keys);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "mutation {n} too slow: {:?}",
            t.elapsed()
        );
    }
    eprintln!(
        "{N} structure-aware mutations: {opened} opened, {verified} verified, {:?}",
        started.elapsed()
    );
    assert!(
        opened > N / 4,
        "mutations should mostly reach past the checksums"
    );
}

/// Flips one byte of `b` at `at`.
fn flipped(b: &[u8], at: usize) -> Vec<u8> {
    let mut m = b.to_vec();
    m[at] ^= 0x40;
    m
}

fn assert_chunk_error(e: DvdError, section: &str, chunk: usize) {
    assert_eq!(e.code, ErrorCode::Checksum, "{e}");
    assert!(
        e.message == format!("index checksum mismatch ({section} chunk {chunk})"),
        "{e}"
    );
}

#[test]
fn corrupted_index_pieces_are_found_on_first_use_not_at_open() {
    let s = Sample::new(3000, false);
    let bytes = s.bytes("lazy");
    let r = Reader::from_bytes(bytes.clone()).unwrap();
    let d = r.desc;
    assert!(d.records.len as usize > 4 * CHECK_CHUNK);
    assert!(d.fields.len as usize > 4 * CHECK_CHUNK);
    drop(r);

    // Record table: the piece holding record 2000's entry.
    let id = 2000usize;
    let piece = id * 16 / CHECK_CHUNK;
    let m = flipped(&bytes, d.records.off as usize + id * 16 + 3);
    let r = Reader::from_bytes(m).unwrap();
    assert_eq!(r.record(0).unwrap(), s.records[0]);
    assert_chunk_error(r.record(id as u32).unwrap_err(), "record table", piece);
    assert_chunk_error(r.record_len(id as u32).unwrap_err(), "record table", piece);
    assert_chunk_error(r.verify().unwrap_err(), "record table", piece);
    assert_eq!(r.match_fields(id as u32).unwrap(), s.fields[id]);

    // Hash table: the slot of one key.
    let key = &s.keys[0];
    let h = key_hash(key);
    let mask = d.hash_capacity as usize - 1;
    let mut slot = (h as usize) & mask;
    while read_u64(&bytes, d.hash.off as usize + slot * SLOT_LEN) != Some(h) {
        slot = (slot + 1) & mask;
    }
    let m = flipped(&bytes, d.hash.off as usize + slot * SLOT_LEN + 2);
    let r = Reader::from_bytes(m).unwrap();
    assert_eq!(r.record(5).unwrap(), s.records[5]);
    let piece = slot * SLOT_LEN / CHECK_CHUNK;
    assert_chunk_error(r.lookup(key).unwrap_err(), "hash table", piece);
    assert_chunk_error(r.verify().unwrap_err(), "hash table", piece);
    assert_eq!(r.stats().distinct_keys, 0);
    // The bucket ids too (the last piece of the section).
    let m = flipped(&bytes, (d.hash.off + d.hash.len) as usize - 1);
    let r = Reader::from_bytes(m).unwrap();
    let last = (d.hash.len as usize - 1) / CHECK_CHUNK;
    let errs: Vec<_> = (0..7).filter_map(|k| r.lookup(&s.keys[k]).err()).collect();
    assert!(!errs.is_empty());
    for e in errs {
        assert_chunk_error(e, "hash table", last);
    }
    assert_eq!(r.stats().distinct_keys, 7);

    // Fields table: a record entry (checked with the whole table on first use)...
    let entries = d.fields.off as usize + d.fields_chunk_count as usize * 16;
    let m = flipped(&bytes, entries + 2500 * 12);
    let r = Reader::from_bytes(m).unwrap();
    let piece = (d.fields_chunk_count as usize * 16 + 2500 * 12) / CHECK_CHUNK;
    assert_eq!(r.lookup(key).unwrap(), s.expected_ids(key));
    assert_chunk_error(r.match_fields(0).unwrap_err(), "fields table", piece);
    assert_chunk_error(r.match_fields(1).unwrap_err(), "fields table", piece);
    assert_chunk_error(r.verify().unwrap_err(), "fields table", piece);
    // ... and the data of the last chunk, found by the records stored there only.
    let at = (d.fields.off + d.fields.len) as usize - 1;
    let m = flipped(&bytes, at);
    let r = Reader::from_bytes(m).unwrap();
    let piece = (d.fields.len as usize - 1) / CHECK_CHUNK;
    assert_eq!(r.match_fields(0).unwrap(), s.fields[0]);
    assert_chunk_error(r.match_fields(2999).unwrap_err(), "fields table", piece);
    assert_chunk_error(r.verify().unwrap_err(), "fields table", piece);
    assert_eq!(r.match_fields(0).unwrap(), s.fields[0]);
}

/// Opening checksums the meta section and the checksum directory only: a
/// file of 200,000 records whose record, hash and fields sections are all
/// zeroed still opens, and the bytes hashed at open stay a tiny fraction of
/// the index (they were the whole index before).
#[test]
fn open_checksums_o1_bytes_of_the_index() {
    let dir = test_dir("open_o1");
    let path = dir.join("big.dvd.lz4");
    let mut w = Writer::create(&path, "method,path").unwrap();
    for i in 0..200_000u32 {
        let key = format!("GET /item/{}", i % 20_000);
        w.add(&i.to_le_bytes(), key.as_bytes(), key.as_bytes())
            .unwrap();
    }
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let d = Reader::from_bytes(bytes.clone()).unwrap().desc;
    let mut m = bytes;
    for s in [d.records, d.hash, d.fields] {
        m[s.off as usize..(s.off + s.len) as usize].fill(0);
    }
    VALIDATE_HASHED.with(|c| c.set(0));
    let r = Reader::from_bytes(m).unwrap();
    let hashed = VALIDATE_HASHED.with(|c| c.get());
    assert_eq!(r.count(), 200_000);
    let dir_len = d.dir_len().unwrap();
    assert_eq!(hashed, dir_len + d.meta.len);
    assert!(hashed * 400 < d.index_len, "{hashed} of {}", d.index_len);
    assert_chunk_error(r.record(0).unwrap_err(), "record table", 0);
    assert_eq!(
        r.lookup(b"GET /item/7").unwrap_err().code,
        ErrorCode::Checksum
    );
    assert_eq!(r.match_fields(9).unwrap_err().code, ErrorCode::Checksum);
    assert_eq!(r.verify().unwrap_err().code, ErrorCode::Checksum);
}

/// Open time of 1,000 vs 1,000,000 records (prints; run with --ignored).
#[test]
#[ignore = "slow: writes 1,000,000 records; run with --ignored --nocapture"]
fn open_time_1k_vs_1m() {
    let dir = test_dir("open_time");
    let mut times = Vec::new();
    for n in [1_000u32, 1_000_000] {
        let path = dir.join(format!("n{n}.dvd.lz4"));
        let mut w = Writer::create(&path, "method,path").unwrap();
        for i in 0..n {
            let key = format!("GET /item/{i}");
            w.add(&[7u8; 64], key.as_bytes(), key.as_bytes()).unwrap();
        }
        w.finish().unwrap();
        // Warm the page cache, then take the best of 20 opens.
        drop(Reader::open(&path).unwrap());
        let best = (0..20)
            .map(|_| {
                let t = Instant::now();
                let r = Reader::open(&path).unwrap();
                let e = t.elapsed();
                drop(r);
                e
            })
            .min()
            .unwrap();
        eprintln!("open({n}) = {best:?}");
        times.push(best);
        std::fs::remove_file(&path).unwrap();
    }
    eprintln!(
        "ratio {:.2}",
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
}
