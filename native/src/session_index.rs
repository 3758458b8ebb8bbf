//! The key index of the records a writer has been given, for looking up
//! records recorded in the same session before the file is finished: each
//! key hash points at its first and last record, and each record at the next
//! one of its hash, so an add costs one hash-map probe however many records
//! there are, and memory is a few bytes per record and per distinct hash.

use std::collections::HashMap;

const NONE: u32 = u32::MAX;

#[derive(Default)]
pub struct SessionIndex {
    /// First and last record of each key hash.
    ends: HashMap<u64, (u32, u32)>,
    /// The next record of the same key hash, by record id (`NONE`: the last).
    next: Vec<u32>,
}

impl SessionIndex {
    /// Indexes record `id` (ids come in order, from 0) under `hash`.
    pub fn add(&mut self, id: u32, hash: u64) {
        self.next.push(NONE);
        match self.ends.get_mut(&hash) {
            Some((_, last)) => {
                if let Some(link) = self.next.get_mut(*last as usize) {
                    *link = id;
                }
                *last = id;
            }
            None => {
                self.ends.insert(hash, (id, id));
            }
        }
    }

    /// Ids of the records indexed under `hash`, in order.
    pub fn lookup(&self, hash: u64) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut at = self.ends.get(&hash).map_or(NONE, |&(first, _)| first);
        while at != NONE {
            ids.push(at);
            at = self.next.get(at as usize).copied().unwrap_or(NONE);
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_a_hash_come_back_in_order_and_others_not_at_all() {
        let mut index = SessionIndex::default();
        for (id, hash) in [7u64, 9, 7, 0, 7].into_iter().enumerate() {
            index.add(id as u32, hash);
        }
        assert_eq!(index.lookup(7), vec![0, 2, 4]);
        assert_eq!(index.lookup(9), vec![1]);
        assert_eq!(index.lookup(0), vec![3]);
        assert!(index.lookup(8).is_empty());
    }
}
