//! Reader: maps the file, validates the header, footer, section layout, the
//! meta section and the checksum directory at open (never touching record
//! blocks or the big index sections: O(1) in the number of records apart
//! from the directory, 8 bytes per 4 KiB of index), then serves lookups,
//! records and match fields straight from the mapping, verifying each 4 KiB
//! piece of an index section the first time it is used. Every offset and
//! length read from the file is checked against the mapping.

use crate::error::{DvdError, DvdResult};
use crate::fields::FieldsView;
use crate::format::{
    read_u32, read_u64, Descriptor, Section, BUCKET_ID_LEN, CHECK_CHUNK, DESCRIPTOR_FRAME_LEN,
    DIR_ENTRY_LEN, KIND_FOOTER, KIND_HEADER, MAX_MATCH_ON_LEN, RECORD_ENTRY_LEN, SECTION_ALIGN,
    SKIP_HEADER_LEN, SKIP_MAGIC_FOOTER, SKIP_MAGIC_HEADER, SKIP_MAGIC_INDEX,
};
use crate::frame::{
    blocks_for, check_record, decode_frame_header, decode_record, decode_record_into,
    record_extent, BLOCK_OVERHEAD, FRAME_HEADER_LEN, FRAME_TRAILER_LEN,
};
use crate::index_table::{key_hash, TableView};
use memmap2::Mmap;
use std::cell::{Cell, OnceCell, RefCell};
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use xxhash_rust::xxh32::Xxh32;
use xxhash_rust::xxh64::xxh64;

/// Bytes backing a reader.
enum Storage {
    /// A mapped file; `file` stays open for positioned reads of record blocks.
    Map {
        map: Mmap,
        file: File,
    },
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Map { map, .. } => map,
            Storage::Owned(v) => v,
        }
    }
}

/// Reads exactly `buf.len()` bytes of `file` at `offset` (the reader is used from one thread, so
/// Windows' moving of the file position by `seek_read` does not matter).
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        fill_at(buf, offset, |b, at| {
            std::os::windows::fs::FileExt::seek_read(file, b, at)
        })
    }
}

/// Calls `read(part, at)` until `buf` is full: a read may return fewer bytes than asked; 0 means
/// the file ended.
#[cfg_attr(not(windows), allow(dead_code))]
fn fill_at(
    buf: &mut [u8],
    offset: u64,
    mut read: impl FnMut(&mut [u8], u64) -> std::io::Result<usize>,
) -> std::io::Result<()> {
    let (mut rest, mut at) = (buf, offset);
    while !rest.is_empty() {
        match read(rest, at) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                let tail = std::mem::take(&mut rest);
                rest = tail.get_mut(n..).unwrap_or_default();
                at += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A scratch buffer for record blocks larger than this is not kept between reads.
const KEEP_SCRATCH: usize = 1 << 20;
/// Records whose bound (length plus block overhead) is at most this are read in one go; larger
/// ones have their block headers checked first.
const FIRST_READ: usize = 64 << 10;

/// Validated byte ranges of the file.
#[derive(Clone, Debug)]
struct Layout {
    count: u32,
    /// Block area of the data frame: after the frame header, before the end mark.
    blocks: Range<usize>,
    records: Range<usize>,
    hash: Range<usize>,
    fields: Range<usize>,
    capacity: u32,
    chunks: u32,
    /// Checksum directory: one XXH64 per [`CHECK_CHUNK`] of the record,
    /// hash and fields sections, in that order.
    dir: Range<usize>,
    /// Index in the directory of the first entry of each checksummed section.
    dir_base: [usize; 3],
}

/// Checksummed sections, as indices into [`Layout::dir_base`].
const SEC_RECORDS: usize = 0;
const SEC_HASH: usize = 1;
const SEC_FIELDS: usize = 2;
const SEC_NAMES: [&str; 3] = ["record table", "hash table", "fields table"];
/// An index of at most this many pieces (64 KiB) is verified whole at open:
/// a bounded cost, and small files fail at open as a whole-index checksum did.
pub(crate) const EAGER_PIECES: usize = 16;

#[cfg(test)]
thread_local! {
    /// Bytes checksummed by `validate` on this thread (tests only).
    pub(crate) static VALIDATE_HASHED: Cell<u64> = const { Cell::new(0) };
    /// Record reads through `pread` on this thread (tests only).
    pub(crate) static PREADS: Cell<u64> = const { Cell::new(0) };
    /// Bytes of record blocks read through `pread` on this thread (tests only).
    pub(crate) static PREAD_BYTES: Cell<u64> = const { Cell::new(0) };
}

/// XXH64 of index bytes checked at open (counted in tests).
fn open_hash(b: &[u8]) -> u64 {
    #[cfg(test)]
    VALIDATE_HASHED.with(|c| c.set(c.get() + b.len() as u64));
    xxh64(b, 0)
}

/// Summary numbers for `stats()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Number of records.
    pub record_count: u32,
    /// File length.
    pub file_len: u64,
    /// Sum of decompressed record lengths.
    pub uncompressed_record_bytes: u64,
    /// Bytes of record blocks in the data frame (sizes, data, checksums).
    pub compressed_record_bytes: u64,
    /// Length of the whole LZ4 data frame.
    pub data_frame_len: u64,
    /// Length of the index skippable frame.
    pub index_frame_len: u64,
    /// Record offset table length.
    pub record_table_len: u64,
    /// Hash table section length (slots + bucket ids).
    pub hash_table_len: u64,
    /// Match-fields section length.
    pub fields_table_len: u64,
    /// Number of match-fields chunks.
    pub fields_chunk_count: u32,
    /// Hash table slots.
    pub hash_capacity: u32,
    /// Occupied slots (distinct key hashes).
    pub distinct_keys: u32,
    /// `distinct_keys / hash_capacity`.
    pub load_factor: f64,
}

/// An open DVD file.
pub struct Reader {
    storage: Storage,
    desc: Descriptor,
    layout: Layout,
    match_on: String,
    fields_cache: RefCell<Option<(u32, Vec<u8>)>>,
    /// Result of the one-time structural check of the match-fields table,
    /// done on the first `match_fields` call (not at open, which stays O(1)).
    fields_layout: OnceCell<DvdResult<()>>,
    /// One bit per directory entry: set once that piece's checksum matched.
    verified: Vec<Cell<u64>>,
    /// Compressed blocks of the record being read (mapped files read records with `pread`).
    scratch: RefCell<Vec<u8>>,
}

fn usize_of(v: u64, what: &str) -> DvdResult<usize> {
    usize::try_from(v).map_err(|_| DvdError::corrupt(format!("{what} does not fit in memory")))
}

/// Checks `s` lies inside `[lo, hi)`, is aligned, and returns its range.
fn section_range(s: &Section, lo: u64, hi: u64, name: &str) -> DvdResult<Range<usize>> {
    let end = s.off.checked_add(s.len);
    if !s.off.is_multiple_of(SECTION_ALIGN) || s.off < lo || end.is_none_or(|e| e > hi) {
        return Err(DvdError::corrupt(format!(
            "{name} section [{}, +{}) outside the index frame or overlapping another section",
            s.off, s.len
        )));
    }
    Ok(usize_of(s.off, name)?..usize_of(s.off + s.len, name)?)
}

fn validate(bytes: &[u8]) -> DvdResult<(Descriptor, Layout, String)> {
    let file_len = bytes.len() as u64;
    if bytes.is_empty() {
        return Err(DvdError::not_dvd("file is empty"));
    }
    let head = Descriptor::decode_frame(bytes, SKIP_MAGIC_HEADER, KIND_HEADER, "header")?;
    if head.file_len > file_len {
        return Err(DvdError::truncated(format!(
            "file is {file_len} bytes but its header announces {}",
            head.file_len
        )));
    }
    if head.file_len < file_len {
        return Err(DvdError::corrupt(format!(
            "file is {file_len} bytes but its header announces {} (trailing data)",
            head.file_len
        )));
    }
    let foot_at = bytes
        .len()
        .checked_sub(DESCRIPTOR_FRAME_LEN)
        .filter(|&at| at >= DESCRIPTOR_FRAME_LEN)
        .ok_or_else(|| DvdError::truncated("file too short for header and footer"))?;
    let foot_bytes = bytes.get(foot_at..).unwrap_or(&[]);
    let foot = Descriptor::decode_frame(foot_bytes, SKIP_MAGIC_FOOTER, KIND_FOOTER, "footer")
        .map_err(|e| match e.code {
            crate::error::ErrorCode::NotDvd => {
                DvdError::truncated("footer missing: the file is truncated")
            }
            _ => e,
        })?;
    if !head.same_file(&foot) {
        return Err(DvdError::corrupt("header and footer disagree"));
    }
    let d = head;
    if d.flags != 0 {
        return Err(DvdError::corrupt(format!(
            "unknown feature flags {:#x}",
            d.flags
        )));
    }
    let count = u32::try_from(d.record_count)
        .ok()
        .filter(|&c| c < u32::MAX)
        .ok_or_else(|| DvdError::corrupt("record count out of range"))?;

    // Frame chain: header | data frame | index frame | footer.
    let chain_ok = d.data_off == DESCRIPTOR_FRAME_LEN as u64
        && d.data_len >= (FRAME_HEADER_LEN + FRAME_TRAILER_LEN) as u64
        && d.data_off.checked_add(d.data_len) == Some(d.index_off)
        && d.index_len >= SKIP_HEADER_LEN as u64
        && d.index_off.checked_add(d.index_len) == Some(foot_at as u64);
    if !chain_ok {
        return Err(DvdError::corrupt(
            "frame offsets in the descriptor are inconsistent",
        ));
    }
    let data_off = usize_of(d.data_off, "data frame")?;
    let index_off = usize_of(d.index_off, "index frame")?;
    let data_frame = bytes
        .get(data_off..index_off)
        .ok_or_else(|| DvdError::corrupt("data frame outside the file"))?;
    let content = decode_frame_header(data_frame)?;
    if content != d.content_len {
        return Err(DvdError::corrupt(
            "LZ4 content size disagrees with the descriptor",
        ));
    }
    let index_magic = read_u32(bytes, index_off);
    let index_size = read_u32(bytes, index_off + 4);
    if index_magic != Some(SKIP_MAGIC_INDEX)
        || index_size.map(u64::from) != Some(d.index_len - SKIP_HEADER_LEN as u64)
    {
        return Err(DvdError::corrupt("index frame header is invalid"));
    }

    // Sections, in order, inside the index payload, not overlapping.
    let lo = d.index_off + SKIP_HEADER_LEN as u64;
    let hi = d.index_off + d.index_len;
    let records = section_range(&d.records, lo, hi, "record table")?;
    let hash = section_range(&d.hash, d.records.off + d.records.len, hi, "hash table")?;
    let fields = section_range(&d.fields, d.hash.off + d.hash.len, hi, "fields table")?;
    let meta = section_range(&d.meta, d.fields.off + d.fields.len, hi, "meta")?;
    if d.records.len != u64::from(count) * RECORD_ENTRY_LEN as u64 {
        return Err(DvdError::corrupt(
            "record table length does not match the record count",
        ));
    }
    if d.meta.len > MAX_MATCH_ON_LEN {
        return Err(DvdError::corrupt("match_on string too long"));
    }
    let meta_sec = bytes
        .get(meta.clone())
        .ok_or_else(|| DvdError::corrupt("meta outside the file"))?;
    if open_hash(meta_sec) != d.meta.xxh64 {
        return Err(DvdError::checksum("index checksum mismatch (meta)"));
    }
    // Checksum directory: after meta, its length given by the sections'.
    let dir_len = d
        .dir_len()
        .ok_or_else(|| DvdError::corrupt("checksum directory too large"))?;
    let dir_sec = Section {
        off: d.dir_off,
        len: dir_len,
        xxh64: 0,
    };
    let dir = section_range(&dir_sec, d.meta.off + d.meta.len, hi, "checksum directory")?;
    let mut dir_base = [0usize; 3];
    let mut at = dir.start;
    let lists = [
        (&d.records, &records),
        (&d.hash, &hash),
        (&d.fields, &fields),
    ];
    for ((base, name), (s, range)) in dir_base.iter_mut().zip(SEC_NAMES).zip(lists) {
        *base = (at - dir.start) / DIR_ENTRY_LEN;
        let n = range.len().div_ceil(CHECK_CHUNK) * DIR_ENTRY_LEN;
        let list = bytes
            .get(at..at + n)
            .ok_or_else(|| DvdError::corrupt("checksum directory outside the file"))?;
        if open_hash(list) != s.xxh64 {
            return Err(DvdError::checksum(format!(
                "index checksum mismatch ({name} checksums)"
            )));
        }
        at += n;
    }
    // Structural checks of the tables (O(1)).
    TableView::new(
        bytes.get(hash.clone()).unwrap_or(&[]),
        d.hash_capacity,
        count,
    )?;
    FieldsView::new(
        bytes.get(fields.clone()).unwrap_or(&[]),
        d.fields_chunk_count,
        count,
    )?;
    let match_on = std::str::from_utf8(bytes.get(meta).unwrap_or(&[]))
        .map_err(|_| DvdError::corrupt("match_on is not UTF-8"))?
        .to_owned();
    let blocks = (data_off + FRAME_HEADER_LEN)..(index_off - FRAME_TRAILER_LEN);
    let layout = Layout {
        count,
        blocks,
        records,
        hash,
        fields,
        capacity: d.hash_capacity,
        chunks: d.fields_chunk_count,
        dir,
        dir_base,
    };
    Ok((d, layout, match_on))
}

impl Reader {
    /// Maps and validates the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> DvdResult<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| DvdError::io("cannot open", path, &e))?;
        let len = file
            .metadata()
            .map_err(|e| DvdError::io("cannot stat", path, &e))?
            .len();
        if len == 0 {
            return Err(DvdError::not_dvd(format!(
                "file is empty: {}",
                path.display()
            )));
        }
        // SAFETY: the mapping is read-only and files are only ever replaced by
        // rename (never modified in place) by this library. Every access is
        // bounds-checked against the mapping's length.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| DvdError::io("cannot map", path, &e))?;
        Self::from_storage(Storage::Map { map, file })
    }

    /// Validates an in-memory copy of a file.
    pub fn from_bytes(bytes: Vec<u8>) -> DvdResult<Self> {
        Self::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> DvdResult<Self> {
        let (desc, layout, match_on) = validate(storage.bytes())?;
        let pieces = layout.dir.len() / DIR_ENTRY_LEN;
        let words = pieces.div_ceil(64);
        let r = Reader {
            storage,
            desc,
            layout,
            match_on,
            fields_cache: RefCell::new(None),
            fields_layout: OnceCell::new(),
            verified: (0..words).map(|_| Cell::new(0)).collect(),
            scratch: RefCell::new(Vec::new()),
        };
        if pieces <= EAGER_PIECES {
            r.ensure_all()?;
        }
        Ok(r)
    }

    /// Verifies (once) the checksums of the pieces of section `sec` covering
    /// `range` (relative to the section start) before the caller reads it.
    fn ensure(&self, sec: usize, range: Range<usize>) -> DvdResult<()> {
        if range.start >= range.end {
            return Ok(());
        }
        let section = match sec {
            SEC_RECORDS => &self.layout.records,
            SEC_HASH => &self.layout.hash,
            _ => &self.layout.fields,
        };
        let name = SEC_NAMES.get(sec).copied().unwrap_or("index");
        if range.end > section.len() {
            return Err(DvdError::corrupt(format!(
                "{name}: read outside the section"
            )));
        }
        let base = self.layout.dir_base.get(sec).copied().unwrap_or(0);
        for i in range.start / CHECK_CHUNK..=(range.end - 1) / CHECK_CHUNK {
            let g = base + i;
            let word = self
                .verified
                .get(g / 64)
                .ok_or_else(|| DvdError::corrupt("checksum directory too short"))?;
            let bit = 1u64 << (g % 64);
            if word.get() & bit != 0 {
                continue;
            }
            let start = section.start + i * CHECK_CHUNK;
            let end = (start + CHECK_CHUNK).min(section.end);
            let piece = self.bytes().get(start..end);
            let want = read_u64(self.bytes(), self.layout.dir.start + g * DIR_ENTRY_LEN);
            match (piece, want) {
                (Some(p), Some(w)) if xxh64(p, 0) == w => word.set(word.get() | bit),
                _ => {
                    return Err(DvdError::checksum(format!(
                        "index checksum mismatch ({name} chunk {i})"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Verifies every piece of every checksummed section (for `verify`).
    fn ensure_all(&self) -> DvdResult<()> {
        let lens = [
            self.layout.records.len(),
            self.layout.hash.len(),
            self.layout.fields.len(),
        ];
        for (sec, len) in lens.into_iter().enumerate() {
            self.ensure(sec, 0..len)?;
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Number of records.
    pub fn count(&self) -> u32 {
        self.layout.count
    }

    /// The `match_on` string the index was built for.
    pub fn match_on(&self) -> &str {
        &self.match_on
    }

    /// `(major, minor)` format version of the file.
    pub fn version(&self) -> (u16, u16) {
        (self.desc.major, self.desc.minor)
    }

    fn table(&self) -> DvdResult<TableView<'_>> {
        let sec = self.bytes().get(self.layout.hash.clone()).unwrap_or(&[]);
        TableView::new(sec, self.layout.capacity, self.layout.count)
    }

    fn fields(&self) -> DvdResult<FieldsView<'_>> {
        let sec = self.bytes().get(self.layout.fields.clone()).unwrap_or(&[]);
        FieldsView::new(sec, self.layout.chunks, self.layout.count)
    }

    /// Ids of the records whose key hash equals XXH64(`key`), in recording order.
    pub fn lookup(&self, key: &[u8]) -> DvdResult<Vec<u32>> {
        self.lookup_hash(key_hash(key))
    }

    /// Ids of the records whose key hash is `hash`, in recording order.
    pub fn lookup_hash(&self, hash: u64) -> DvdResult<Vec<u32>> {
        let t = self.table()?;
        let mut out = Vec::new();
        let bytes = t.probe_with(hash, &|r| self.ensure(SEC_HASH, r))?;
        t.decode_bucket(bytes, &mut out)?;
        Ok(out)
    }

    /// The candidates of `key`: the ids of the records whose key hash is that of `key`, in
    /// recording order, read one by one (a key with thousands of recordings costs nothing more),
    /// and that hash.
    pub fn candidates(&self, key: &[u8]) -> DvdResult<(u64, Candidates<'_>)> {
        let hash = key_hash(key);
        let t = self.table()?;
        let bytes = t.probe_with(hash, &|r| self.ensure(SEC_HASH, r))?;
        Ok((
            hash,
            Candidates {
                bytes,
                count: self.layout.count,
            },
        ))
    }

    fn entry(&self, id: u32) -> DvdResult<(usize, usize, usize)> {
        if id >= self.layout.count {
            return Err(DvdError::range(format!(
                "record id {id} out of range (count {})",
                self.layout.count
            )));
        }
        let rel = id as usize * RECORD_ENTRY_LEN;
        self.ensure(SEC_RECORDS, rel..rel + RECORD_ENTRY_LEN)?;
        let at = self.layout.records.start + rel;
        let bad = || DvdError::corrupt("record table entry out of range");
        let off = read_u64(self.bytes(), at).ok_or_else(bad)?;
        let blocks = read_u32(self.bytes(), at + 8).ok_or_else(bad)?;
        let len = read_u32(self.bytes(), at + 12).ok_or_else(bad)?;
        let pos = usize::try_from(off)
            .ok()
            .and_then(|o| o.checked_sub(self.layout.blocks.start))
            .filter(|&p| p <= self.layout.blocks.len())
            .ok_or_else(|| {
                DvdError::corrupt(format!("record {id} offset {off} outside the data frame"))
            })?;
        Ok((pos, blocks as usize, len as usize))
    }

    fn block_area(&self) -> &[u8] {
        self.bytes().get(self.layout.blocks.clone()).unwrap_or(&[])
    }

    /// Runs `f(region, pos, blocks, len)` on the compressed blocks of record `id`, which start at
    /// `pos` of `region`; errors name the record.
    ///
    /// A mapped file's blocks are read with a positioned read into a scratch buffer rather than
    /// through the mapping: touching the mapping would fault its pages (and the kernel's
    /// fault-around neighbours) into this process's resident set, so replaying a whole DVD would
    /// make it as large as the file, and handing pages back costs a fault on every later read. The
    /// record's extent is bounded by its length: a block is stored raw when compression does not
    /// shrink it, so blocks never exceed their content plus [`BLOCK_OVERHEAD`].
    fn with_record<T>(
        &self,
        id: u32,
        f: impl FnOnce(&[u8], usize, usize, usize) -> DvdResult<T>,
    ) -> DvdResult<T> {
        let named = |e: DvdError| DvdError::new(e.code, format!("record {id}: {}", e.message));
        let (pos, blocks, len) = self.entry(id)?;
        let Storage::Map { file, .. } = &self.storage else {
            return f(self.block_area(), pos, blocks, len).map_err(named);
        };
        if blocks != blocks_for(len) {
            return Err(named(DvdError::corrupt(
                "record block count does not match its length",
            )));
        }
        #[cfg(test)]
        PREADS.with(|c| c.set(c.get() + 1));
        let area = self.layout.blocks.len();
        let base = self.layout.blocks.start;
        let bound = len
            .saturating_add(blocks.saturating_mul(BLOCK_OVERHEAD))
            .min(area.saturating_sub(pos));
        let extent = if bound <= FIRST_READ {
            bound
        } else {
            // A large record: learn its extent from its block headers (a 4-byte read each) before
            // reading it, so a lying length cannot make us read and hold more than its blocks span.
            let mut word = [0u8; 4];
            let size_at = |p: usize| {
                let at = base.checked_add(p)? as u64;
                read_exact_at(file, &mut word, at).ok()?;
                Some(u32::from_le_bytes(word))
            };
            record_extent(area, size_at, pos, blocks, len).map_err(named)? - pos
        };
        #[cfg(test)]
        PREAD_BYTES.with(|c| c.set(c.get() + extent as u64));
        let mut scratch = self.scratch.borrow_mut();
        scratch.resize(extent, 0);
        read_exact_at(file, &mut scratch, (base + pos) as u64).map_err(|e| {
            named(DvdError::truncated(format!(
                "cannot read its blocks (was the file changed in place?): {e}"
            )))
        })?;
        let result = f(&scratch, 0, blocks, len).map_err(named);
        if scratch.capacity() > KEEP_SCRATCH {
            *scratch = Vec::new();
        }
        result
    }

    /// Decompressed length of record `id`, after checking that its blocks
    /// lie in the data frame and can plausibly produce that many bytes (so it
    /// is safe to allocate). Does not decompress.
    pub fn record_len(&self, id: u32) -> DvdResult<usize> {
        self.with_record(id, |region, pos, blocks, len| {
            check_record(region, pos, blocks, len).map(|()| len)
        })
    }

    /// Decompresses record `id` into `out`, which must be exactly
    /// [`record_len`](Self::record_len) bytes long.
    pub fn record_into_slice(&self, id: u32, out: &mut [u8]) -> DvdResult<()> {
        match self.read_record(id, out)? {
            Ok(n) if n == out.len() => Ok(()),
            _ => Err(DvdError::range("output buffer has the wrong length")),
        }
    }

    /// Decompresses record `id` into the start of `out` and returns its length, or `Err(length)`
    /// without writing when `out` is too short (the length checked as in
    /// [`record_len`](Self::record_len), so it is safe to allocate). One read of the blocks.
    pub fn read_record(&self, id: u32, out: &mut [u8]) -> DvdResult<Result<usize, usize>> {
        self.with_record(id, |region, pos, blocks, len| {
            let Some(dst) = out.get_mut(..len) else {
                return check_record(region, pos, blocks, len).map(|()| Err(len));
            };
            decode_record_into(region, pos, blocks, dst).map(|_| Ok(len))
        })
    }

    /// Decompresses record `id` into `out`.
    pub fn record_into(&self, id: u32, out: &mut Vec<u8>) -> DvdResult<()> {
        self.with_record(id, |region, pos, blocks, len| {
            decode_record(region, pos, blocks, len, out).map(|_| ())
        })
    }

    /// Decompressed bytes of record `id`.
    pub fn record(&self, id: u32) -> DvdResult<Vec<u8>> {
        let mut out = Vec::new();
        self.record_into(id, &mut out)?;
        Ok(out)
    }

    /// Match fields of record `id`.
    pub fn match_fields(&self, id: u32) -> DvdResult<Vec<u8>> {
        if id >= self.layout.count {
            return Err(DvdError::range(format!(
                "record id {id} out of range (count {})",
                self.layout.count
            )));
        }
        let fields = self.fields()?;
        self.fields_layout
            .get_or_init(|| {
                self.ensure(SEC_FIELDS, 0..fields.data_start())?;
                fields.check_layout()
            })
            .clone()?;
        fields.get_with(id, &self.fields_cache, &|r| self.ensure(SEC_FIELDS, r))
    }

    /// Full check: every checksum, every block decompresses, records are
    /// consecutive and exactly fill the data frame, content checksum, hash
    /// table and match-fields table consistency.
    pub fn verify(&self) -> DvdResult<()> {
        let (desc, _, _) = validate(self.bytes())?;
        if desc != self.desc {
            return Err(DvdError::corrupt("file changed since it was opened"));
        }
        self.ensure_all()?;
        let area = self.block_area();
        let mut pos = 0usize;
        let mut hasher = Xxh32::new(0);
        let mut total = 0u64;
        let mut buf = Vec::new();
        for id in 0..self.layout.count {
            let (p, blocks, len) = self.entry(id)?;
            if p != pos {
                return Err(DvdError::corrupt(format!(
                    "record {id} does not follow record {}",
                    id.wrapping_sub(1)
                )));
            }
            pos = decode_record(area, p, blocks, len, &mut buf)
                .map_err(|e| DvdError::new(e.code, format!("record {id}: {}", e.message)))?;
            hasher.update(&buf);
            total += len as u64;
        }
        if pos != area.len() {
            return Err(DvdError::corrupt(
                "data frame holds blocks that belong to no record",
            ));
        }
        if total != self.desc.content_len {
            return Err(DvdError::corrupt(
                "record lengths do not add up to the content size",
            ));
        }
        let trailer = self.layout.blocks.end;
        if read_u32(self.bytes(), trailer) != Some(0) {
            return Err(DvdError::corrupt("LZ4 end mark missing"));
        }
        if read_u32(self.bytes(), trailer + 4) != Some(hasher.digest()) {
            return Err(DvdError::checksum("LZ4 content checksum mismatch"));
        }
        self.table()?.check_all()?;
        self.fields()?.check_all()?;
        Ok(())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Stats {
        let d = &self.desc;
        // Counting the occupied slots needs them verified; 0 when they are bad.
        let distinct = self
            .table()
            .and_then(|t| {
                self.ensure(SEC_HASH, 0..t.slots_len())?;
                Ok(t.occupied())
            })
            .unwrap_or(0);
        Stats {
            record_count: self.layout.count,
            file_len: d.file_len,
            uncompressed_record_bytes: d.content_len,
            compressed_record_bytes: self.layout.blocks.len() as u64,
            data_frame_len: d.data_len,
            index_frame_len: d.index_len,
            record_table_len: d.records.len,
            hash_table_len: d.hash.len,
            fields_table_len: d.fields.len,
            fields_chunk_count: d.fields_chunk_count,
            hash_capacity: d.hash_capacity,
            distinct_keys: distinct,
            load_factor: f64::from(distinct) / f64::from(d.hash_capacity.max(1)),
        }
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;

/// The ids of a hash bucket, as [`Reader::candidates`] gives them.
pub struct Candidates<'a> {
    bytes: &'a [u8],
    /// Number of records: every id is below it.
    count: u32,
}

impl Candidates<'_> {
    /// Number of ids.
    pub fn len(&self) -> u32 {
        u32::try_from(self.bytes.len() / BUCKET_ID_LEN).unwrap_or(u32::MAX)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < BUCKET_ID_LEN
    }

    /// The id at `position` (below [`len`](Self::len)), checked to be a record id.
    pub fn id(&self, position: u32) -> DvdResult<u32> {
        let at = position as usize * BUCKET_ID_LEN;
        let id = self
            .bytes
            .get(at..at + BUCKET_ID_LEN)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(u32::MAX);
        if id >= self.count {
            return Err(DvdError::corrupt(format!(
                "hash bucket holds invalid record id {id}"
            )));
        }
        Ok(id)
    }
}
