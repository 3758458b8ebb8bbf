//! Buffered output whose `write(2)` calls run on a thread of their own.
//!
//! Copying into the page cache is the largest single cost of writing a big
//! DVD (more than compressing it), and it blocks when the kernel throttles
//! dirty pages. Handing full buffers to a thread lets the caller go on
//! parsing and encoding records meanwhile. Memory stays bounded: at most
//! `QUEUE + 3` buffers of `BUFFER` bytes exist at once (queued ones, the one
//! being written, the one being filled and a spare made while a send waits).

use crate::queue_thread::{Inbox, QueueThread};
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes gathered before a buffer is handed to the thread.
const BUFFER: usize = 1 << 20;
/// Full buffers that may wait for the thread before `write_all` blocks.
const QUEUE: usize = 2;

/// Sequential writer of a file, in order, through a background thread.
pub struct BackgroundFile {
    buf: Vec<u8>,
    thread: QueueThread<Vec<u8>, File, io::Error>,
    /// Bytes the thread has written to the file so far.
    written: Arc<AtomicU64>,
}

impl BackgroundFile {
    /// Starts the thread that writes to `file` from its current position.
    pub fn new(mut file: File) -> io::Result<Self> {
        let written = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&written);
        let thread = QueueThread::spawn(
            "dvd-rw writer",
            QUEUE,
            gone,
            move |inbox: Inbox<Vec<u8>>| {
                while let Some(mut buf) = inbox.next() {
                    file.write_all(&buf)?;
                    counted.fetch_add(buf.len() as u64, Ordering::Release);
                    buf.clear();
                    inbox.recycle(buf);
                }
                Ok(file)
            },
        )?;
        Ok(BackgroundFile {
            buf: Vec::with_capacity(BUFFER),
            thread,
            written,
        })
    }

    /// The count of bytes the thread has written to the file so far (from where it started):
    /// a reader of the file may read that far.
    pub fn written(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.written)
    }

    /// Hands what is buffered to the thread now rather than once the buffer is full, so that it
    /// reaches the file without waiting for more writes.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.hand_over()
    }

    /// Queues `bytes` after everything written before. An error of an
    /// earlier write may surface here; the file is then unusable.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        // Filled up to BUFFER and no further, so that no buffer ever grows
        // beyond it (they are recycled with their capacity).
        while !bytes.is_empty() {
            if fill_to(&mut self.buf, BUFFER, &mut bytes) {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    fn hand_over(&mut self) -> io::Result<()> {
        let spare = self
            .thread
            .spare()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER));
        let buf = std::mem::replace(&mut self.buf, spare);
        self.thread.send(buf)
    }

    /// Writes what is buffered, waits for the thread and returns the file.
    pub fn into_inner(mut self) -> io::Result<File> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.thread.finish()
    }
}

/// Moves the head of `bytes` into `pending`, as much as fits below `size`,
/// and says whether `pending` is now full. Cuts a stream into pieces of
/// exactly `size` bytes (the last one shorter) whatever the writes were.
pub(crate) fn fill_to(pending: &mut Vec<u8>, size: usize, bytes: &mut &[u8]) -> bool {
    let take = size.saturating_sub(pending.len()).min(bytes.len());
    let (head, rest) = bytes.split_at(take);
    pending.extend_from_slice(head);
    *bytes = rest;
    pending.len() >= size
}

fn gone(what: &str) -> io::Error {
    io::Error::other(format!("the writer thread {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dvd-bgfile-{}-{name}", std::process::id()))
    }

    #[test]
    fn writes_every_byte_in_order_across_many_buffers() {
        let path = temp("order");
        let mut out = BackgroundFile::new(File::create(&path).unwrap()).unwrap();
        let mut expected = Vec::new();
        // Pieces of awkward sizes, some larger than a buffer, about 9 buffers in all.
        for i in 0..600u32 {
            let len = (i as usize * 7919) % 40_000 + if i % 100 == 0 { 3 * BUFFER / 2 } else { 0 };
            let piece: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
            out.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
        }
        drop(out.into_inner().unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn no_buffer_grows_beyond_its_size_whatever_the_writes() {
        let path = temp("bounded");
        let mut out = BackgroundFile::new(File::create(&path).unwrap()).unwrap();
        out.write_all(&vec![1u8; BUFFER - 3]).unwrap();
        out.write_all(&vec![2u8; 5 * BUFFER + 11]).unwrap();
        assert!(out.buf.capacity() <= BUFFER);
        assert_eq!(out.buf.len(), (6 * BUFFER + 8) % BUFFER);
        drop(out.into_inner().unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (6 * BUFFER + 8) as u64
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_failed_write_is_reported_by_a_later_call() {
        // A file opened read-only: the thread's first write fails.
        let path = temp("readonly");
        std::fs::write(&path, b"x").unwrap();
        let mut out = BackgroundFile::new(File::open(&path).unwrap()).unwrap();
        let chunk = vec![0u8; BUFFER];
        let mut failed = false;
        for _ in 0..(QUEUE + 8) {
            if out.write_all(&chunk).is_err() {
                failed = true;
                break;
            }
        }
        let failed = failed || out.into_inner().is_err();
        assert!(failed, "a write to a read-only file must fail");
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn flushed_bytes_reach_the_file_and_are_counted() {
        let path = temp("flush");
        let mut out = BackgroundFile::new(File::create(&path).unwrap()).unwrap();
        let written = out.written();
        out.write_all(b"hello").unwrap();
        out.flush().unwrap();
        // Waited for within a bound: the thread writes on its own time.
        let seen = (0..2000).any(|_| {
            written.load(Ordering::Acquire) == 5 || {
                std::thread::sleep(std::time::Duration::from_millis(1));
                false
            }
        });
        assert!(seen);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        drop(out.into_inner().unwrap());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn dropping_waits_for_queued_writes() {
        let path = temp("drop");
        let mut out = BackgroundFile::new(File::create(&path).unwrap()).unwrap();
        out.write_all(&vec![7u8; 2 * BUFFER + 5]).unwrap();
        drop(out);
        // Two full buffers were handed over, and the drop waits until they are written.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (2 * BUFFER) as u64);
        std::fs::remove_file(&path).unwrap();
    }
}
