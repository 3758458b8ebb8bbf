//! Native part of `dvd-rw`: reader and writer of the binary DVD format
//! (`*.dvd.lz4`, see `docs/FORMAT.md`). This file is only the thin napi
//! surface; records, keys and match fields are opaque bytes from TypeScript,
//! except on the replay fast path, which keys requests of the simple form
//! itself (`request_key.rs`) and reads the request line of records.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod background_file;
pub mod compressor;
pub mod error;
pub mod exact;
pub mod fields;
pub mod format;
pub mod frame;
pub mod index_table;
pub mod queue_thread;
pub mod reader;
pub mod record_layout;
pub mod request_key;
pub mod short_text;
#[cfg(test)]
mod test_dir;
pub mod writer;

use error::{DvdError, ErrorCode};
use napi::bindgen_prelude::{BigInt, BufferSlice, FromNapiValue, Uint32ArraySlice};
use napi::Env;
use napi_derive::napi;
use short_text::ShortText;
use std::cell::RefCell;

// Every export fails with an `Error` whose `code` is `DVD_ERR_*` (see error.rs).

/// Allocates an (uninitialized) Node Buffer of `len` bytes and lets `fill`
/// write all of it: no Rust-side allocation, no copy, no finalizer.
fn js_buffer<'env>(
    env: &'env Env,
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), DvdError>,
) -> napi::Result<BufferSlice<'env>, ErrorCode> {
    let io = |m: &str| napi::Error::from(DvdError::new(ErrorCode::Io, m.to_owned()));
    let mut data = std::ptr::null_mut();
    let mut value = std::ptr::null_mut();
    // SAFETY: plain N-API call on the current env; out-params are valid.
    let status = unsafe { napi::sys::napi_create_buffer(env.raw(), len, &mut data, &mut value) };
    if status != napi::sys::Status::napi_ok {
        return Err(io("cannot allocate a Buffer"));
    }
    // SAFETY: `value` is the Buffer just created on this env.
    let mut buf =
        unsafe { BufferSlice::from_napi_value(env.raw(), value) }.map_err(|e| io(&e.reason))?;
    fill(&mut buf)?;
    Ok(buf)
}

/// The part of `target` from byte `offset` on.
fn room(target: &mut [u8], offset: u32) -> Result<&mut [u8], DvdError> {
    target
        .get_mut(offset as usize..)
        .ok_or_else(|| DvdError::range("offset past the end of the target"))
}

/// Writes the layout of the record just decompressed into `room[..len]` into
/// `layout`, when asked for one and the record has the common shape.
fn lay_out(layout: Option<Uint32ArraySlice>, room: &[u8], len: usize) {
    if let (Some(mut layout), Some(record)) = (layout, room.get(..len)) {
        // SAFETY: the call is synchronous on the JS thread, so nothing else
        // touches the array while it is written.
        record_layout::record_layout(record, unsafe { layout.as_mut() });
    }
}

fn closed(what: &str) -> napi::Error<ErrorCode> {
    DvdError::closed(format!("{what} is closed")).into()
}

/// Streaming writer of a `.dvd.lz4` file. Records are compressed and appended
/// to a temporary file next to the target as they are added; `finish()`
/// writes the index, fsyncs and atomically renames over the target.
#[napi]
pub struct NativeDvdWriter {
    inner: Option<writer::Writer>,
}

#[napi]
impl NativeDvdWriter {
    /// Starts writing `path` (via a temporary file in the same directory).
    /// `matchOn` is the match-field set the key of every record was built for.
    #[napi(constructor)]
    pub fn new(path: String, match_on: String) -> napi::Result<Self, ErrorCode> {
        Ok(NativeDvdWriter {
            inner: Some(writer::Writer::create(path, &match_on)?),
        })
    }

    /// Appends a record (a MessagePack value), the canonical key bytes it is
    /// found by, and its normalized match fields. Returns the record id
    /// (0, 1, 2, ... in recording order).
    #[napi]
    pub fn add(
        &mut self,
        record: BufferSlice,
        key: BufferSlice,
        match_fields: BufferSlice,
    ) -> napi::Result<u32, ErrorCode> {
        let w = self.inner.as_mut().ok_or_else(|| closed("writer"))?;
        Ok(w.add(&record, &key, &match_fields)?)
    }

    /// Writes the index and footer, fsyncs, and renames the temporary file
    /// over the target path. The writer is closed afterwards.
    #[napi]
    pub fn finish(&mut self) -> napi::Result<(), ErrorCode> {
        let mut w = self.inner.take().ok_or_else(|| closed("writer"))?;
        Ok(w.finish()?)
    }

    /// Deletes the temporary file; the target is left untouched. Idempotent.
    #[napi]
    pub fn abort(&mut self) {
        if let Some(mut w) = self.inner.take() {
            w.abort();
        }
    }
}

/// Counts and sizes of an open file, from `NativeDvdReader.stats()`.
#[napi(object)]
pub struct NativeDvdStats {
    /// Number of records.
    pub record_count: u32,
    /// Total file size in bytes.
    pub file_bytes: f64,
    /// Sum of the decompressed record sizes (the LZ4 content size).
    pub uncompressed_record_bytes: f64,
    /// Bytes of the record blocks (block headers, data and block checksums).
    pub compressed_record_bytes: f64,
    /// Size of the whole LZ4 data frame.
    pub data_frame_bytes: f64,
    /// Size of the index skippable frame.
    pub index_frame_bytes: f64,
    /// Size of the record offset table.
    pub record_table_bytes: f64,
    /// Size of the hash table section (slots and bucket ids).
    pub hash_table_bytes: f64,
    /// Size of the match-fields section.
    pub fields_table_bytes: f64,
    /// Number of LZ4 chunks in the match-fields section.
    pub fields_chunk_count: u32,
    /// Number of hash-table slots (a power of two).
    pub hash_capacity: u32,
    /// Number of occupied slots, i.e. distinct key hashes.
    pub distinct_keys: u32,
    /// `distinctKeys / hashCapacity`.
    pub load_factor: f64,
}

/// Memory-mapped reader of a `.dvd.lz4` file. Opening validates the header,
/// footer and index checksums without touching any record.
#[napi]
pub struct NativeDvdReader {
    inner: Option<reader::Reader>,
    /// The file's `match_on` as matchers, when they read only the method and URL.
    url_matchers: Option<Vec<request_key::UrlMatcher>>,
    /// The buffer `lookupRequestInto` writes each request's key into.
    key: RefCell<String>,
}

impl NativeDvdReader {
    fn get(&self) -> napi::Result<&reader::Reader, ErrorCode> {
        self.inner.as_ref().ok_or_else(|| closed("reader"))
    }
}

#[napi]
impl NativeDvdReader {
    /// Maps and validates the file. Throws `DVD_ERR_*` errors for missing,
    /// empty, non-DVD, truncated, corrupt or newer-major-version files.
    #[napi(factory)]
    pub fn open(path: String) -> napi::Result<Self, ErrorCode> {
        let inner = reader::Reader::open(path)?;
        Ok(NativeDvdReader {
            url_matchers: request_key::url_matchers(inner.match_on()),
            inner: Some(inner),
            key: RefCell::new(String::new()),
        })
    }

    /// Number of records.
    #[napi(getter)]
    pub fn count(&self) -> napi::Result<u32, ErrorCode> {
        Ok(self.get()?.count())
    }

    /// The `matchOn` set the stored hash index was built for.
    #[napi(getter)]
    pub fn match_on(&self) -> napi::Result<String, ErrorCode> {
        Ok(self.get()?.match_on().to_owned())
    }

    /// Major format version of the file.
    #[napi(getter)]
    pub fn version_major(&self) -> napi::Result<u32, ErrorCode> {
        Ok(u32::from(self.get()?.version().0))
    }

    /// Minor format version of the file.
    #[napi(getter)]
    pub fn version_minor(&self) -> napi::Result<u32, ErrorCode> {
        Ok(u32::from(self.get()?.version().1))
    }

    /// Ids of the records whose key hash (XXH64, seed 0) equals that of
    /// `key`, in recording order; empty when there is none. Candidates must
    /// still be compared on their match fields (hash collisions).
    #[napi]
    pub fn lookup<'env>(
        &self,
        env: &'env Env,
        key: BufferSlice,
    ) -> napi::Result<Uint32ArraySlice<'env>, ErrorCode> {
        let ids = self.get()?.lookup(&key)?;
        Uint32ArraySlice::copy_from(env, ids)
            .map_err(|e| DvdError::new(ErrorCode::Io, e.reason).into())
    }

    /// Like `lookup`, for the hot replay path: the key as a string, the ids
    /// written into `out`. Returns how many ids there are; when `out` is too
    /// small, nothing is written and minus that count is returned.
    #[napi]
    pub fn lookup_into(
        &self,
        key: String,
        mut out: Uint32ArraySlice,
    ) -> napi::Result<i64, ErrorCode> {
        let ids = self.get()?.lookup(key.as_bytes())?;
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        // SAFETY: the call is synchronous on the JS thread, so nothing else
        // touches the array while it is written.
        let all = unsafe { out.as_mut() };
        let Some(target) = all.get_mut(..ids.len()) else {
            return Ok(-n);
        };
        target.copy_from_slice(&ids);
        Ok(n)
    }

    /// `lookupInto` and `recordInto` in one call, for the replay hot path:
    /// writes the ids whose key hash equals that of `key` into `out` and
    /// decompresses the first of them into `target` from byte `offset` on.
    /// Returns `count * 2^32 + length`: `count` ids were written, and the
    /// first record's `length` bytes are at `offset` (`length` is
    /// `0xFFFF_FFFF` when it did not fit there: nothing was written to
    /// `target`). When `out` is too small, or the bucket holds 2^20 ids or
    /// more, nothing is written and minus the count is returned (use
    /// `lookupInto` then). With `layout`, the first record's layout is
    /// written there too when it has the common shape (see
    /// `native/src/record_layout.rs`), and `layout[1]` is left untouched
    /// otherwise.
    #[napi]
    pub fn lookup_first_into(
        &self,
        key: String,
        mut out: Uint32ArraySlice,
        mut target: BufferSlice,
        offset: u32,
        layout: Option<Uint32ArraySlice>,
    ) -> napi::Result<i64, ErrorCode> {
        let r = self.get()?;
        let ids = r.lookup(key.as_bytes())?;
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        // SAFETY: the call is synchronous on the JS thread, so nothing else
        // touches the array while it is written.
        let all = unsafe { out.as_mut() };
        // Beyond 2^20 ids the packed result would not stay exact in a JS number.
        let slots = all.get_mut(..ids.len()).filter(|_| n < 1 << 20);
        let Some(slots) = slots else {
            return Ok(-n);
        };
        slots.copy_from_slice(&ids);
        let Some(&first) = ids.first() else {
            return Ok(0);
        };
        let room = room(&mut target, offset)?;
        let len = match r.read_record(first, room)? {
            Ok(len) => {
                lay_out(layout, room, len);
                u32::try_from(len).unwrap_or(u32::MAX)
            }
            Err(_) => u32::MAX,
        };
        Ok((n << 32) | i64::from(len))
    }

    /// The replay fast path, in one call: from a request's dispatch parts
    /// (`method`, `origin`, `path`) computes its index key when the request
    /// has the simple form (`native/src/request_key.rs`), and decompresses
    /// the key's first record into `target` from `offset` on, with its layout
    /// in `layout`. When that record has the common shape and was recorded
    /// with exactly this method and URL, returns `only * 2^32 + id`, `only`
    /// being 1 when it is the only record of its key hash (its length is in
    /// the layout's spans). Returns `-2 - length` when it does not fit after
    /// `offset`, and -1 in every other case: look the request up the general
    /// way (`lookupFirstInto`). A record returned here is always the one the
    /// general way finds first for the request.
    #[napi(
        ts_args_type = "method: string, origin: string, path: string, target: Buffer, offset: number, layout: Uint32Array"
    )]
    pub fn lookup_request_into(
        &self,
        method: ShortText<64>,
        origin: ShortText<1024>,
        path: ShortText<8192>,
        mut target: BufferSlice,
        offset: u32,
        mut layout: Uint32ArraySlice,
    ) -> napi::Result<f64, ErrorCode> {
        let r = self.get()?;
        let (Some(matchers), Some(method), Some(origin), Some(path)) = (
            &self.url_matchers,
            method.text(),
            origin.text(),
            path.text(),
        ) else {
            return Ok(-1.0);
        };
        // Never busy: nothing calls back into JavaScript during a lookup.
        let Ok(mut key) = self.key.try_borrow_mut() else {
            return Ok(-1.0);
        };
        let room = room(&mut target, offset)?;
        // SAFETY: the call is synchronous on the JS thread, so nothing else
        // touches the array while it is written.
        let layout = unsafe { layout.as_mut() };
        Ok(
            match exact::find_exact(r, matchers, (method, origin, path), &mut key, room, layout)? {
                exact::Exact::Found { id, only } => {
                    f64::from(u8::from(only)) * 4_294_967_296.0 + f64::from(id)
                }
                exact::Exact::NoRoom(len) => -2.0 - len as f64,
                exact::Exact::NotFound => -1.0,
            },
        )
    }

    /// Decompressed bytes of record `id` (a MessagePack value).
    #[napi]
    pub fn record<'env>(
        &self,
        env: &'env Env,
        id: u32,
    ) -> napi::Result<BufferSlice<'env>, ErrorCode> {
        let r = self.get()?;
        js_buffer(env, r.record_len(id)?, |out| r.record_into_slice(id, out))
    }

    /// Decompresses record `id` into `target` from byte `offset` on (default
    /// 0) and returns its length. When the room after `offset` is too small
    /// nothing is written and the needed length is returned as a negative
    /// number. Lets the hot replay path fill one large Buffer record after
    /// record instead of allocating one per record. With `layout`, the
    /// record's layout is written there as by `lookupFirstInto`.
    #[napi]
    pub fn record_into(
        &self,
        id: u32,
        mut target: BufferSlice,
        offset: Option<u32>,
        layout: Option<Uint32ArraySlice>,
    ) -> napi::Result<i64, ErrorCode> {
        let len = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let room = room(&mut target, offset.unwrap_or(0))?;
        Ok(match self.get()?.read_record(id, room)? {
            Ok(n) => {
                lay_out(layout, room, n);
                len(n)
            }
            Err(n) => -len(n),
        })
    }

    /// Normalized match fields of record `id`, as given to `add`.
    #[napi]
    pub fn match_fields<'env>(
        &self,
        env: &'env Env,
        id: u32,
    ) -> napi::Result<BufferSlice<'env>, ErrorCode> {
        let fields = self.get()?.match_fields(id)?;
        BufferSlice::copy_from(env, fields)
            .map_err(|e| DvdError::new(ErrorCode::Io, e.reason).into())
    }

    /// Checks everything: all checksums, every block decompresses, the
    /// records exactly fill the LZ4 frame, the content checksum, and the
    /// hash and match-fields tables. Throws on the first problem.
    #[napi]
    pub fn verify(&self) -> napi::Result<(), ErrorCode> {
        Ok(self.get()?.verify()?)
    }

    /// Counts, section sizes, hash-table capacity and load factor.
    #[napi]
    pub fn stats(&self) -> napi::Result<NativeDvdStats, ErrorCode> {
        let s = self.get()?.stats();
        Ok(NativeDvdStats {
            record_count: s.record_count,
            file_bytes: s.file_len as f64,
            uncompressed_record_bytes: s.uncompressed_record_bytes as f64,
            compressed_record_bytes: s.compressed_record_bytes as f64,
            data_frame_bytes: s.data_frame_len as f64,
            index_frame_bytes: s.index_frame_len as f64,
            record_table_bytes: s.record_table_len as f64,
            hash_table_bytes: s.hash_table_len as f64,
            fields_table_bytes: s.fields_table_len as f64,
            fields_chunk_count: s.fields_chunk_count,
            hash_capacity: s.hash_capacity,
            distinct_keys: s.distinct_keys,
            load_factor: s.load_factor,
        })
    }

    /// Unmaps the file. Further calls throw `DVD_ERR_CLOSED`. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }
}

/// XXH64 (seed 0) of `key`: the hash the index is keyed by. For tests and
/// cross-checks with the TypeScript fallback reader.
#[napi]
pub fn xxh64_key(key: BufferSlice) -> BigInt {
    BigInt::from(index_table::key_hash(&key))
}
