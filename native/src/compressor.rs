//! LZ4 compression of records on a thread of its own.
//!
//! Converting a large JSON DVD is bound by the JavaScript thread (parsing,
//! encoding, keys), and compressing and checksumming each record there was a
//! sixth of its work. Records are instead copied into batches that a thread
//! compresses into frame blocks and hands to the file's own writing thread,
//! so both run beside JavaScript on a second core. Memory stays bounded: at
//! most `QUEUE + 3` batches of about [`BATCH`] bytes exist at once (a record
//! larger than a batch makes one batch of its own, freed once written).

use crate::background_file::BackgroundFile;
use crate::error::{DvdError, DvdResult};
use crate::frame::{BlockEncoder, MAX_BLOCK};
use crate::queue_thread::{Inbox, QueueThread};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use xxhash_rust::xxh32::Xxh32;

/// Bytes of records gathered before a batch is handed to the thread.
const BATCH: usize = 1 << 20;
/// Full batches that may wait for the thread before `add` blocks.
const QUEUE: usize = 2;

/// Records laid end to end, with their lengths.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lens: Vec<usize>,
    /// Once compressed, hand the file's buffer to its thread without waiting for it to fill.
    flush: bool,
}

/// Where the thread has put the records so far, shared with the owner so that it can read
/// records back from the file while it is still being written.
#[derive(Default)]
pub struct Placed {
    /// File offset of each compressed record's first block, in the order added.
    pub offsets: Vec<u64>,
    /// File offset after the last compressed record's blocks.
    pub end: u64,
}

impl Placed {
    /// The file range of record `id`'s blocks, once the thread has compressed it.
    pub fn range(&self, id: usize) -> Option<(u64, u64)> {
        let start = *self.offsets.get(id)?;
        let end = self.offsets.get(id + 1).copied().unwrap_or(self.end);
        Some((start, end))
    }
}

/// [`Placed`] as the thread and its owner share it.
pub type SharedPlaced = Arc<Mutex<Placed>>;

/// Locks `placed`; a panic elsewhere while it was held left nothing half-written in it.
pub fn lock(placed: &SharedPlaced) -> std::sync::MutexGuard<'_, Placed> {
    placed.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the thread has written once every record is in.
pub struct Compressed {
    /// The file, positioned after the last record's blocks.
    pub out: BackgroundFile,
    /// File offset after the last record's blocks.
    pub pos: u64,
    /// File offset of each record's first block, in the order added.
    pub offsets: Vec<u64>,
    /// XXH32 of the records' uncompressed bytes, in order (the frame's content checksum).
    pub content: u32,
}

/// Compresses records, in order, into the data frame of a file being written.
pub struct Compressor {
    batch: Batch,
    thread: QueueThread<Batch, Compressed, DvdError>,
    placed: SharedPlaced,
}

impl Compressor {
    /// Starts the thread that appends records' blocks to `out`, which is at file offset `pos`;
    /// write errors name `temp`.
    pub fn new(out: BackgroundFile, pos: u64, temp: PathBuf) -> DvdResult<Self> {
        let named = temp.clone();
        let placed = SharedPlaced::default();
        lock(&placed).end = pos;
        let shared = Arc::clone(&placed);
        let thread = QueueThread::spawn("dvd-rw compressor", QUEUE, gone, move |inbox| {
            compress(inbox, out, pos, &named, &shared)
        })
        .map_err(|e| DvdError::io("cannot start writing", &temp, &e))?;
        Ok(Compressor {
            batch: Batch::default(),
            thread,
            placed,
        })
    }

    /// Where the records compressed so far are in the file.
    pub fn placed(&self) -> SharedPlaced {
        Arc::clone(&self.placed)
    }

    /// Hands the records batched so far to the thread, which hands their blocks to the file's
    /// thread as soon as they are compressed: they reach the file without waiting for more.
    pub fn flush(&mut self) -> DvdResult<()> {
        self.batch.flush = true;
        self.hand_over()
    }

    /// Queues `record` after the records added before. An error of the thread (a failed write)
    /// may surface here; the file is then unusable.
    pub fn add(&mut self, record: &[u8]) -> DvdResult<()> {
        if !self.batch.bytes.is_empty() && self.batch.bytes.len() + record.len() > BATCH {
            self.hand_over()?;
        }
        if self.batch.bytes.capacity() == 0 {
            self.batch.bytes.reserve(BATCH.max(record.len()));
        }
        self.batch.bytes.extend_from_slice(record);
        self.batch.lens.push(record.len());
        Ok(())
    }

    fn hand_over(&mut self) -> DvdResult<()> {
        let spare = self.thread.spare().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, spare);
        self.thread.send(batch)
    }

    /// Compresses what is batched, waits for the thread and returns what it wrote.
    pub fn finish(mut self) -> DvdResult<Compressed> {
        if !self.batch.lens.is_empty() {
            self.hand_over()?;
        }
        self.thread.finish()
    }
}

/// The thread's work: each batch's records, cut into frame blocks, appended to `out`.
fn compress(
    inbox: Inbox<Batch>,
    mut out: BackgroundFile,
    mut pos: u64,
    temp: &Path,
    placed: &SharedPlaced,
) -> DvdResult<Compressed> {
    let mut encoder = BlockEncoder::new();
    let mut block = Vec::new();
    let mut content = Xxh32::new(0);
    let mut offsets = Vec::new();
    while let Some(mut batch) = inbox.next() {
        let mut rest = batch.bytes.as_slice();
        offsets.clear();
        for &len in &batch.lens {
            let (record, tail) = rest.split_at(len.min(rest.len()));
            rest = tail;
            offsets.push(pos);
            for chunk in record.chunks(MAX_BLOCK) {
                block.clear();
                encoder.encode_block(chunk, &mut block)?;
                out.write_all(&block)
                    .map_err(|e| DvdError::io("cannot write", temp, &e))?;
                pos += block.len() as u64;
            }
            content.update(record);
        }
        {
            let mut shared = lock(placed);
            shared.offsets.extend_from_slice(&offsets);
            shared.end = pos;
        }
        if batch.flush {
            out.flush()
                .map_err(|e| DvdError::io("cannot write", temp, &e))?;
        }
        // A batch grown for one large record is freed rather than kept.
        if batch.bytes.capacity() <= BATCH {
            batch.bytes.clear();
            batch.lens.clear();
            batch.flush = false;
            inbox.recycle(batch);
        }
    }
    let offsets = std::mem::take(&mut lock(placed).offsets);
    Ok(Compressed {
        out,
        pos,
        offsets,
        content: content.digest(),
    })
}

fn gone(what: &str) -> DvdError {
    DvdError::closed(format!("the compressor thread {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{blocks_for, decode_record};
    use std::fs::File;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dvd-compressor-{}-{name}", std::process::id()))
    }

    #[test]
    fn records_of_every_size_come_back_at_their_offsets_in_order() {
        let path = temp("order");
        let out = BackgroundFile::new(File::create(&path).unwrap()).unwrap();
        let mut c = Compressor::new(out, 0, path.clone()).unwrap();
        let mut records = Vec::new();
        // Empty, tiny, several blocks long, and larger than a batch; compressible and not.
        for i in 0..400u32 {
            let len = match i % 50 {
                0 => 0,
                7 => BATCH + 12_345,
                13 => 3 * MAX_BLOCK + 1,
                _ => (i as usize * 7919) % 9000,
            };
            let r: Vec<u8> = (0..len)
                .map(|k| {
                    if i % 2 == 0 {
                        (k % 7) as u8
                    } else {
                        (k as u32).wrapping_mul(2_654_435_761).wrapping_add(i) as u8
                            ^ (k >> 8) as u8
                    }
                })
                .collect();
            c.add(&r).unwrap();
            records.push(r);
        }
        let done = c.finish().unwrap();
        let end = done.pos;
        drop(done.out.into_inner().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, end);
        assert_eq!(done.offsets.len(), records.len());
        let mut content = Xxh32::new(0);
        for (i, r) in records.iter().enumerate() {
            let mut out = Vec::new();
            let at = done.offsets[i] as usize;
            decode_record(&bytes, at, blocks_for(r.len()), r.len(), &mut out).unwrap();
            assert_eq!(&out, r, "record {i}");
            content.update(r);
        }
        assert_eq!(done.content, content.digest());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_failed_write_is_reported_by_a_later_call() {
        // A file opened read-only: the writing thread's first write fails.
        let path = temp("readonly");
        std::fs::write(&path, b"x").unwrap();
        let out = BackgroundFile::new(File::open(&path).unwrap()).unwrap();
        let mut c = Compressor::new(out, 0, path.clone()).unwrap();
        let record = vec![5u8; BATCH / 2 + 1];
        let mut failed = false;
        for _ in 0..64 {
            if c.add(&record).is_err() {
                failed = true;
                break;
            }
        }
        let failed = failed
            || c.finish()
                .and_then(|d| d.out.into_inner().map_err(|e| DvdError::io("x", &path, &e)))
                .is_err();
        assert!(failed, "a write to a read-only file must fail");
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
        std::fs::remove_file(&path).unwrap();
    }
}
