//! Checksum resealing of a mutated binary DVD, so that hostile-input tests
//! and fuzz targets reach the validation and decoding behind the checksums
//! instead of stopping at the first mismatch. Never used on real files.

use crate::format::{
    read_u32, read_u64, CHECK_CHUNK, DESCRIPTOR_FRAME_LEN, DESCRIPTOR_LEN, OFF_CHECKSUM,
    OFF_DIR_OFF, OFF_SECTIONS, SKIP_HEADER_LEN,
};
use crate::frame::{FRAME_HEADER_LEN, MAX_BLOCK, STORED_FLAG};
use xxhash_rust::xxh64::xxh64;

/// Recomputes the piece checksums of the record, hash and fields sections
/// into the checksum directory, the sections' checksums and both
/// descriptors' checksums (as far as the possibly mutated offsets allow) so
/// mutations reach deep validation.
pub fn reseal(b: &mut [u8]) {
    let len = b.len();
    let mut starts = vec![SKIP_HEADER_LEN];
    if let Some(f) = len.checked_sub(DESCRIPTOR_LEN) {
        starts.push(f);
    }
    let range = |b: &[u8], at: usize| -> Option<(usize, usize)> {
        let off = usize::try_from(read_u64(b, at)?).ok()?;
        let slen = usize::try_from(read_u64(b, at + 8)?).ok()?;
        let end = off.checked_add(slen).filter(|&e| e <= b.len())?;
        Some((off, end))
    };
    for d in starts {
        let mut dir_at = read_u64(b, d + OFF_DIR_OFF).and_then(|v| usize::try_from(v).ok());
        for i in 0..4 {
            let at = d + OFF_SECTIONS + i * 24;
            let Some((off, end)) = range(b, at) else {
                continue;
            };
            let section = b.get(off..end).unwrap_or_default();
            let h = if i == 3 {
                xxh64(section, 0)
            } else {
                let sums: Vec<u8> = section
                    .chunks(CHECK_CHUNK)
                    .flat_map(|c| xxh64(c, 0).to_le_bytes())
                    .collect();
                if let Some(p) = dir_at {
                    if let Some(dst) = p.checked_add(sums.len()).and_then(|e| b.get_mut(p..e)) {
                        dst.copy_from_slice(&sums);
                    }
                    dir_at = p.checked_add(sums.len());
                }
                xxh64(&sums, 0)
            };
            if let Some(dst) = b.get_mut(at + 16..at + 24) {
                dst.copy_from_slice(&h.to_le_bytes());
            }
        }
        if let Some(body) = b.get(d..d + OFF_CHECKSUM) {
            let h = xxh64(body, 0);
            if let Some(dst) = b.get_mut(d + OFF_CHECKSUM..d + OFF_CHECKSUM + 8) {
                dst.copy_from_slice(&h.to_le_bytes());
            }
        }
    }
}

/// Recomputes the XXH32 of every block of the data frame (walking from the
/// frame header) so that corrupted block contents reach the LZ4 decoder.
pub fn reseal_blocks(b: &mut [u8]) {
    let mut pos = DESCRIPTOR_FRAME_LEN + FRAME_HEADER_LEN;
    for _ in 0..10_000 {
        let Some(size) = read_u32(b, pos) else { return };
        let c = (size & !STORED_FLAG) as usize;
        if c == 0 || c > MAX_BLOCK {
            return;
        }
        let Some(data) = b.get(pos + 4..pos + 4 + c) else {
            return;
        };
        let h = xxhash_rust::xxh32::xxh32(data, 0);
        match b.get_mut(pos + 4 + c..pos + 8 + c) {
            Some(dst) => dst.copy_from_slice(&h.to_le_bytes()),
            None => return,
        }
        pos += 8 + c;
    }
}
