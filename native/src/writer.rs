//! Streaming writer. Records are compressed (on a thread of their own, see
//! `compressor.rs`) and appended to a temporary file next to the target as
//! they are added; memory holds per-record offsets and lengths, key hashes and
//! compressed match fields only. `finish` writes the index, the footer,
//! patches the header, fsyncs and renames over the target, so a process that
//! still maps the old file keeps reading the old inode.

use crate::background_file::{fill_to, BackgroundFile};
use crate::compressor::{lock, Compressor};
use crate::error::{DvdError, DvdResult};
use crate::fields::FieldsBuilder;
use crate::format::{
    align_up, check_chunks, skippable_header, Descriptor, Section, CHECK_CHUNK,
    DESCRIPTOR_FRAME_LEN, DIR_ENTRY_LEN, KIND_FOOTER, KIND_HEADER, MAX_MATCH_ON_LEN,
    RECORD_ENTRY_LEN, SKIP_HEADER_LEN, SKIP_MAGIC_INDEX, VERSION_MAJOR, VERSION_MINOR,
};
use crate::frame::{blocks_for, decode_record, encode_frame_header};
use crate::index_table::{key_hash, BuiltTable};
use crate::reader::read_exact_at;
use crate::session_index::SessionIndex;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xxhash_rust::xxh64::xxh64;

/// Cuts the bytes of one section into [`CHECK_CHUNK`] pieces as they are
/// written and keeps the XXH64 of each (its part of the checksum directory).
#[derive(Default)]
struct ChunkSums {
    pending: Vec<u8>,
    sums: Vec<u8>,
}

impl ChunkSums {
    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if fill_to(&mut self.pending, CHECK_CHUNK, &mut bytes) {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.sums
                .extend_from_slice(&xxh64(&self.pending, 0).to_le_bytes());
            self.pending.clear();
        }
    }

    /// The section's directory entries and the XXH64 of them (for the descriptor).
    fn finish(mut self) -> (Vec<u8>, u64) {
        self.flush();
        let sum = xxh64(&self.sums, 0);
        (self.sums, sum)
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Largest number of records in one file: ids are u32 and the reader (see
/// `docs/FORMAT.md`) requires `record_count < 2^32 - 1`.
pub const MAX_RECORDS: u64 = u32::MAX as u64 - 1;

/// Where written bytes go.
enum Sink {
    /// Records are being added: they go through the compressor.
    Records(Compressor),
    /// The index is being written, straight to the file.
    Index(BackgroundFile),
    /// Finished or aborted.
    Closed,
}

/// Streaming DVD writer.
pub struct Writer {
    target: PathBuf,
    temp: PathBuf,
    sink: Sink,
    /// File offset of the next byte written to [`Sink::Index`] (the compressor keeps its own).
    pos: u64,
    match_on: String,
    /// Uncompressed length of each record (their offsets come from the compressor at the end).
    records: Vec<u32>,
    hashes: Vec<u64>,
    fields: FieldsBuilder,
    content_len: u64,
    /// True once the temp file was renamed onto the target (nothing to clean).
    renamed: bool,
    /// Bytes of the temporary file written to disk so far (by the file's thread).
    written: Arc<AtomicU64>,
    /// The temporary file opened for reading records back, once one is read.
    reading: Option<File>,
    /// The records' key hashes as a lookup index, when asked for (see [`Writer::lookup`]).
    index: Option<SessionIndex>,
}

/// Longest wait for a record to reach the file when it is read back.
const READ_BACK_WAIT: Duration = Duration::from_secs(60);

const DATA_OFF: u64 = DESCRIPTOR_FRAME_LEN as u64;

impl Writer {
    /// Creates the temporary file next to `path` and writes placeholders for
    /// the header and the LZ4 frame header.
    pub fn create(path: impl AsRef<Path>, match_on: &str) -> DvdResult<Self> {
        let target = path.as_ref().to_path_buf();
        if match_on.len() as u64 > MAX_MATCH_ON_LEN {
            return Err(DvdError::limit("match_on string too long"));
        }
        let name = target
            .file_name()
            .ok_or_else(|| DvdError::range(format!("not a file path: {}", target.display())))?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = name.to_os_string();
        temp_name.push(format!(".tmp-{}-{n}", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| DvdError::io("cannot create", &temp, &e))?;
        let start = |mut out: BackgroundFile| {
            let frame_header = encode_frame_header(0);
            out.write_all(&[0u8; DESCRIPTOR_FRAME_LEN])
                .and_then(|()| out.write_all(&frame_header))
                .map_err(|e| DvdError::io("cannot write", &temp, &e))?;
            let written = out.written();
            Compressor::new(out, DATA_OFF + frame_header.len() as u64, temp.clone())
                .map(|c| (c, written))
        };
        let started = BackgroundFile::new(file)
            .map_err(|e| DvdError::io("cannot start writing", &temp, &e))
            .and_then(start);
        let (compressor, written) = match started {
            Ok(started) => started,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        Ok(Writer {
            target,
            temp,
            sink: Sink::Records(compressor),
            pos: 0,
            match_on: match_on.to_owned(),
            records: Vec::new(),
            hashes: Vec::new(),
            fields: FieldsBuilder::new(),
            content_len: 0,
            renamed: false,
            written,
            reading: None,
            index: None,
        })
    }

    /// Keeps a lookup index of the records from now on (call it before adding any), for
    /// [`Writer::lookup`].
    pub fn index_records(&mut self) {
        if self.records.is_empty() {
            self.index = Some(SessionIndex::default());
        }
    }

    /// Ids of the records added with a key whose hash equals that of `key`, in order (candidates:
    /// compare their keys). Empty without [`Writer::index_records`].
    pub fn lookup(&self, key: &[u8]) -> Vec<u32> {
        self.index
            .as_ref()
            .map_or_else(Vec::new, |index| index.lookup(key_hash(key)))
    }

    /// The bytes of record `id`, read back from the temporary file (decompressed, block checksums
    /// checked). A record not yet on disk is sent there first, and waited for.
    pub fn read(&mut self, id: u32) -> DvdResult<Vec<u8>> {
        let len = *self
            .records
            .get(id as usize)
            .ok_or_else(|| DvdError::range(format!("no record {id}")))? as usize;
        let Sink::Records(compressor) = &mut self.sink else {
            return Err(closed());
        };
        let placed = compressor.placed();
        let on_disk = |written: &AtomicU64| {
            lock(&placed)
                .range(id as usize)
                .filter(|&(_, end)| end <= written.load(Ordering::Acquire))
        };
        let range = match on_disk(&self.written) {
            Some(range) => range,
            None => {
                if let Err(e) = compressor.flush() {
                    self.abort();
                    return Err(e);
                }
                let started = Instant::now();
                loop {
                    if let Some(range) = on_disk(&self.written) {
                        break range;
                    }
                    if started.elapsed() > READ_BACK_WAIT {
                        let late = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the record did not reach the file in time",
                        );
                        return Err(DvdError::io("cannot read back", &self.temp, &late));
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        };
        let file = match &self.reading {
            Some(file) => file,
            None => self.reading.insert(
                File::open(&self.temp).map_err(|e| DvdError::io("cannot read", &self.temp, &e))?,
            ),
        };
        let span = usize::try_from(range.1 - range.0)
            .map_err(|_| DvdError::limit("record larger than memory"))?;
        let mut stored = vec![0u8; span];
        read_exact_at(file, &mut stored, range.0)
            .map_err(|e| DvdError::io("cannot read", &self.temp, &e))?;
        let mut record = Vec::new();
        decode_record(&stored, 0, blocks_for(len), len, &mut record)?;
        Ok(record)
    }

    /// Path of the temporary file (for tests and diagnostics).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    fn write(&mut self, bytes: &[u8]) -> DvdResult<()> {
        let Sink::Index(out) = &mut self.sink else {
            return Err(closed());
        };
        out.write_all(bytes)
            .map_err(|e| DvdError::io("cannot write", &self.temp, &e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Appends a record; returns its id.
    pub fn add(&mut self, record: &[u8], key: &[u8], match_fields: &[u8]) -> DvdResult<u32> {
        let Sink::Records(compressor) = &mut self.sink else {
            return Err(closed());
        };
        let id = self.records.len() as u64;
        if id >= MAX_RECORDS {
            return Err(DvdError::limit("too many records"));
        }
        let len =
            u32::try_from(record.len()).map_err(|_| DvdError::limit("record larger than 4 GiB"))?;
        self.fields.add(match_fields)?;
        if let Err(e) = compressor.add(record) {
            // The temp file is now inconsistent: give up on it.
            self.abort();
            return Err(e);
        }
        self.content_len += record.len() as u64;
        self.records.push(len);
        let hash = key_hash(key);
        self.hashes.push(hash);
        if let Some(index) = &mut self.index {
            index.add(id as u32, hash);
        }
        Ok(id as u32)
    }

    /// Number of records added so far.
    pub fn count(&self) -> u32 {
        self.records.len() as u32
    }

    /// Writes the index and footer, patches the header, fsyncs and renames
    /// the temporary file over the target. On error the temp file is removed.
    pub fn finish(&mut self) -> DvdResult<()> {
        if matches!(self.sink, Sink::Closed) {
            return Err(closed());
        }
        let r = self.finish_inner();
        if r.is_err() {
            self.abort();
        }
        r
    }

    fn finish_inner(&mut self) -> DvdResult<()> {
        let Sink::Records(compressor) = std::mem::replace(&mut self.sink, Sink::Closed) else {
            return Err(closed());
        };
        self.reading = None;
        self.index = None;
        let done = compressor.finish()?;
        self.sink = Sink::Index(done.out);
        self.pos = done.pos;
        let (offsets, digest) = (done.offsets, done.content);
        if offsets.len() != self.records.len() {
            return Err(DvdError::corrupt("internal layout error"));
        }
        // End of the data frame: end mark + content checksum.
        self.write(&0u32.to_le_bytes())?;
        self.write(&digest.to_le_bytes())?;
        let data_len = self.pos - DATA_OFF;

        self.fields.flush()?;
        let table = BuiltTable::build(&self.hashes)?;
        self.hashes = Vec::new();
        let count = self.records.len() as u64;

        // Layout of the index frame.
        let index_off = self.pos;
        let too_big = || DvdError::limit("index too large");
        let records_off = align_up(index_off + SKIP_HEADER_LEN as u64).ok_or_else(too_big)?;
        let records_len = count * RECORD_ENTRY_LEN as u64;
        let hash_off = records_off + records_len;
        let hash_len = table.encoded_len();
        let fields_off = align_up(hash_off + hash_len).ok_or_else(too_big)?;
        let fields_len = self.fields.encoded_len();
        let meta_off = align_up(fields_off + fields_len).ok_or_else(too_big)?;
        let meta_len = self.match_on.len() as u64;
        let dir_off = align_up(meta_off + meta_len).ok_or_else(too_big)?;
        let dir_len = [records_len, hash_len, fields_len]
            .iter()
            .map(|&l| check_chunks(l) * DIR_ENTRY_LEN as u64)
            .sum::<u64>();
        let index_end = align_up(dir_off + dir_len).ok_or_else(too_big)?;
        let index_len = index_end - index_off;
        let payload_len = u32::try_from(index_len - SKIP_HEADER_LEN as u64)
            .map_err(|_| DvdError::limit("index larger than 4 GiB (skippable frame limit)"))?;

        self.write(&skippable_header(SKIP_MAGIC_INDEX, payload_len))?;
        self.pad_to(records_off)?;
        let mut h = ChunkSums::default();
        let mut buf = Vec::with_capacity(64 * 1024);
        let records = std::mem::take(&mut self.records);
        for (&len, offset) in records.iter().zip(offsets) {
            // At most 2^32 / MAX_BLOCK blocks, as `len` fits in a u32.
            let blocks = blocks_for(len as usize) as u32;
            buf.extend_from_slice(&offset.to_le_bytes());
            buf.extend_from_slice(&blocks.to_le_bytes());
            buf.extend_from_slice(&len.to_le_bytes());
            if buf.len() >= 60 * 1024 {
                h.update(&buf);
                self.write(&buf)?;
                buf.clear();
            }
        }
        h.update(&buf);
        self.write(&buf)?;
        drop(records);
        let (mut dir, records_sum) = h.finish();

        let mut h = ChunkSums::default();
        table.encode(|b| {
            h.update(b);
            self.write(b)
        })?;
        let (hash_dir, hash_sum) = h.finish();
        dir.extend_from_slice(&hash_dir);
        drop(hash_dir);
        let capacity = table.capacity;
        drop(table);

        self.pad_to(fields_off)?;
        let mut h = ChunkSums::default();
        let fields = std::mem::take(&mut self.fields);
        fields.encode(|b| {
            h.update(b);
            self.write(b)
        })?;
        let (fields_dir, fields_sum) = h.finish();
        dir.extend_from_slice(&fields_dir);
        drop(fields_dir);
        let chunk_count = fields.chunk_count();
        drop(fields);

        self.pad_to(meta_off)?;
        let match_on = std::mem::take(&mut self.match_on);
        self.write(match_on.as_bytes())?;
        let meta_sum = xxh64(match_on.as_bytes(), 0);
        self.pad_to(dir_off)?;
        if dir.len() as u64 != dir_len {
            return Err(DvdError::corrupt("internal layout error"));
        }
        self.write(&dir)?;
        drop(dir);
        self.pad_to(index_end)?;

        let mut desc = Descriptor {
            kind: KIND_FOOTER,
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            flags: 0,
            file_len: index_end + DESCRIPTOR_FRAME_LEN as u64,
            record_count: count,
            content_len: self.content_len,
            data_off: DATA_OFF,
            data_len,
            index_off,
            index_len,
            hash_capacity: capacity,
            fields_chunk_count: chunk_count,
            records: Section {
                off: records_off,
                len: records_len,
                xxh64: records_sum,
            },
            hash: Section {
                off: hash_off,
                len: hash_len,
                xxh64: hash_sum,
            },
            fields: Section {
                off: fields_off,
                len: fields_len,
                xxh64: fields_sum,
            },
            meta: Section {
                off: meta_off,
                len: meta_len,
                xxh64: meta_sum,
            },
            dir_off,
        };
        self.write(&desc.encode_frame())?;

        let Sink::Index(out) = std::mem::replace(&mut self.sink, Sink::Closed) else {
            return Err(closed());
        };
        let temp = self.temp.clone();
        let io = |what: &str, e: std::io::Error| DvdError::io(what, &temp, &e);
        let mut file = out.into_inner().map_err(|e| io("cannot write", e))?;
        desc.kind = KIND_HEADER;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io("cannot seek", e))?;
        file.write_all(&desc.encode_frame())
            .map_err(|e| io("cannot write", e))?;
        file.seek(SeekFrom::Start(DATA_OFF))
            .map_err(|e| io("cannot seek", e))?;
        file.write_all(&encode_frame_header(self.content_len))
            .map_err(|e| io("cannot write", e))?;
        file.sync_all().map_err(|e| io("cannot fsync", e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| DvdError::io("cannot rename onto", &self.target, &e))?;
        self.renamed = true;
        sync_parent_dir(&self.target);
        Ok(())
    }

    fn pad_to(&mut self, off: u64) -> DvdResult<()> {
        const ZEROS: [u8; 8] = [0; 8];
        let n = off
            .checked_sub(self.pos)
            .filter(|&n| n < 8)
            .ok_or_else(|| DvdError::corrupt("internal layout error"))?;
        self.write(ZEROS.get(..n as usize).unwrap_or(&[]))
    }

    /// Drops the temporary file (also after a failed `finish`). Idempotent.
    pub fn abort(&mut self) {
        self.sink = Sink::Closed;
        if !self.renamed {
            self.renamed = true;
            let _ = std::fs::remove_file(&self.temp);
        }
        self.records = Vec::new();
        self.hashes = Vec::new();
        self.fields = FieldsBuilder::new();
        self.reading = None;
        self.index = None;
    }
}

fn closed() -> DvdError {
    DvdError::closed("writer already finished or aborted")
}

/// Makes the rename durable (best effort; not supported on every platform).
fn sync_parent_dir(target: &Path) {
    #[cfg(unix)]
    {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = target;
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::test_dir::TestDir;

    fn scratch(name: &str) -> TestDir {
        TestDir::new(&format!("writer-{name}"))
    }

    #[test]
    fn abort_removes_temp_and_closes() {
        let dir = scratch("abort");
        let target = dir.join("abort.dvd.lz4");
        let mut w = Writer::create(&target, "method,path").unwrap();
        w.add(b"rec", b"key", b"f").unwrap();
        let temp = w.temp_path().to_path_buf();
        assert!(temp.exists());
        w.abort();
        assert!(!temp.exists());
        assert!(!target.exists());
        assert_eq!(w.add(b"x", b"y", b"z").unwrap_err().code, ErrorCode::Closed);
        assert_eq!(w.finish().unwrap_err().code, ErrorCode::Closed);
        w.abort();
    }

    #[test]
    fn records_read_back_while_writing_whether_or_not_they_reached_the_file() {
        let dir = scratch("read-back");
        let target = dir.join("read-back.dvd.lz4");
        let mut w = Writer::create(&target, "m").unwrap();
        w.index_records();
        let record = |i: u32| -> Vec<u8> {
            // Some compressible, some not, one spanning several blocks.
            let len = if i == 3 {
                9 << 20
            } else {
                100 + (i as usize * 37) % 5000
            };
            (0..len)
                .map(|k| {
                    if i.is_multiple_of(2) {
                        (k % 5) as u8
                    } else {
                        (k as u32).wrapping_mul(2_654_435_761) as u8 ^ (k >> 9) as u8
                    }
                })
                .collect()
        };
        for i in 0..3000u32 {
            w.add(&record(i), format!("k{}", i % 7).as_bytes(), b"")
                .unwrap();
            // The record just added (still batched) and an early one (on disk by now).
            if i.is_multiple_of(500) || i == 3 {
                assert_eq!(w.read(i).unwrap(), record(i), "record {i}");
                assert_eq!(w.read(i / 2).unwrap(), record(i / 2), "record {}", i / 2);
            }
        }
        assert_eq!(
            w.lookup(b"k3"),
            (0..3000).filter(|i| i % 7 == 3).collect::<Vec<u32>>()
        );
        assert!(w.lookup(b"k9").is_empty());
        assert_eq!(w.read(3000).unwrap_err().code, ErrorCode::Range);
        w.finish().unwrap();
        assert_eq!(w.read(0).unwrap_err().code, ErrorCode::Range);
        let r = crate::reader::Reader::open(&target).unwrap();
        r.verify().unwrap();
        assert_eq!(r.record(2999).unwrap(), record(2999));
    }

    #[test]
    fn drop_removes_temp() {
        let dir = scratch("drop");
        let target = dir.join("drop.dvd.lz4");
        let w = Writer::create(&target, "").unwrap();
        let temp = w.temp_path().to_path_buf();
        drop(w);
        assert!(!temp.exists());
    }

    #[test]
    fn finish_renames_and_closes() {
        let dir = scratch("finish");
        let target = dir.join("finish.dvd.lz4");
        let mut w = Writer::create(&target, "m").unwrap();
        assert_eq!(w.add(b"a", b"k", b"").unwrap(), 0);
        assert_eq!(w.add(b"b", b"k", b"").unwrap(), 1);
        let temp = w.temp_path().to_path_buf();
        w.finish().unwrap();
        assert!(target.exists());
        assert!(!temp.exists());
        assert_eq!(w.finish().unwrap_err().code, ErrorCode::Closed);
    }

    #[test]
    fn failed_finish_removes_temp() {
        let dir = scratch("is-a-dir");
        let target = dir.join("is-a-dir.dvd.lz4");
        std::fs::create_dir_all(target.join("child")).unwrap();
        let mut w = Writer::create(&target, "").unwrap();
        w.add(b"r", b"k", b"f").unwrap();
        let temp = w.temp_path().to_path_buf();
        assert_eq!(w.finish().unwrap_err().code, ErrorCode::Io);
        assert!(!temp.exists());
        assert!(target.join("child").exists());
    }

    #[test]
    fn record_limit_matches_the_reader() {
        // `add` accepts ids below MAX_RECORDS, so a file can hold MAX_RECORDS
        // records; the reader (and FORMAT.md) require record_count < 2^32 - 1.
        let max_count = MAX_RECORDS;
        assert!(
            max_count < u64::from(u32::MAX),
            "writer could write an unreadable count"
        );
    }

    #[test]
    fn missing_directory_is_io_error() {
        let e = Writer::create("/nonexistent-dir-dvd/x.dvd.lz4", "")
            .err()
            .unwrap();
        assert_eq!(e.code, ErrorCode::Io);
    }
}
