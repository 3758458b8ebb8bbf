//! The match-fields table: one opaque byte string per record (the normalized
//! match fields, produced by TypeScript), so that an index for another
//! `match_on` can be rebuilt without decompressing any record.
//!
//! Section layout (offsets relative to the section start, little-endian):
//! - chunk table, `chunk_count` x 16 bytes: `u64 offset, u32 stored size
//!   (high bit = stored uncompressed), u32 raw length`;
//! - record entries, `record_count` x 12 bytes: `u32 chunk, u32 offset in
//!   the decompressed chunk, u32 length`;
//! - zero padding to a multiple of 8;
//! - chunk data: each chunk is one raw LZ4 block (no frame) of the
//!   concatenated match fields of consecutive records (~16 KiB raw).

use crate::error::{DvdError, DvdResult};
use crate::format::{read_u32, read_u64, CHUNK_ENTRY_LEN, FIELD_ENTRY_LEN};
use crate::frame::{decode_payload, max_expansion, BlockEncoder, STORED_FLAG};
use std::cell::RefCell;
use std::ops::Range;

/// A chunk is closed once adding the next record would exceed this size.
pub const CHUNK_TARGET: usize = 16 * 1024;
/// Largest match-fields value of one record.
pub const MAX_FIELDS_LEN: usize = 1 << 20;
/// Largest raw chunk a valid file can contain.
pub const MAX_CHUNK_RAW: usize = if MAX_FIELDS_LEN > CHUNK_TARGET {
    MAX_FIELDS_LEN
} else {
    CHUNK_TARGET
};

/// Builds the table while records are added (chunks are compressed as soon
/// as they fill up, so memory holds compressed match fields only).
#[derive(Default)]
pub struct FieldsBuilder {
    current: Vec<u8>,
    chunks: Vec<(u32, u32)>,
    data: Vec<u8>,
    entries: Vec<[u32; 3]>,
    encoder: BlockEncoder,
}

impl FieldsBuilder {
    /// Empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the match fields of the next record.
    pub fn add(&mut self, fields: &[u8]) -> DvdResult<()> {
        if fields.len() > MAX_FIELDS_LEN {
            return Err(DvdError::limit(format!(
                "match fields of {} bytes exceed the {MAX_FIELDS_LEN}-byte limit",
                fields.len()
            )));
        }
        // An empty value never starts a chunk of its own (it would name a
        // chunk that `finish` might never create).
        if !fields.is_empty()
            && !self.current.is_empty()
            && self.current.len() + fields.len() > CHUNK_TARGET
        {
            self.flush()?;
        }
        let chunk =
            u32::try_from(self.chunks.len()).map_err(|_| DvdError::limit("too many chunks"))?;
        self.entries
            .push([chunk, self.current.len() as u32, fields.len() as u32]);
        self.current.extend_from_slice(fields);
        Ok(())
    }

    /// Compresses the pending chunk, if any. A chunk named by an entry is
    /// always written, even when empty (every value so far was empty), so
    /// every entry names an existing chunk.
    pub fn flush(&mut self) -> DvdResult<()> {
        let named = self
            .entries
            .last()
            .is_some_and(|e| e.first().is_some_and(|&c| c as usize == self.chunks.len()));
        if self.current.is_empty() && !named {
            return Ok(());
        }
        let (size, data) = self.encoder.compress(&self.current)?;
        self.data.extend_from_slice(data);
        self.chunks.push((size, self.current.len() as u32));
        self.current.clear();
        Ok(())
    }

    /// Number of chunks (after [`flush`](Self::flush)).
    pub fn chunk_count(&self) -> u32 {
        self.chunks.len() as u32
    }

    fn data_start(&self) -> u64 {
        let head =
            (self.chunks.len() * CHUNK_ENTRY_LEN + self.entries.len() * FIELD_ENTRY_LEN) as u64;
        head.div_ceil(8) * 8
    }

    /// Encoded section length (after [`flush`](Self::flush)).
    pub fn encoded_len(&self) -> u64 {
        self.data_start() + self.data.len() as u64
    }

    /// Encodes the section (after [`flush`](Self::flush)), feeding `sink`.
    pub fn encode(&self, mut sink: impl FnMut(&[u8]) -> DvdResult<()>) -> DvdResult<()> {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut off = self.data_start();
        for &(size, raw) in &self.chunks {
            buf.extend_from_slice(&off.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&raw.to_le_bytes());
            off += (size & !STORED_FLAG) as u64;
            if buf.len() >= 60 * 1024 {
                sink(&buf)?;
                buf.clear();
            }
        }
        for e in &self.entries {
            for v in e {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            if buf.len() >= 60 * 1024 {
                sink(&buf)?;
                buf.clear();
            }
        }
        let head =
            (self.chunks.len() * CHUNK_ENTRY_LEN + self.entries.len() * FIELD_ENTRY_LEN) as u64;
        buf.resize(buf.len() + (self.data_start() - head) as usize, 0);
        sink(&buf)?;
        sink(&self.data)
    }
}

/// A chunk located in the mapping.
pub struct Chunk<'a> {
    /// Offset of the chunk data from the section start.
    off: usize,
    stored: bool,
    data: &'a [u8],
    raw_len: usize,
}

/// Validated view of the section.
pub struct FieldsView<'a> {
    section: &'a [u8],
    chunk_count: u32,
    count: u32,
    entries_at: usize,
    data_start: usize,
}

impl<'a> FieldsView<'a> {
    /// Wraps the section for `chunk_count` chunks and `count` records.
    pub fn new(section: &'a [u8], chunk_count: u32, count: u32) -> DvdResult<Self> {
        let entries_at = (chunk_count as usize)
            .checked_mul(CHUNK_ENTRY_LEN)
            .ok_or_else(|| DvdError::corrupt("fields table too large"))?;
        let head = (count as usize)
            .checked_mul(FIELD_ENTRY_LEN)
            .and_then(|v| v.checked_add(entries_at))
            .ok_or_else(|| DvdError::corrupt("fields table too large"))?;
        let data_start = head
            .checked_next_multiple_of(8)
            .ok_or_else(|| DvdError::corrupt("fields table too large"))?;
        if data_start > section.len() {
            return Err(DvdError::corrupt("fields section shorter than its tables"));
        }
        Ok(FieldsView {
            section,
            chunk_count,
            count,
            entries_at,
            data_start,
        })
    }

    /// Structural check of the whole table without decoding anything,
    /// O(chunks + records): the chunks lie back to back from the end of the
    /// tables to the end of the section (so no two chunks share bytes), and
    /// the entries follow each other in order (record `i + 1` starts where
    /// record `i` ends, or at the start of the next chunk) inside their chunk.
    /// Without it, many chunk entries naming the same highly compressed bytes
    /// (or records alternating between such chunks, defeating the one-chunk
    /// cache) make `verify()` or an index rebuild decompress gigabytes per
    /// kilobyte of file.
    pub fn check_layout(&self) -> DvdResult<()> {
        let mut next = self.data_start;
        let mut raw_lens = Vec::with_capacity(self.chunk_count as usize);
        for ci in 0..self.chunk_count {
            let c = self.chunk(ci)?;
            if c.off != next {
                return Err(DvdError::corrupt(format!(
                    "fields chunk {ci} does not follow the previous one"
                )));
            }
            next = c.off.saturating_add(c.data.len());
            raw_lens.push(c.raw_len);
        }
        if next != self.section.len() {
            return Err(DvdError::corrupt(
                "fields chunks do not fill the fields section",
            ));
        }
        let mut prev: Option<(u32, usize, usize)> = None;
        for id in 0..self.count {
            let (ci, off, len) = self.entry(id)?;
            let follows = match prev {
                None => ci == 0 && off == 0,
                Some((pc, po, pl)) => {
                    (ci == pc && Some(off) == po.checked_add(pl))
                        || (Some(ci) == pc.checked_add(1) && off == 0)
                }
            };
            if !follows {
                return Err(DvdError::corrupt(format!(
                    "match fields of record {id} do not follow the previous record's"
                )));
            }
            let inside = match raw_lens.get(ci as usize) {
                Some(&raw) => off.checked_add(len).is_some_and(|end| end <= raw),
                // An empty value naming the chunk after the last one (written
                // by older versions of the writer): readable as an error for
                // that record only, like the TypeScript reader does.
                None => ci == self.chunk_count && len == 0,
            };
            if !inside {
                return Err(DvdError::corrupt(format!(
                    "match fields of record {id} outside their chunk"
                )));
            }
            prev = Some((ci, off, len));
        }
        Ok(())
    }

    /// Entry `(chunk, offset, len)` of record `id`.
    pub fn entry(&self, id: u32) -> DvdResult<(u32, usize, usize)> {
        if id >= self.count {
            return Err(DvdError::range(format!(
                "record id {id} out of range (count {})",
                self.count
            )));
        }
        let at = self.entries_at + id as usize * FIELD_ENTRY_LEN;
        let bad = || DvdError::corrupt("fields entry out of range");
        Ok((
            read_u32(self.section, at).ok_or_else(bad)?,
            read_u32(self.section, at + 4).ok_or_else(bad)? as usize,
            read_u32(self.section, at + 8).ok_or_else(bad)? as usize,
        ))
    }

    /// Locates chunk `ci`, validating its bounds and claimed raw length.
    pub fn chunk(&self, ci: u32) -> DvdResult<Chunk<'a>> {
        if ci >= self.chunk_count {
            return Err(DvdError::corrupt(format!(
                "fields chunk {ci} does not exist"
            )));
        }
        let at = ci as usize * CHUNK_ENTRY_LEN;
        let bad = || DvdError::corrupt("fields chunk entry out of range");
        let off = read_u64(self.section, at).ok_or_else(bad)?;
        let size = read_u32(self.section, at + 8).ok_or_else(bad)?;
        let raw_len = read_u32(self.section, at + 12).ok_or_else(bad)? as usize;
        let stored = size & STORED_FLAG != 0;
        let c = (size & !STORED_FLAG) as usize;
        let off = usize::try_from(off).map_err(|_| bad())?;
        if off < self.data_start {
            return Err(DvdError::corrupt("fields chunk overlaps the fields tables"));
        }
        let data = off
            .checked_add(c)
            .and_then(|end| self.section.get(off..end))
            .ok_or_else(|| DvdError::corrupt("fields chunk outside its section"))?;
        let plausible = if stored {
            c == raw_len
        } else {
            c < raw_len && raw_len <= max_expansion(c)
        };
        if raw_len > MAX_CHUNK_RAW || !plausible {
            return Err(DvdError::corrupt("fields chunk has an implausible length"));
        }
        Ok(Chunk {
            off,
            stored,
            data,
            raw_len,
        })
    }

    /// Start of the chunk data (end of the chunk table, entries and padding),
    /// relative to the section start.
    pub fn data_start(&self) -> usize {
        self.data_start
    }

    /// Match fields of record `id`. `cache` keeps the last decompressed chunk
    /// so sequential access decompresses each chunk once.
    pub fn get(&self, id: u32, cache: &RefCell<Option<(u32, Vec<u8>)>>) -> DvdResult<Vec<u8>> {
        self.get_with(id, cache, &|_| Ok(()))
    }

    /// [`get`](Self::get), calling `ensure` with the section-relative byte
    /// range of the chunk data before using it. The tables (entries, chunk
    /// table) are the caller's to verify beforehand.
    pub fn get_with(
        &self,
        id: u32,
        cache: &RefCell<Option<(u32, Vec<u8>)>>,
        ensure: &dyn Fn(Range<usize>) -> DvdResult<()>,
    ) -> DvdResult<Vec<u8>> {
        let (ci, off, len) = self.entry(id)?;
        let chunk = self.chunk(ci)?;
        ensure(chunk.off..chunk.off + chunk.data.len())?;
        let slice = |raw: &[u8]| -> DvdResult<Vec<u8>> {
            off.checked_add(len)
                .and_then(|end| raw.get(off..end))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| DvdError::corrupt("match fields outside their chunk"))
        };
        if chunk.stored {
            return slice(chunk.data);
        }
        let mut c = cache.borrow_mut();
        if let Some((cached, raw)) = c.as_ref() {
            if *cached == ci {
                return slice(raw);
            }
        }
        let mut raw = c.take().map(|(_, v)| v).unwrap_or_default();
        raw.clear();
        raw.resize(chunk.raw_len, 0);
        decode_payload(false, chunk.data, &mut raw)?;
        let out = slice(&raw);
        *c = Some((ci, raw));
        out
    }

    /// Decodes every chunk and checks every entry (for `verify`). Returns the
    /// total raw length of all chunks.
    pub fn check_all(&self) -> DvdResult<u64> {
        self.check_layout()?;
        let mut raw_lens = Vec::with_capacity(self.chunk_count as usize);
        let mut buf = Vec::new();
        let mut total = 0u64;
        for ci in 0..self.chunk_count {
            let chunk = self.chunk(ci)?;
            buf.clear();
            buf.resize(chunk.raw_len, 0);
            decode_payload(chunk.stored, chunk.data, &mut buf)?;
            raw_lens.push(chunk.raw_len);
            total += chunk.raw_len as u64;
        }
        for id in 0..self.count {
            let (ci, off, len) = self.entry(id)?;
            let raw = raw_lens
                .get(ci as usize)
                .ok_or_else(|| DvdError::corrupt("fields entry names a missing chunk"))?;
            if off.checked_add(len).is_none_or(|end| end > *raw) {
                return Err(DvdError::corrupt("match fields outside their chunk"));
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn build(values: &[Vec<u8>]) -> (Vec<u8>, u32) {
        let mut b = FieldsBuilder::new();
        for v in values {
            b.add(v).unwrap();
        }
        b.flush().unwrap();
        let mut out = Vec::new();
        b.encode(|x| {
            out.extend_from_slice(x);
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len() as u64, b.encoded_len());
        (out, b.chunk_count())
    }

    #[test]
    fn round_trip_many_chunks() {
        let values: Vec<Vec<u8>> = (0..2000u32)
            .map(|i| format!("GET,https,example.com,443,/item/{i},q={}", i % 7).into_bytes())
            .chain([Vec::new(), vec![0xAB; 40_000]])
            .collect();
        let (bytes, chunks) = build(&values);
        assert!(chunks > 3);
        let v = FieldsView::new(&bytes, chunks, values.len() as u32).unwrap();
        let cache = RefCell::new(None);
        for (i, want) in values.iter().enumerate() {
            assert_eq!(&v.get(i as u32, &cache).unwrap(), want);
        }
        // Random order too.
        for i in [5u32, 1999, 0, 2001, 2000, 17] {
            assert_eq!(v.get(i, &cache).unwrap(), values[i as usize]);
        }
        v.check_all().unwrap();
        assert_eq!(v.get(9999, &cache).unwrap_err().code, ErrorCode::Range);
    }

    #[test]
    fn too_large_is_refused() {
        let mut b = FieldsBuilder::new();
        assert_eq!(
            b.add(&vec![0; MAX_FIELDS_LEN + 1]).unwrap_err().code,
            ErrorCode::Limit
        );
    }

    #[test]
    fn hostile_entries() {
        let values = vec![b"abc".to_vec(), b"defg".to_vec()];
        let (mut bytes, chunks) = build(&values);
        assert!(FieldsView::new(&bytes[..10], chunks, 2).is_err());
        let cache = RefCell::new(None);
        // Entry 1 length set huge.
        let at = CHUNK_ENTRY_LEN + FIELD_ENTRY_LEN + 8;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let v = FieldsView::new(&bytes, chunks, 2).unwrap();
        assert!(v.get(1, &cache).is_err());
        assert!(v.check_all().is_err());
        // Chunk offset pointing past the end.
        bytes[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let v = FieldsView::new(&bytes, chunks, 2).unwrap();
        assert!(v.get(0, &cache).is_err());
    }

    /// Encodes a fields section from raw parts: chunk table, entries, data.
    fn raw_section(chunks: &[(u64, u32, u32)], entries: &[[u32; 3]], data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(off, size, raw) in chunks {
            v.extend_from_slice(&off.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&raw.to_le_bytes());
        }
        for e in entries {
            for x in e {
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
        v.resize(v.len().next_multiple_of(8), 0);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn overlapping_chunks_are_refused_without_decoding_them_all() {
        // One 1 MiB chunk of zeros (~4 KiB compressed) named by 16,384 chunk
        // entries and as many 12-byte records: verify() decoded 16 GiB, and a
        // sequential index rebuild (match_fields of every id, alternating
        // chunks so the one-chunk cache never hits) as much.
        let raw = vec![0u8; MAX_CHUNK_RAW];
        let mut enc = BlockEncoder::new();
        let (size, data) = enc.compress(&raw).unwrap();
        let (size, data) = (size, data.to_vec());
        assert_eq!(size & STORED_FLAG, 0);
        let n = 16_384u32;
        let head = (n as usize * (CHUNK_ENTRY_LEN + FIELD_ENTRY_LEN)).next_multiple_of(8) as u64;
        let chunks: Vec<(u64, u32, u32)> = (0..n).map(|_| (head, size, raw.len() as u32)).collect();
        let entries: Vec<[u32; 3]> = (0..n).map(|i| [i, 0, raw.len() as u32]).collect();
        let bytes = raw_section(&chunks, &entries, &data);
        let v = FieldsView::new(&bytes, n, n).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(v.check_all().unwrap_err().code, ErrorCode::Corrupt);
        assert!(
            t.elapsed().as_secs_f64() < 1.0,
            "check_all took {:?}",
            t.elapsed()
        );
        assert_eq!(v.check_layout().unwrap_err().code, ErrorCode::Corrupt);
        assert!(t.elapsed().as_secs_f64() < 1.0);
    }

    #[test]
    fn entries_must_follow_each_other() {
        let values = vec![b"abc".to_vec(), b"defg".to_vec(), b"hi".to_vec()];
        let (bytes, chunks) = build(&values);
        let v = FieldsView::new(&bytes, chunks, 3).unwrap();
        v.check_layout().unwrap();
        // Record 1 made to re-read record 0's bytes.
        let mut m = bytes.clone();
        let at = CHUNK_ENTRY_LEN + FIELD_ENTRY_LEN + 4;
        m[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        let v = FieldsView::new(&m, chunks, 3).unwrap();
        assert_eq!(v.check_layout().unwrap_err().code, ErrorCode::Corrupt);
        assert_eq!(v.check_all().unwrap_err().code, ErrorCode::Corrupt);
        // Chunk data not ending at the section end (trailing bytes).
        let mut m = bytes.clone();
        m.extend_from_slice(&[0; 8]);
        let v = FieldsView::new(&m, chunks, 3).unwrap();
        assert_eq!(v.check_layout().unwrap_err().code, ErrorCode::Corrupt);
    }
}
