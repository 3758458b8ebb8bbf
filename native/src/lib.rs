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
pub mod fields;
pub mod find;
pub mod format;
pub mod frame;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
pub mod index_table;
pub mod queue_thread;
pub mod reader;
pub mod record_layout;
pub mod request_key;
#[cfg(any(test, feature = "fuzzing"))]
pub mod reseal;
pub mod session_index;
pub mod short_text;
#[cfg(test)]
mod test_dir;
pub mod writer;

use error::{DvdError, ErrorCode};
use napi::bindgen_prelude::{AsyncTask, BigInt, BufferSlice, FromNapiValue, Uint32ArraySlice};
use napi::Env;
use napi::Task;
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

    /// Keeps a lookup index of the records from now on, for `lookup`: call
    /// it before adding any (a recording session that also replays).
    #[napi]
    pub fn index_records(&mut self) -> napi::Result<(), ErrorCode> {
        self.inner
            .as_mut()
            .ok_or_else(|| closed("writer"))?
            .index_records();
        Ok(())
    }

    /// Ids of the records added with a key whose hash (XXH64, seed 0) equals
    /// that of `key`, in recording order: candidates whose own key must still
    /// be compared. Empty unless `indexRecords()` was called first.
    #[napi]
    pub fn lookup<'env>(
        &self,
        env: &'env Env,
        key: BufferSlice,
    ) -> napi::Result<Uint32ArraySlice<'env>, ErrorCode> {
        let ids = self
            .inner
            .as_ref()
            .ok_or_else(|| closed("writer"))?
            .lookup(&key);
        Uint32ArraySlice::copy_from(env, ids)
            .map_err(|e| DvdError::new(ErrorCode::Io, e.reason).into())
    }

    /// The bytes of record `id` (as given to `add`), read back from the
    /// temporary file; a record still being compressed is written out first.
    #[napi]
    pub fn read<'env>(
        &mut self,
        env: &'env Env,
        id: u32,
    ) -> napi::Result<BufferSlice<'env>, ErrorCode> {
        let record = self
            .inner
            .as_mut()
            .ok_or_else(|| closed("writer"))?
            .read(id)?;
        BufferSlice::copy_from(env, record)
            .map_err(|e| DvdError::new(ErrorCode::Io, e.reason).into())
    }

    /// Writes the index and footer, fsyncs, and renames the temporary file
    /// over the target path. The writer is closed afterwards.
    #[napi]
    pub fn finish(&mut self) -> napi::Result<(), ErrorCode> {
        let mut w = self.inner.take().ok_or_else(|| closed("writer"))?;
        Ok(w.finish()?)
    }

    /// `finish()` off the JavaScript thread: the index is written, the file
    /// fsynced and renamed on a worker thread, and the promise settles once
    /// the target holds the new file (or rejects, the target left as it was).
    /// The writer is closed as soon as this is called.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn finish_async(&mut self) -> napi::Result<AsyncTask<FinishTask>, ErrorCode> {
        let w = self.inner.take().ok_or_else(|| closed("writer"))?;
        Ok(AsyncTask::new(FinishTask { writer: Some(w) }))
    }

    /// Deletes the temporary file; the target is left untouched. Idempotent.
    #[napi]
    pub fn abort(&mut self) {
        if let Some(mut w) = self.inner.take() {
            w.abort();
        }
    }
}

/// The work of `NativeDvdWriter.finishAsync`, run on a libuv worker thread.
pub struct FinishTask {
    writer: Option<writer::Writer>,
}

impl Task for FinishTask {
    type Output = Result<(), DvdError>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.writer.take() {
            Some(mut w) => w.finish(),
            None => Err(DvdError::closed("writer is closed".to_owned())),
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<()> {
        // A task rejects with a generic status; the message keeps the `DVD_ERR_*` code.
        output.map_err(|e| napi::Error::new(napi::Status::GenericFailure, e.to_string()))
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
    /// What `find` keeps between lookups.
    find_state: RefCell<find::FindState>,
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
            find_state: RefCell::new(find::FindState::new(inner.match_on())),
            inner: Some(inner),
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

    /// The lookup behind replay (see `native/src/find.rs`), in one call:
    /// chooses among the candidates of a request's key, at or after position
    /// `from`, the first that `plays` (play counts by record id) counts as
    /// never played, else the last, and decompresses its record into `target`
    /// from `offset` on, laid out into `result` (slots `FIND_SLOT_*`). Without
    /// `plays`, chooses the candidate at `from`. The request is given by its
    /// `key`, or when `key` is null by its dispatch parts (`method` as sent,
    /// `origin`, `path`), keyed here when it has the simple form; otherwise the
    /// status is `FIND_NOT_SIMPLE`.
    #[napi(
        ts_args_type = "key: string | null, method: string, origin: string, path: string, from: number, plays: Uint32Array | null, target: Buffer, offset: number, result: Uint32Array"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn find(
        &self,
        key: Option<String>,
        method: ShortText<64>,
        origin: ShortText<1024>,
        path: ShortText<8192>,
        from: u32,
        plays: Option<Uint32ArraySlice>,
        mut target: BufferSlice,
        offset: u32,
        mut result: Uint32ArraySlice,
    ) -> napi::Result<(), ErrorCode> {
        let r = self.get()?;
        let query = match (&key, method.text(), origin.text(), path.text()) {
            (Some(key), ..) => find::Query::Key(key.as_bytes()),
            (None, Some(method), Some(origin), Some(path)) => find::Query::Parts {
                method,
                origin,
                path,
            },
            // A part too long for the simple form.
            _ => find::Query::Parts {
                method: "",
                origin: "",
                path: "",
            },
        };
        // Never busy: nothing calls back into JavaScript during a lookup.
        let Ok(mut state) = self.find_state.try_borrow_mut() else {
            return Err(DvdError::new(ErrorCode::Io, "reader busy".to_owned()).into());
        };
        let room = room(&mut target, offset)?;
        let plays = plays.as_ref().map(|p| p.as_ref());
        // SAFETY: the call is synchronous on the JS thread, so nothing else
        // touches the array while it is written.
        let result = unsafe { result.as_mut() };
        Ok(find::find(
            r, &mut state, &query, from, plays, room, result,
        )?)
    }

    /// Decompresses record `id` into `target` from `offset` on, laid out into
    /// `result` as by `find` (status `FIND_NO_ROOM` and the needed length
    /// when it does not fit: nothing is written to `target` then).
    #[napi]
    pub fn read(
        &self,
        id: u32,
        mut target: BufferSlice,
        offset: u32,
        mut result: Uint32ArraySlice,
    ) -> napi::Result<(), ErrorCode> {
        let r = self.get()?;
        let room = room(&mut target, offset)?;
        // SAFETY: as in `find`.
        let result = unsafe { result.as_mut() };
        find::read(r, id, room, result)?;
        Ok(())
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

// Slots and statuses of the result array of `NativeDvdReader.find` and `read`
// (see `native/src/find.rs`), for TypeScript.

/// Result slot: the status (`FIND_FOUND`, `FIND_NONE`, `FIND_NOT_SIMPLE`, `FIND_NO_ROOM`).
#[napi]
pub const FIND_SLOT_STATUS: u32 = find::SLOT_STATUS as u32;
/// Result slot: number of candidates of the key.
#[napi]
pub const FIND_SLOT_COUNT: u32 = find::SLOT_COUNT as u32;
/// Result slot: position of the chosen candidate among them.
#[napi]
pub const FIND_SLOT_POSITION: u32 = find::SLOT_POSITION as u32;
/// Result slot: the chosen record's id.
#[napi]
pub const FIND_SLOT_ID: u32 = find::SLOT_ID as u32;
/// Result slot: its length in bytes (needed, with `FIND_NO_ROOM`).
#[napi]
pub const FIND_SLOT_LENGTH: u32 = find::SLOT_LENGTH as u32;
/// Result slot: 1 when it was recorded with exactly the method and URL given as parts.
#[napi]
pub const FIND_SLOT_SAME_REQUEST: u32 = find::SLOT_SAME_REQUEST as u32;
/// Result slot: the first of the record's layout (see `native/src/record_layout.rs`).
#[napi]
pub const FIND_SLOT_LAYOUT: u32 = find::SLOT_LAYOUT as u32;
/// Length of the result array.
#[napi]
pub const FIND_RESULT_LEN: u32 = find::RESULT_LEN as u32;
/// Status: a candidate was chosen and its record read.
#[napi]
pub const FIND_FOUND: u32 = find::FOUND;
/// Status: no candidate at or after `from`.
#[napi]
pub const FIND_NONE: u32 = find::NONE;
/// Status: the request given by its parts is not of the simple form; look it up by its key.
#[napi]
pub const FIND_NOT_SIMPLE: u32 = find::NOT_SIMPLE;
/// Status: the chosen record does not fit after `offset`; read it into a larger target.
#[napi]
pub const FIND_NO_ROOM: u32 = find::NO_ROOM;
