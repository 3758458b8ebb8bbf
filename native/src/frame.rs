//! LZ4 frame pieces: the data-frame header, block encoding and decoding.
//!
//! The data frame uses independent blocks (no block depends on a previous
//! one), 4 MiB maximum block size, per-block XXH32 checksums, a content size
//! and a content checksum. A block whose compressed form is not smaller than
//! its input is stored raw (high bit of the block size set).

use crate::error::{DvdError, DvdResult};
use crate::format::read_u32;
use xxhash_rust::xxh32::xxh32;

/// LZ4 frame magic number.
pub const LZ4_MAGIC: u32 = 0x184D_2204;
/// Maximum decompressed size of one block (BD code 7 = 4 MiB).
pub const MAX_BLOCK: usize = 4 << 20;
/// FLG: version 01, block independence, block checksum, content size, content checksum.
pub const FLG: u8 = 0b0111_1100;
/// BD: block max size code 7 (4 MiB).
pub const BD: u8 = 0x70;
/// Length of our frame header: magic, FLG, BD, u64 content size, HC.
pub const FRAME_HEADER_LEN: usize = 15;
/// Length of the frame trailer: end mark + content checksum.
pub const FRAME_TRAILER_LEN: usize = 8;
/// High bit of a block size: block stored uncompressed.
pub const STORED_FLAG: u32 = 0x8000_0000;
/// Bytes around a block's data: size field + checksum.
pub const BLOCK_OVERHEAD: usize = 8;

/// Largest output a compressed LZ4 block of `c` bytes can plausibly produce.
/// Used to refuse absurd claimed lengths before allocating.
pub fn max_expansion(c: usize) -> usize {
    c.saturating_mul(256).saturating_add(64)
}

/// Number of blocks a record of `len` bytes occupies.
pub fn blocks_for(len: usize) -> usize {
    len.div_ceil(MAX_BLOCK)
}

/// Encodes the 15-byte LZ4 frame header for a frame with `content_len` bytes.
pub fn encode_frame_header(content_len: u64) -> [u8; FRAME_HEADER_LEN] {
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[..4].copy_from_slice(&LZ4_MAGIC.to_le_bytes());
    h[4] = FLG;
    h[5] = BD;
    h[6..14].copy_from_slice(&content_len.to_le_bytes());
    h[14] = ((xxh32(&h[4..14], 0) >> 8) & 0xFF) as u8;
    h
}

/// Decodes our frame header and returns its content size. Only the exact
/// flag combination written by this crate is accepted.
pub fn decode_frame_header(buf: &[u8]) -> DvdResult<u64> {
    let h = buf
        .get(..FRAME_HEADER_LEN)
        .ok_or_else(|| DvdError::truncated("file ends inside the LZ4 frame header"))?;
    if read_u32(h, 0) != Some(LZ4_MAGIC) {
        return Err(DvdError::corrupt("data frame: bad LZ4 magic"));
    }
    if h.get(4) != Some(&FLG) || h.get(5) != Some(&BD) {
        return Err(DvdError::corrupt("data frame: unsupported LZ4 frame flags"));
    }
    let desc = h.get(4..14).unwrap_or(&[]);
    if h.get(14).copied() != Some(((xxh32(desc, 0) >> 8) & 0xFF) as u8) {
        return Err(DvdError::checksum(
            "data frame: LZ4 header checksum mismatch",
        ));
    }
    let size = h
        .get(6..14)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes);
    size.ok_or_else(|| DvdError::corrupt("data frame: bad header"))
}

/// Reusable scratch space for block compression.
pub struct BlockEncoder {
    scratch: Vec<u8>,
}

impl Default for BlockEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockEncoder {
    /// New encoder with an empty scratch buffer.
    pub fn new() -> Self {
        BlockEncoder {
            scratch: Vec::new(),
        }
    }

    /// Compresses `raw` (at most [`MAX_BLOCK`] bytes for frame blocks) and
    /// returns `(size_field, payload)`: the payload is the compressed bytes,
    /// or `raw` itself with [`STORED_FLAG`] when compression does not shrink.
    pub fn compress<'a>(&'a mut self, raw: &'a [u8]) -> DvdResult<(u32, &'a [u8])> {
        let max = lz4_flex::block::get_maximum_output_size(raw.len());
        if self.scratch.len() < max {
            self.scratch.resize(max, 0);
        }
        let n = lz4_flex::block::compress_into(raw, &mut self.scratch)
            .map_err(|e| DvdError::corrupt(format!("LZ4 compression failed: {e}")))?;
        let len32 = |n: usize| {
            u32::try_from(n)
                .ok()
                .filter(|v| v & STORED_FLAG == 0)
                .ok_or_else(|| DvdError::limit("block too large"))
        };
        if n < raw.len() {
            let data = self.scratch.get(..n).unwrap_or(&[]);
            Ok((len32(n)?, data))
        } else {
            Ok((len32(raw.len())? | STORED_FLAG, raw))
        }
    }

    /// Appends one complete frame block (size, data, XXH32) for `raw` to `out`.
    pub fn encode_block(&mut self, raw: &[u8], out: &mut Vec<u8>) -> DvdResult<()> {
        let (size, data) = self.compress(raw)?;
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&xxh32(data, 0).to_le_bytes());
        Ok(())
    }
}

/// Decodes a single stored/compressed payload into `out`, which must be
/// exactly the expected decompressed length.
pub fn decode_payload(stored: bool, data: &[u8], out: &mut [u8]) -> DvdResult<()> {
    if stored {
        if data.len() != out.len() {
            return Err(DvdError::corrupt("stored block length mismatch"));
        }
        out.copy_from_slice(data);
        return Ok(());
    }
    // The writer stores a block raw unless compression shrinks it, so the extent of a record is
    // bounded by its length (readers size one read by it).
    if data.len() >= out.len() {
        return Err(DvdError::corrupt(
            "compressed LZ4 block not smaller than its content",
        ));
    }
    match lz4_flex::block::decompress_into(data, out) {
        Ok(n) if n == out.len() => Ok(()),
        Ok(_) => Err(DvdError::corrupt("LZ4 block decodes to the wrong length")),
        Err(e) => Err(DvdError::corrupt(format!("LZ4 block does not decode: {e}"))),
    }
}

/// One block located inside a byte region.
struct BlockRef<'a> {
    stored: bool,
    data: &'a [u8],
}

/// Splits a block's size field into (stored raw, data length), refusing an
/// end mark and a block larger than the maximum block size.
fn block_size(size: u32) -> DvdResult<(bool, usize)> {
    let c = (size & !STORED_FLAG) as usize;
    if c == 0 {
        return Err(DvdError::corrupt("unexpected LZ4 end mark inside a record"));
    }
    if c > MAX_BLOCK {
        return Err(DvdError::corrupt(
            "LZ4 block larger than the maximum block size",
        ));
    }
    Ok((size & STORED_FLAG != 0, c))
}

/// Reads the block at `pos` of `region`, checking bounds, size and its XXH32.
/// Returns the block and the position after it.
fn read_block(region: &[u8], pos: usize) -> DvdResult<(BlockRef<'_>, usize)> {
    let size = read_u32(region, pos)
        .ok_or_else(|| DvdError::corrupt("record block outside the data frame"))?;
    let (stored, c) = block_size(size)?;
    let start = pos
        .checked_add(4)
        .ok_or_else(|| DvdError::corrupt("block offset overflow"))?;
    let end = start
        .checked_add(c)
        .ok_or_else(|| DvdError::corrupt("block offset overflow"))?;
    let data = region
        .get(start..end)
        .ok_or_else(|| DvdError::corrupt("record block outside the data frame"))?;
    let sum = read_u32(region, end)
        .ok_or_else(|| DvdError::corrupt("record block outside the data frame"))?;
    if xxh32(data, 0) != sum {
        return Err(DvdError::checksum("record block checksum mismatch"));
    }
    Ok((BlockRef { stored, data }, end + 4))
}

/// Decodes a record of `raw_len` bytes made of `n_blocks` consecutive blocks
/// starting at `pos` in `region` (the block area of the data frame) into
/// `out` (resized). Block checksums are verified. Returns the position after
/// the last block.
pub fn decode_record(
    region: &[u8],
    pos: usize,
    n_blocks: usize,
    raw_len: usize,
    out: &mut Vec<u8>,
) -> DvdResult<usize> {
    check_record(region, pos, n_blocks, raw_len)?;
    out.clear();
    // Grow block by block: a length the blocks cannot really produce fails
    // at the first bad block instead of allocating (and zeroing) it all.
    let mut p = pos;
    let mut left = raw_len;
    for _ in 0..n_blocks {
        let (b, next) = read_block(region, p)?;
        let want = left.min(MAX_BLOCK);
        let start = out.len();
        out.resize(start + want, 0);
        let dst = out
            .get_mut(start..)
            .ok_or_else(|| DvdError::corrupt("record buffer error"))?;
        decode_payload(b.stored, b.data, dst)?;
        left -= want;
        p = next;
    }
    Ok(p)
}

/// Walks the block headers of a record without decoding: bounds, sizes and
/// plausibility of `raw_len`, so a lying length cannot make a caller
/// allocate more than the blocks can really produce.
pub fn check_record(region: &[u8], pos: usize, n_blocks: usize, raw_len: usize) -> DvdResult<()> {
    record_extent(
        region.len(),
        |p| read_u32(region, p),
        pos,
        n_blocks,
        raw_len,
    )
    .map(|_| ())
}

/// [`check_record`] for a region that is not in memory: `size_at(p)` reads the
/// 4-byte block size at `p` of a region of `region_len` bytes (`None` past its
/// end). Returns the position after the record's last block, so a reader can
/// fetch exactly the record's bytes once its claimed length has been checked.
pub fn record_extent(
    region_len: usize,
    mut size_at: impl FnMut(usize) -> Option<u32>,
    pos: usize,
    n_blocks: usize,
    raw_len: usize,
) -> DvdResult<usize> {
    if n_blocks != blocks_for(raw_len) {
        return Err(DvdError::corrupt(
            "record block count does not match its length",
        ));
    }
    let outside = || DvdError::corrupt("record block outside the data frame");
    let mut p = pos;
    let mut left = raw_len;
    for _ in 0..n_blocks {
        let (stored, c) = block_size(size_at(p).ok_or_else(outside)?)?;
        // Size field, data and XXH32 must all lie in the region.
        let next = p
            .checked_add(c + BLOCK_OVERHEAD)
            .filter(|&e| e <= region_len)
            .ok_or_else(outside)?;
        let want = left.min(MAX_BLOCK);
        let ok = if stored {
            c == want
        } else {
            c < want && want <= max_expansion(c)
        };
        if !ok {
            return Err(DvdError::corrupt("record length does not match its blocks"));
        }
        left -= want;
        p = next;
    }
    Ok(p)
}

/// Decodes the `n_blocks` blocks at `pos` into `out` (exactly the record
/// length). Block checksums are verified. Returns the position after the
/// last block.
pub fn decode_record_into(
    region: &[u8],
    pos: usize,
    n_blocks: usize,
    out: &mut [u8],
) -> DvdResult<usize> {
    // The blocks' sizes first, as `decode_record` checks them: a record whose length does not
    // match its blocks is refused the same way whichever path reads it.
    check_record(region, pos, n_blocks, out.len())?;
    let mut p = pos;
    let mut rest = out;
    for _ in 0..n_blocks {
        let (b, next) = read_block(region, p)?;
        let want = rest.len().min(MAX_BLOCK);
        let (dst, tail) = rest.split_at_mut(want);
        decode_payload(b.stored, b.data, dst)?;
        rest = tail;
        p = next;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn encode_record(raw: &[u8]) -> Vec<u8> {
        let mut enc = BlockEncoder::new();
        let mut out = Vec::new();
        for chunk in raw.chunks(MAX_BLOCK) {
            enc.encode_block(chunk, &mut out).unwrap();
        }
        out
    }

    /// Found by the `decode` fuzz target: a record whose claimed length does not match its
    /// blocks and whose block checksum is also wrong was `Corrupt` when read whole but
    /// `Checksum` when read into a buffer of its length.
    #[test]
    fn both_decoders_refuse_a_length_the_blocks_cannot_give_first() {
        let raw: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut region = encode_record(&raw);
        assert_ne!(region[3] & 0x80, 0, "the noise is stored raw");
        region[10] ^= 1; // the block's checksum no longer matches
        let len = raw.len() - 1; // a stored block of 100 bytes cannot give 99
        let whole = decode_record(&region, 0, 1, len, &mut Vec::new()).unwrap_err();
        let into = decode_record_into(&region, 0, 1, &mut vec![0; len]).unwrap_err();
        assert_eq!(whole.code, ErrorCode::Corrupt, "{whole}");
        assert_eq!(into.code, ErrorCode::Corrupt, "{into}");
        assert_eq!(whole.message, into.message);
    }

    #[test]
    fn header_round_trip() {
        let h = encode_frame_header(12345);
        assert_eq!(decode_frame_header(&h).unwrap(), 12345);
        let mut bad = h;
        bad[8] ^= 1;
        assert_eq!(
            decode_frame_header(&bad).unwrap_err().code,
            ErrorCode::Checksum
        );
        assert_eq!(
            decode_frame_header(&h[..10]).unwrap_err().code,
            ErrorCode::Truncated
        );
    }

    #[test]
    fn compressible_and_stored_blocks() {
        let text = b"hello hello hello hello hello hello hello hello".repeat(20);
        let enc = encode_record(&text);
        assert_eq!(read_u32(&enc, 0).unwrap() & STORED_FLAG, 0);
        let mut out = Vec::new();
        let end = decode_record(&enc, 0, 1, text.len(), &mut out).unwrap();
        assert_eq!(end, enc.len());
        assert_eq!(out, text);

        let noise: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let enc = encode_record(&noise);
        assert_ne!(read_u32(&enc, 0).unwrap() & STORED_FLAG, 0);
        decode_record(&enc, 0, 1, noise.len(), &mut out).unwrap();
        assert_eq!(out, noise);
    }

    #[test]
    fn multi_block_record() {
        let raw: Vec<u8> = (0..MAX_BLOCK + 1000).map(|i| (i % 251) as u8).collect();
        let enc = encode_record(&raw);
        let mut out = Vec::new();
        decode_record(&enc, 0, 2, raw.len(), &mut out).unwrap();
        assert_eq!(out, raw);
        assert!(decode_record(&enc, 0, 1, raw.len(), &mut out).is_err());
        assert!(decode_record(&enc, 0, 2, raw.len() + 1, &mut out).is_err());
    }

    #[test]
    fn hostile_blocks() {
        let raw = b"abcabcabcabcabcabcabcabcabcabc".repeat(4);
        let enc = encode_record(&raw);
        let mut out = Vec::new();
        // Claimed length far beyond what the block can produce: refused before allocating.
        let e = decode_record(&enc, 0, 1024, 1024 * MAX_BLOCK, &mut out).unwrap_err();
        assert_eq!(e.code, ErrorCode::Corrupt);
        let mut bad = enc.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xFF;
        assert_eq!(
            decode_record(&bad, 0, 1, raw.len(), &mut out)
                .unwrap_err()
                .code,
            ErrorCode::Checksum
        );
        assert!(decode_record(&enc[..enc.len() - 3], 0, 1, raw.len(), &mut out).is_err());
        assert!(decode_record(&enc, usize::MAX - 2, 1, raw.len(), &mut out).is_err());
        assert!(decode_record(&[0, 0, 0, 0], 0, 1, 1, &mut out).is_err());
    }

    #[test]
    fn lying_length_does_not_allocate_before_decoding() {
        // 64 blocks of 16 KiB that pass the plausibility walk (and their
        // checksums) but are not LZ4: the record claims 256 MiB. The Vec path
        // (verify) used to allocate and zero all of it before decoding block 0.
        let mut region = Vec::new();
        let junk = vec![0xFFu8; 16 * 1024];
        for _ in 0..64 {
            region.extend_from_slice(&(junk.len() as u32).to_le_bytes());
            region.extend_from_slice(&junk);
            region.extend_from_slice(&xxh32(&junk, 0).to_le_bytes());
        }
        let claim = 64 * MAX_BLOCK;
        check_record(&region, 0, 64, claim).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            decode_record(&region, 0, 64, claim, &mut out)
                .unwrap_err()
                .code,
            ErrorCode::Corrupt
        );
        assert!(
            out.capacity() <= 2 * MAX_BLOCK,
            "allocated {}",
            out.capacity()
        );
    }
}
