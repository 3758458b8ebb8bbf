//! The on-disk hash table: open addressing with linear probing over a
//! power-of-two number of 16-byte slots `{u64 hash, u32 start, u32 len}`,
//! followed by the bucket array of u32 record ids. A slot with `len == 0` is
//! empty. Slot `s` owns ids `[start, start + len)` of the bucket array, in
//! recording order. Every record id appears in exactly one bucket.

use crate::error::{DvdError, DvdResult};
use crate::format::{read_u32, read_u64, BUCKET_ID_LEN, SLOT_LEN};
use std::ops::Range;

/// XXH64 (seed 0) of a canonical key.
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(key, 0)
}

/// Capacity for `distinct` different hashes: a power of two, load <= 0.5.
pub fn capacity_for(distinct: usize) -> DvdResult<u32> {
    let want = distinct
        .max(1)
        .checked_mul(2)
        .and_then(usize::checked_next_power_of_two);
    want.and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| DvdError::limit("too many distinct keys for the hash table"))
}

/// A table built in memory by the writer.
pub struct BuiltTable {
    /// Number of slots.
    pub capacity: u32,
    /// `(hash, start, len)` per slot.
    pub slots: Vec<(u64, u32, u32)>,
    /// Bucket array of record ids.
    pub ids: Vec<u32>,
}

impl BuiltTable {
    /// Builds the table for `hashes[id]` = key hash of record `id`.
    // Writer side: every index is masked by the capacity or computed from our
    // own counts, never read from a file.
    #[allow(clippy::indexing_slicing)]
    pub fn build(hashes: &[u64]) -> DvdResult<Self> {
        let mut sorted = hashes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let capacity = capacity_for(sorted.len())?;
        drop(sorted);
        let mask = capacity as usize - 1;
        let mut slots = vec![(0u64, 0u32, 0u32); capacity as usize];
        let find = |slots: &[(u64, u32, u32)], h: u64| {
            let mut i = (h as usize) & mask;
            loop {
                let (sh, _, sl) = slots[i];
                if sl == 0 || sh == h {
                    return i;
                }
                i = (i + 1) & mask;
            }
        };
        // Pass 1: bucket sizes.
        for &h in hashes {
            let i = find(&slots, h);
            slots[i].0 = h;
            slots[i].2 += 1;
        }
        // Bucket starts in slot order; `len` is reset and re-counted in pass 2.
        let mut next = 0u32;
        let mut starts = Vec::with_capacity(capacity as usize);
        for s in slots.iter_mut() {
            starts.push(next);
            s.1 = next;
            next += s.2;
        }
        let mut fill = vec![0u32; capacity as usize];
        let mut ids = vec![0u32; hashes.len()];
        for (id, &h) in hashes.iter().enumerate() {
            let i = find(&slots, h);
            ids[(starts[i] + fill[i]) as usize] = id as u32;
            fill[i] += 1;
        }
        Ok(BuiltTable {
            capacity,
            slots,
            ids,
        })
    }

    /// Byte length of the encoded table.
    pub fn encoded_len(&self) -> u64 {
        self.capacity as u64 * SLOT_LEN as u64 + self.ids.len() as u64 * BUCKET_ID_LEN as u64
    }

    /// Encodes the table, feeding bytes to `sink` in order.
    pub fn encode(&self, mut sink: impl FnMut(&[u8]) -> DvdResult<()>) -> DvdResult<()> {
        let mut buf = Vec::with_capacity(64 * 1024);
        for &(h, start, len) in &self.slots {
            buf.extend_from_slice(&h.to_le_bytes());
            buf.extend_from_slice(&start.to_le_bytes());
            buf.extend_from_slice(&len.to_le_bytes());
            if buf.len() >= 60 * 1024 {
                sink(&buf)?;
                buf.clear();
            }
        }
        for id in &self.ids {
            buf.extend_from_slice(&id.to_le_bytes());
            if buf.len() >= 60 * 1024 {
                sink(&buf)?;
                buf.clear();
            }
        }
        sink(&buf)
    }
}

/// A validated view of the table inside the mapping.
#[derive(Clone, Copy)]
pub struct TableView<'a> {
    slots: &'a [u8],
    ids: &'a [u8],
    capacity: u32,
    count: u32,
}

impl<'a> TableView<'a> {
    /// Wraps `section` (slots then ids) for `capacity` slots and `count` records.
    pub fn new(section: &'a [u8], capacity: u32, count: u32) -> DvdResult<Self> {
        if capacity == 0 || !capacity.is_power_of_two() {
            return Err(DvdError::corrupt(
                "hash table capacity is not a power of two",
            ));
        }
        let slots_len = (capacity as usize)
            .checked_mul(SLOT_LEN)
            .ok_or_else(|| DvdError::corrupt("hash table too large"))?;
        let ids_len = (count as usize)
            .checked_mul(BUCKET_ID_LEN)
            .ok_or_else(|| DvdError::corrupt("hash table too large"))?;
        if slots_len.checked_add(ids_len) != Some(section.len()) {
            return Err(DvdError::corrupt("hash table section has the wrong length"));
        }
        let (slots, ids) = section.split_at(slots_len);
        Ok(TableView {
            slots,
            ids,
            capacity,
            count,
        })
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    fn slot(&self, i: usize) -> DvdResult<(u64, u32, u32)> {
        let at = i * SLOT_LEN;
        let bad = || DvdError::corrupt("hash slot out of range");
        Ok((
            read_u64(self.slots, at).ok_or_else(bad)?,
            read_u32(self.slots, at + 8).ok_or_else(bad)?,
            read_u32(self.slots, at + 12).ok_or_else(bad)?,
        ))
    }

    /// Probes for `hash`; returns the bucket's ids as raw little-endian bytes
    /// (validated to lie inside the bucket array), or an empty slice.
    pub fn probe(&self, hash: u64) -> DvdResult<&'a [u8]> {
        self.probe_with(hash, &|_| Ok(()))
    }

    /// [`probe`](Self::probe), calling `ensure` with the section-relative
    /// byte range of every slot and of the bucket before reading it (the
    /// reader verifies the checksums of the pieces covering it).
    pub fn probe_with(
        &self,
        hash: u64,
        ensure: &dyn Fn(Range<usize>) -> DvdResult<()>,
    ) -> DvdResult<&'a [u8]> {
        let mask = self.capacity as usize - 1;
        let mut i = (hash as usize) & mask;
        for _ in 0..self.capacity {
            ensure(i * SLOT_LEN..(i + 1) * SLOT_LEN)?;
            let (h, start, len) = self.slot(i)?;
            if len == 0 {
                return Ok(&[]);
            }
            if h == hash {
                let bytes = self.bucket(start, len)?;
                let at = self.slots.len() + start as usize * BUCKET_ID_LEN;
                ensure(at..at + bytes.len())?;
                return Ok(bytes);
            }
            i = (i + 1) & mask;
        }
        Ok(&[])
    }

    /// Byte length of the slots (the bucket ids follow them).
    pub fn slots_len(&self) -> usize {
        self.slots.len()
    }

    fn bucket(&self, start: u32, len: u32) -> DvdResult<&'a [u8]> {
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.count)
            .ok_or_else(|| {
                DvdError::corrupt(format!(
                    "hash bucket [{start}, +{len}) outside the {} record ids",
                    self.count
                ))
            })?;
        self.ids
            .get(start as usize * BUCKET_ID_LEN..end as usize * BUCKET_ID_LEN)
            .ok_or_else(|| DvdError::corrupt("hash bucket outside the bucket array"))
    }

    /// Decodes a bucket into `out`, checking every id is a valid record id.
    pub fn decode_bucket(&self, bytes: &[u8], out: &mut Vec<u32>) -> DvdResult<()> {
        out.clear();
        out.reserve(bytes.len() / BUCKET_ID_LEN);
        self.each_id(bytes, |id| out.push(id))
    }

    fn each_id(&self, bytes: &[u8], mut f: impl FnMut(u32)) -> DvdResult<()> {
        for c in bytes.chunks_exact(BUCKET_ID_LEN) {
            let id = c.try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX);
            if id >= self.count {
                return Err(DvdError::corrupt(format!(
                    "hash bucket holds invalid record id {id}"
                )));
            }
            f(id);
        }
        Ok(())
    }

    /// Full consistency check (for `verify`): buckets partition the ids,
    /// every id appears once, ascending inside a bucket, every occupied slot is
    /// reachable by probing its hash. Returns the number of occupied slots.
    ///
    /// Linear in the table size: probing every slot separately would be
    /// O(capacity^2) on a full table with long probe chains (a hostile file
    /// could make `verify()` run for hours).
    pub fn check_all(&self) -> DvdResult<u32> {
        let cap = self.capacity as usize;
        let mask = cap - 1;
        // Hashes of occupied slots must be distinct: probing stops at the
        // first slot holding a hash, so a second one would be unreachable.
        let mut hashes = Vec::new();
        let mut first_empty = None;
        for i in 0..cap {
            let (h, _, len) = self.slot(i)?;
            if len == 0 {
                first_empty.get_or_insert(i);
            } else {
                hashes.push(h);
            }
        }
        hashes.sort_unstable();
        if hashes.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(DvdError::corrupt("hash slot not reachable by probing"));
        }
        drop(hashes);
        // A slot `i` holding hash `h` is reachable iff every slot from `h`'s
        // home slot up to `i` is occupied (a full table is probed entirely).
        // Walk the table once starting after an empty slot, counting the run
        // of occupied slots that ends at each slot.
        let start = first_empty.map_or(0, |e| e + 1);
        let mut run = 0usize;
        let mut seen = vec![false; self.count as usize];
        let mut total: u64 = 0;
        let mut occupied = 0u32;
        let mut ids = Vec::new();
        for k in 0..cap {
            let i = (start + k) & mask;
            let (h, start_id, len) = self.slot(i)?;
            if len == 0 {
                run = 0;
                continue;
            }
            run += 1;
            occupied += 1;
            let dist = i.wrapping_sub(h as usize) & mask;
            if first_empty.is_some() && dist >= run {
                return Err(DvdError::corrupt("hash slot not reachable by probing"));
            }
            let bytes = self.bucket(start_id, len)?;
            self.decode_bucket(bytes, &mut ids)?;
            let mut prev: Option<u32> = None;
            for &id in &ids {
                if prev.is_some_and(|p| p >= id) {
                    return Err(DvdError::corrupt("hash bucket not in recording order"));
                }
                prev = Some(id);
                match seen.get_mut(id as usize) {
                    Some(s) if !*s => *s = true,
                    _ => return Err(DvdError::corrupt("record id in more than one hash bucket")),
                }
            }
            total += u64::from(len);
        }
        if total != u64::from(self.count) {
            return Err(DvdError::corrupt("hash buckets do not cover every record"));
        }
        Ok(occupied)
    }

    /// Number of occupied slots.
    pub fn occupied(&self) -> u32 {
        (0..self.capacity as usize)
            .filter(|&i| self.slot(i).map(|s| s.2 != 0).unwrap_or(false))
            .count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn encode(t: &BuiltTable) -> Vec<u8> {
        let mut v = Vec::new();
        t.encode(|b| {
            v.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(v.len() as u64, t.encoded_len());
        v
    }

    #[test]
    fn known_xxh64() {
        // Reference values of XXH64 with seed 0.
        assert_eq!(key_hash(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(key_hash(b"a"), 0xD24E_C4F1_A98C_6E5B);
    }

    #[test]
    fn build_and_probe() {
        let keys: Vec<&[u8]> = vec![b"a", b"b", b"a", b"c", b"a", b"b"];
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        let t = BuiltTable::build(&hashes).unwrap();
        assert_eq!(t.capacity, 8);
        let bytes = encode(&t);
        let v = TableView::new(&bytes, t.capacity, 6).unwrap();
        let mut out = Vec::new();
        v.decode_bucket(v.probe(key_hash(b"a")).unwrap(), &mut out)
            .unwrap();
        assert_eq!(out, vec![0, 2, 4]);
        v.decode_bucket(v.probe(key_hash(b"b")).unwrap(), &mut out)
            .unwrap();
        assert_eq!(out, vec![1, 5]);
        assert!(v.probe(key_hash(b"zz")).unwrap().is_empty());
        assert_eq!(v.check_all().unwrap(), 3);
        assert_eq!(v.occupied(), 3);
    }

    #[test]
    fn colliding_slots_probe_linearly() {
        // Same low bits, different hashes: all land on slot 0 and probe on.
        let hashes = vec![8u64, 16, 8, 24, 0];
        let t = BuiltTable::build(&hashes).unwrap();
        let bytes = encode(&t);
        let v = TableView::new(&bytes, t.capacity, 5).unwrap();
        let mut out = Vec::new();
        for (h, want) in [
            (8u64, vec![0, 2]),
            (16, vec![1]),
            (24, vec![3]),
            (0, vec![4]),
        ] {
            v.decode_bucket(v.probe(h).unwrap(), &mut out).unwrap();
            assert_eq!(out, want);
        }
        v.check_all().unwrap();
    }

    #[test]
    fn empty_table() {
        let t = BuiltTable::build(&[]).unwrap();
        let bytes = encode(&t);
        let v = TableView::new(&bytes, t.capacity, 0).unwrap();
        assert!(v.probe(0).unwrap().is_empty());
        assert_eq!(v.check_all().unwrap(), 0);
    }

    #[test]
    fn hostile_tables() {
        let t = BuiltTable::build(&[1, 2, 3]).unwrap();
        let mut bytes = encode(&t);
        assert!(TableView::new(&bytes, 3, 3).is_err());
        assert!(TableView::new(&bytes, t.capacity * 2, 3).is_err());
        // Bucket length 2^32-1 in slot of hash 1.
        let slot = 1usize;
        bytes[slot * 16 + 12..slot * 16 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let v = TableView::new(&bytes, t.capacity, 3).unwrap();
        assert!(v.probe(1).is_err());
        assert!(v.check_all().is_err());
        // Full table where nothing matches: probing terminates.
        let mut full = Vec::new();
        for i in 0..8u64 {
            full.extend_from_slice(&(100 + i).to_le_bytes());
            full.extend_from_slice(&0u32.to_le_bytes());
            full.extend_from_slice(&1u32.to_le_bytes());
        }
        full.extend_from_slice(&0u32.to_le_bytes());
        let v = TableView::new(&full, 8, 1).unwrap();
        assert!(v.probe(5).unwrap().is_empty());
        // Bad id inside a bucket.
        let mut out = Vec::new();
        assert!(v.decode_bucket(&7u32.to_le_bytes(), &mut out).is_err());
    }

    /// Encodes slots `(hash, start, len)` then ids `0..count`.
    fn raw_table(slots: &[(u64, u32, u32)], count: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for &(h, s, l) in slots {
            v.extend_from_slice(&h.to_le_bytes());
            v.extend_from_slice(&s.to_le_bytes());
            v.extend_from_slice(&l.to_le_bytes());
        }
        for id in 0..count {
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    #[test]
    fn full_table_with_long_probe_chains_is_checked_in_linear_time() {
        // Every slot occupied, every hash's home is the *next* slot, so probing
        // for any of them walks the whole table: a per-slot probe in
        // `check_all` was O(capacity^2) (4 * 10^9 slot reads here).
        let cap = 1u32 << 16;
        let mask = u64::from(cap - 1);
        let slots: Vec<(u64, u32, u32)> = (0..cap)
            .map(|i| (((u64::from(i) + 1) & mask) | (u64::from(i) << 32), i, 1))
            .collect();
        let bytes = raw_table(&slots, cap);
        let v = TableView::new(&bytes, cap, cap).unwrap();
        let t = std::time::Instant::now();
        assert_eq!(v.check_all().unwrap(), cap);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "check_all took {:?}",
            t.elapsed()
        );
        // Each slot is still found by probing.
        let mut out = Vec::new();
        v.decode_bucket(v.probe(slots[77].0).unwrap(), &mut out)
            .unwrap();
        assert_eq!(out, vec![77]);
    }

    #[test]
    fn unreachable_and_duplicate_slots_are_refused() {
        // Slot 2 holds hash 1 (home 1) but slot 1 is empty: unreachable.
        let bytes = raw_table(&[(0, 0, 1), (0, 0, 0), (1, 1, 1), (0, 0, 0)], 2);
        let v = TableView::new(&bytes, 4, 2).unwrap();
        assert_eq!(v.check_all().unwrap_err().code, ErrorCode::Corrupt);
        // Same hash in two slots: the second one is shadowed.
        let bytes = raw_table(&[(4, 0, 1), (4, 1, 1), (0, 0, 0), (0, 0, 0)], 2);
        let v = TableView::new(&bytes, 4, 2).unwrap();
        assert_eq!(v.check_all().unwrap_err().code, ErrorCode::Corrupt);
        // Wrapping chain: hash 3 (home 3) in slot 3, hash 7 (home 3) in slot 0.
        let bytes = raw_table(&[(7, 0, 1), (0, 0, 0), (0, 0, 0), (3, 1, 1)], 2);
        let v = TableView::new(&bytes, 4, 2).unwrap();
        assert_eq!(v.check_all().unwrap(), 2);
        // Same, but the chain is broken by an empty slot 3.
        let bytes = raw_table(&[(7, 0, 1), (0, 0, 0), (3, 1, 1), (0, 0, 0)], 2);
        let v = TableView::new(&bytes, 4, 2).unwrap();
        assert_eq!(v.check_all().unwrap_err().code, ErrorCode::Corrupt);
    }
}
