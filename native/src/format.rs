//! Constants of the `*.dvd.lz4` format and the fixed-size descriptor that is
//! stored twice: as the header (first skippable frame) and as the footer
//! (last skippable frame). See `docs/FORMAT.md` for the full layout.

use crate::error::{DvdError, DvdResult};
use xxhash_rust::xxh64::xxh64;

/// Magic at the start of every descriptor payload.
pub const MAGIC: &[u8; 5] = b"DVDRW";
/// Major format version written by this crate; readers refuse a newer major.
pub const VERSION_MAJOR: u16 = 1;
/// Minor format version written by this crate; newer minors stay readable.
pub const VERSION_MINOR: u16 = 0;

/// Skippable-frame magic of the header frame.
pub const SKIP_MAGIC_HEADER: u32 = 0x184D_2A5D;
/// Skippable-frame magic of the index frame.
pub const SKIP_MAGIC_INDEX: u32 = 0x184D_2A5E;
/// Skippable-frame magic of the footer frame.
pub const SKIP_MAGIC_FOOTER: u32 = 0x184D_2A5F;
/// Length of a skippable-frame header (magic + u32 size).
pub const SKIP_HEADER_LEN: usize = 8;

/// Descriptor payload length (header and footer).
pub const DESCRIPTOR_LEN: usize = 192;
/// Descriptor frame length (skippable header + payload).
pub const DESCRIPTOR_FRAME_LEN: usize = SKIP_HEADER_LEN + DESCRIPTOR_LEN;
/// `kind` byte of the header descriptor.
pub const KIND_HEADER: u8 = b'H';
/// `kind` byte of the footer descriptor.
pub const KIND_FOOTER: u8 = b'F';

/// Record-table entry: u64 block offset, u32 block count, u32 length.
pub const RECORD_ENTRY_LEN: usize = 16;
/// Hash-table slot: u64 hash, u32 bucket start, u32 bucket length.
pub const SLOT_LEN: usize = 16;
/// Bucket element: u32 record id.
pub const BUCKET_ID_LEN: usize = 4;
/// Match-fields chunk entry: u64 offset, u32 stored size (+flag), u32 raw length.
pub const CHUNK_ENTRY_LEN: usize = 16;
/// Match-fields record entry: u32 chunk, u32 offset in chunk, u32 length.
pub const FIELD_ENTRY_LEN: usize = 12;
/// Alignment of every index section.
pub const SECTION_ALIGN: u64 = 8;
/// Upper bound for the `match_on` string.
pub const MAX_MATCH_ON_LEN: u64 = 64 * 1024;
/// The record table, hash table and match-fields table are checksummed in
/// pieces of this many bytes (from the section start; the last piece may be
/// shorter), so a reader verifies only what it reads. One XXH64 (8 bytes)
/// per piece goes to the checksum directory.
pub const CHECK_CHUNK: usize = 4096;
/// Bytes per checksum-directory entry (one XXH64).
pub const DIR_ENTRY_LEN: usize = 8;

/// Number of [`CHECK_CHUNK`] pieces of a section of `len` bytes.
pub fn check_chunks(len: u64) -> u64 {
    len.div_ceil(CHECK_CHUNK as u64)
}

/// Reads a little-endian u16 at `at`, `None` when out of bounds.
pub fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    let b = buf.get(at..end)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

/// Reads a little-endian u32 at `at`, `None` when out of bounds.
pub fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let b = buf.get(at..end)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// Reads a little-endian u64 at `at`, `None` when out of bounds.
pub fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    let b = buf.get(at..end)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Rounds `v` up to the section alignment.
pub fn align_up(v: u64) -> Option<u64> {
    Some(v.checked_add(SECTION_ALIGN - 1)? & !(SECTION_ALIGN - 1))
}

/// Encodes a skippable-frame header.
pub fn skippable_header(magic: u32, payload_len: u32) -> [u8; SKIP_HEADER_LEN] {
    let mut out = [0u8; SKIP_HEADER_LEN];
    out[..4].copy_from_slice(&magic.to_le_bytes());
    out[4..].copy_from_slice(&payload_len.to_le_bytes());
    out
}

/// Location and checksum of one index section (absolute file offsets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// Absolute file offset of the first byte.
    pub off: u64,
    /// Length in bytes.
    pub len: u64,
    /// XXH64 (seed 0) of the section bytes.
    pub xxh64: u64,
}

/// The fixed-size descriptor stored as header and as footer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// [`KIND_HEADER`] or [`KIND_FOOTER`].
    pub kind: u8,
    /// Major format version.
    pub major: u16,
    /// Minor format version.
    pub minor: u16,
    /// Feature flags; 0 in version 1.0.
    pub flags: u32,
    /// Total file length in bytes.
    pub file_len: u64,
    /// Number of records.
    pub record_count: u64,
    /// Total decompressed length of all records (LZ4 content size).
    pub content_len: u64,
    /// Offset of the LZ4 data frame.
    pub data_off: u64,
    /// Length of the LZ4 data frame (header to content checksum).
    pub data_len: u64,
    /// Offset of the index skippable frame.
    pub index_off: u64,
    /// Length of the index skippable frame including its 8-byte header.
    pub index_len: u64,
    /// Number of slots of the hash table (power of two).
    pub hash_capacity: u32,
    /// Number of match-fields chunks.
    pub fields_chunk_count: u32,
    /// Record offset table.
    pub records: Section,
    /// Hash table (slots then bucket ids).
    pub hash: Section,
    /// Match-fields table.
    pub fields: Section,
    /// `match_on` string (UTF-8).
    pub meta: Section,
    /// Offset of the checksum directory (its length follows from the
    /// section lengths, its integrity from the sections' `xxh64`).
    pub dir_off: u64,
}

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_KIND: usize = 5;
pub(crate) const OFF_MAJOR: usize = 6;
pub(crate) const OFF_MINOR: usize = 8;
pub(crate) const OFF_DESC_LEN: usize = 10;
pub(crate) const OFF_FLAGS: usize = 12;
pub(crate) const OFF_FILE_LEN: usize = 16;
pub(crate) const OFF_COUNT: usize = 24;
pub(crate) const OFF_CONTENT_LEN: usize = 32;
pub(crate) const OFF_DATA_OFF: usize = 40;
pub(crate) const OFF_DATA_LEN: usize = 48;
pub(crate) const OFF_INDEX_OFF: usize = 56;
pub(crate) const OFF_INDEX_LEN: usize = 64;
pub(crate) const OFF_CAPACITY: usize = 72;
pub(crate) const OFF_CHUNKS: usize = 76;
pub(crate) const OFF_SECTIONS: usize = 80;
pub(crate) const OFF_DIR_OFF: usize = 176;
pub(crate) const OFF_CHECKSUM: usize = 184;

impl Descriptor {
    /// Serializes the descriptor payload (192 bytes) including its checksum.
    pub fn encode(&self) -> [u8; DESCRIPTOR_LEN] {
        let mut b = [0u8; DESCRIPTOR_LEN];
        fn put(b: &mut [u8], at: usize, v: &[u8]) {
            if let Some(dst) = b.get_mut(at..at + v.len()) {
                dst.copy_from_slice(v);
            }
        }
        put(&mut b, OFF_MAGIC, MAGIC);
        b[OFF_KIND] = self.kind;
        put(&mut b, OFF_MAJOR, &self.major.to_le_bytes());
        put(&mut b, OFF_MINOR, &self.minor.to_le_bytes());
        put(&mut b, OFF_DESC_LEN, &(DESCRIPTOR_LEN as u16).to_le_bytes());
        put(&mut b, OFF_FLAGS, &self.flags.to_le_bytes());
        put(&mut b, OFF_FILE_LEN, &self.file_len.to_le_bytes());
        put(&mut b, OFF_COUNT, &self.record_count.to_le_bytes());
        put(&mut b, OFF_CONTENT_LEN, &self.content_len.to_le_bytes());
        put(&mut b, OFF_DATA_OFF, &self.data_off.to_le_bytes());
        put(&mut b, OFF_DATA_LEN, &self.data_len.to_le_bytes());
        put(&mut b, OFF_INDEX_OFF, &self.index_off.to_le_bytes());
        put(&mut b, OFF_INDEX_LEN, &self.index_len.to_le_bytes());
        put(&mut b, OFF_CAPACITY, &self.hash_capacity.to_le_bytes());
        put(&mut b, OFF_CHUNKS, &self.fields_chunk_count.to_le_bytes());
        let sections = [self.records, self.hash, self.fields, self.meta];
        for (i, s) in sections.iter().enumerate() {
            let at = OFF_SECTIONS + i * 24;
            put(&mut b, at, &s.off.to_le_bytes());
            put(&mut b, at + 8, &s.len.to_le_bytes());
            put(&mut b, at + 16, &s.xxh64.to_le_bytes());
        }
        put(&mut b, OFF_DIR_OFF, &self.dir_off.to_le_bytes());
        let sum = xxh64(&b[..OFF_CHECKSUM], 0);
        put(&mut b, OFF_CHECKSUM, &sum.to_le_bytes());
        b
    }

    /// Encodes the complete skippable frame (header or footer, from `kind`).
    pub fn encode_frame(&self) -> [u8; DESCRIPTOR_FRAME_LEN] {
        let magic = if self.kind == KIND_FOOTER {
            SKIP_MAGIC_FOOTER
        } else {
            SKIP_MAGIC_HEADER
        };
        let mut out = [0u8; DESCRIPTOR_FRAME_LEN];
        out[..SKIP_HEADER_LEN].copy_from_slice(&skippable_header(magic, DESCRIPTOR_LEN as u32));
        out[SKIP_HEADER_LEN..].copy_from_slice(&self.encode());
        out
    }

    /// Decodes and validates a descriptor frame (skippable header + payload)
    /// found at the start of `buf`. `what` names it in messages.
    ///
    /// Order of checks: frame magic, DVD magic, major version, size, checksum,
    /// kind. `buf` may be shorter than a frame: that is `DVD_ERR_TRUNCATED`
    /// once the magic matched.
    pub fn decode_frame(buf: &[u8], expected_magic: u32, kind: u8, what: &str) -> DvdResult<Self> {
        let magic_bytes = expected_magic.to_le_bytes();
        let avail = buf.len().min(4);
        if buf.get(..avail) != magic_bytes.get(..avail) {
            return Err(DvdError::not_dvd(format!(
                "{what}: not a DVD file (bad frame magic)"
            )));
        }
        if buf.len() < SKIP_HEADER_LEN {
            return Err(DvdError::truncated(format!(
                "{what}: file ends inside the {what}"
            )));
        }
        let payload = buf.get(SKIP_HEADER_LEN..).unwrap_or(&[]);
        let avail = payload.len().min(MAGIC.len());
        if payload.get(..avail) != MAGIC.get(..avail) {
            return Err(DvdError::not_dvd(format!(
                "{what}: not a DVD file (bad DVDRW magic)"
            )));
        }
        let major = read_u16(payload, OFF_MAJOR)
            .ok_or_else(|| DvdError::truncated(format!("file ends inside the {what}")))?;
        let minor = read_u16(payload, OFF_MINOR)
            .ok_or_else(|| DvdError::truncated(format!("file ends inside the {what}")))?;
        if major != VERSION_MAJOR {
            return Err(DvdError::version(format!(
                "file format version {major}.{minor} is not supported by this reader (supports {VERSION_MAJOR}.{VERSION_MINOR})"
            )));
        }
        let frame_size = read_u32(buf, 4).unwrap_or(0);
        let desc_len = read_u16(payload, OFF_DESC_LEN)
            .ok_or_else(|| DvdError::truncated(format!("file ends inside the {what}")))?;
        if frame_size as usize != DESCRIPTOR_LEN || desc_len as usize != DESCRIPTOR_LEN {
            return Err(DvdError::corrupt(format!(
                "{what}: unexpected descriptor size {frame_size}/{desc_len}"
            )));
        }
        let p = payload
            .get(..DESCRIPTOR_LEN)
            .ok_or_else(|| DvdError::truncated(format!("file ends inside the {what}")))?;
        let stored = read_u64(p, OFF_CHECKSUM).unwrap_or(0);
        let body = p.get(..OFF_CHECKSUM).unwrap_or(&[]);
        if xxh64(body, 0) != stored {
            return Err(DvdError::checksum(format!("{what} checksum mismatch")));
        }
        let bad = || DvdError::corrupt(format!("{what}: malformed descriptor"));
        let r64 = |at: usize| read_u64(p, at).ok_or_else(bad);
        let r32 = |at: usize| read_u32(p, at).ok_or_else(bad);
        let mut sections = [Section::default(); 4];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = OFF_SECTIONS + i * 24;
            *s = Section {
                off: r64(at)?,
                len: r64(at + 8)?,
                xxh64: r64(at + 16)?,
            };
        }
        let d = Descriptor {
            kind: p.get(OFF_KIND).copied().ok_or_else(bad)?,
            major,
            minor,
            flags: r32(OFF_FLAGS)?,
            file_len: r64(OFF_FILE_LEN)?,
            record_count: r64(OFF_COUNT)?,
            content_len: r64(OFF_CONTENT_LEN)?,
            data_off: r64(OFF_DATA_OFF)?,
            data_len: r64(OFF_DATA_LEN)?,
            index_off: r64(OFF_INDEX_OFF)?,
            index_len: r64(OFF_INDEX_LEN)?,
            hash_capacity: r32(OFF_CAPACITY)?,
            fields_chunk_count: r32(OFF_CHUNKS)?,
            records: sections[0],
            hash: sections[1],
            fields: sections[2],
            meta: sections[3],
            dir_off: r64(OFF_DIR_OFF)?,
        };
        if d.kind != kind {
            return Err(DvdError::corrupt(format!("{what}: wrong descriptor kind")));
        }
        Ok(d)
    }

    /// Length of the checksum directory: one entry per [`CHECK_CHUNK`] of
    /// the record, hash and fields sections, in that order.
    pub fn dir_len(&self) -> Option<u64> {
        check_chunks(self.records.len)
            .checked_add(check_chunks(self.hash.len))?
            .checked_add(check_chunks(self.fields.len))?
            .checked_mul(DIR_ENTRY_LEN as u64)
    }

    /// True when both descriptors describe the same file (ignoring `kind`).
    pub fn same_file(&self, other: &Descriptor) -> bool {
        let mut a = *self;
        a.kind = other.kind;
        a == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn sample() -> Descriptor {
        Descriptor {
            kind: KIND_HEADER,
            major: VERSION_MAJOR,
            minor: VERSION_MINOR,
            file_len: 1234,
            record_count: 3,
            hash_capacity: 8,
            records: Section {
                off: 300,
                len: 48,
                xxh64: 7,
            },
            ..Default::default()
        }
    }

    #[test]
    fn round_trip() {
        let d = sample();
        let f = d.encode_frame();
        let back = Descriptor::decode_frame(&f, SKIP_MAGIC_HEADER, KIND_HEADER, "header").unwrap();
        assert_eq!(d, back);
        let mut foot = d;
        foot.kind = KIND_FOOTER;
        assert!(foot.same_file(&d));
        let f2 = foot.encode_frame();
        assert_eq!(&f2[..4], &SKIP_MAGIC_FOOTER.to_le_bytes());
    }

    #[test]
    fn errors() {
        let f = sample().encode_frame();
        let dec = |b: &[u8]| Descriptor::decode_frame(b, SKIP_MAGIC_HEADER, KIND_HEADER, "header");
        assert_eq!(dec(b"PK\x03\x04 zip").unwrap_err().code, ErrorCode::NotDvd);
        assert_eq!(dec(&f[..2]).unwrap_err().code, ErrorCode::Truncated);
        assert_eq!(dec(&f[..100]).unwrap_err().code, ErrorCode::Truncated);
        let mut g = f;
        g[SKIP_HEADER_LEN + 50] ^= 1;
        assert_eq!(dec(&g).unwrap_err().code, ErrorCode::Checksum);
        let mut g = f;
        g[SKIP_HEADER_LEN + OFF_MAJOR] = 2;
        let e = dec(&g).unwrap_err();
        assert_eq!(e.code, ErrorCode::Version);
        assert!(
            e.message.contains("2.0") && e.message.contains("1.0"),
            "{e}"
        );
        assert_eq!(
            Descriptor::decode_frame(&f, SKIP_MAGIC_HEADER, KIND_FOOTER, "footer")
                .unwrap_err()
                .code,
            ErrorCode::Corrupt
        );
    }

    #[test]
    fn readers_are_bounds_checked() {
        assert_eq!(read_u32(&[1, 2, 3], 0), None);
        assert_eq!(read_u64(&[0; 8], 1), None);
        assert_eq!(read_u16(&[1, 0], usize::MAX), None);
        assert_eq!(align_up(9), Some(16));
        assert_eq!(align_up(u64::MAX), None);
    }
}
