//! The lookup behind replay: the candidates of a request's key (the ids of
//! its hash bucket, in recording order), the one to answer with chosen on
//! their play counts alone, and only that one decompressed and laid out.
//!
//! The caller (the TypeScript DVD) owns the play counts and hands them over
//! as an array indexed by record id. The candidate chosen is the first one at
//! or after position `from` that was never played, or, when every one of them
//! was, the last. A key with many recordings (a polling URL, GraphQL POSTs
//! whose bodies are not matched) is replayed in order, so the first unplayed
//! position only moves forward: it is remembered per key hash and a lookup
//! costs the same for the thousandth recording of a key as for the first.
//!
//! Every result is written into one `u32` array whose slots are the constants
//! below (exported to TypeScript through `lib.rs`).

use crate::error::DvdResult;
use crate::reader::Reader;
use crate::record_layout::{method_and_url, record_layout, FIXED_SLOTS};
use crate::request_key::{url_matchers, write_simple_key, UrlMatcher};
use std::collections::HashMap;

/// Slot: what happened ([`FOUND`], [`NONE`], [`NOT_SIMPLE`], [`NO_ROOM`]).
pub const SLOT_STATUS: usize = 0;
/// Slot: number of candidates of the key (hash collisions included).
pub const SLOT_COUNT: usize = 1;
/// Slot: position of the chosen candidate among them.
pub const SLOT_POSITION: usize = 2;
/// Slot: its record id.
pub const SLOT_ID: usize = 3;
/// Slot: its record's length in bytes (written, or needed when [`NO_ROOM`]).
pub const SLOT_LENGTH: usize = 4;
/// Slot: 1 when the record was recorded with exactly the method and URL of
/// the request given by its parts (so its key is the request's), else 0.
pub const SLOT_SAME_REQUEST: usize = 5;
/// First slot of the record's layout (`record_layout.rs`); its flags slot
/// holds [`NO_LAYOUT`] when the record does not have the common shape.
pub const SLOT_LAYOUT: usize = 8;
/// Header pairs a layout has room for (request and response together).
pub const MAX_PAIRS: usize = 64;
/// Length of the result array.
pub const RESULT_LEN: usize = SLOT_LAYOUT + FIXED_SLOTS + 4 * MAX_PAIRS;

/// Status: a candidate was chosen, its record is in the room.
pub const FOUND: u32 = 0;
/// Status: no candidate at or after `from`.
pub const NONE: u32 = 1;
/// Status: the request given by its parts is not of the simple form: look it
/// up again by its key.
pub const NOT_SIMPLE: u32 = 2;
/// Status: a candidate was chosen but its record does not fit in the room;
/// nothing was written there (read it with [`read`] into a larger one).
pub const NO_ROOM: u32 = 3;
/// The layout's flags slot when the record has no layout.
pub const NO_LAYOUT: u32 = 0xffff_ffff;

/// How a request is looked up.
pub enum Query<'a> {
    /// By its index key, computed by the caller.
    Key(&'a [u8]),
    /// By its dispatch parts (method as sent, origin, path), keyed here when
    /// the request has the simple form.
    Parts {
        method: &'a str,
        origin: &'a str,
        path: &'a str,
    },
}

/// What [`find`] keeps between lookups of one reader.
#[derive(Default)]
pub struct FindState {
    /// The matchers of the file's index, when they read only the method and URL.
    matchers: Option<Vec<UrlMatcher>>,
    /// Where a request's key is written.
    key: String,
    /// Per key hash with more than one candidate: every candidate before this
    /// position was already played at the last lookup (play counts only grow).
    first_unplayed: HashMap<u64, u32>,
}

impl FindState {
    /// The state for a file indexed for `match_on`.
    pub fn new(match_on: &str) -> Self {
        FindState {
            matchers: url_matchers(match_on),
            ..FindState::default()
        }
    }
}

fn put(result: &mut [u32], slot: usize, value: u32) {
    if let Some(s) = result.get_mut(slot) {
        *s = value;
    }
}

fn played(plays: &[u32], id: u32) -> bool {
    plays.get(id as usize).is_some_and(|&n| n > 0)
}

/// Whether a record's request had method `method` (upper-cased, as the
/// TypeScript side records it) and the URL `origin` + `path`.
fn recorded_as(record: &[u8], layout: &[u32], method: &str, origin: &str, path: &str) -> bool {
    let Some((m, url)) = method_and_url(record, layout) else {
        return false;
    };
    m.len() == method.len()
        && m.iter()
            .zip(method.bytes())
            .all(|(&a, b)| a == b.to_ascii_uppercase())
        && url.len() == origin.len() + path.len()
        && url.starts_with(origin.as_bytes())
        && url.ends_with(path.as_bytes())
}

/// Chooses the candidate of `query` to answer with (see the module docs),
/// among those at or after position `from`, and decompresses its record into
/// the start of `room`, laying it out into the result. `plays` holds the
/// play count of each record id (ids past its end: never played); `None`
/// chooses the candidate at `from` whatever its plays.
pub fn find(
    reader: &Reader,
    state: &mut FindState,
    query: &Query,
    from: u32,
    plays: Option<&[u32]>,
    room: &mut [u8],
    result: &mut [u32],
) -> DvdResult<()> {
    put(result, SLOT_SAME_REQUEST, 0);
    let key: &[u8] = match query {
        Query::Key(key) => key,
        Query::Parts {
            method,
            origin,
            path,
        } => {
            let FindState { matchers, key, .. } = state;
            let simple = matchers
                .as_deref()
                .and_then(|m| write_simple_key(key, method, origin, path, m));
            if simple.is_none() {
                put(result, SLOT_STATUS, NOT_SIMPLE);
                return Ok(());
            }
            state.key.as_bytes()
        }
    };
    let (hash, candidates) = reader.candidates(key)?;
    let count = candidates.len();
    put(result, SLOT_COUNT, count);
    if from >= count {
        put(result, SLOT_STATUS, NONE);
        return Ok(());
    }
    let position = match plays {
        None => from,
        Some(plays) => {
            let remembered = if from == 0 && count > 1 {
                state.first_unplayed.get(&hash).copied().unwrap_or(0)
            } else {
                from
            };
            let mut at = remembered.max(from);
            while at < count && played(plays, candidates.id(at)?) {
                at += 1;
            }
            if from == 0 && at > remembered && count > 1 {
                state.first_unplayed.insert(hash, at);
            }
            at.min(count - 1)
        }
    };
    let id = candidates.id(position)?;
    put(result, SLOT_POSITION, position);
    put(result, SLOT_ID, id);
    if read(reader, id, room, result)? {
        if let Query::Parts {
            method,
            origin,
            path,
        } = query
        {
            let (record, layout) = laid_out(room, result);
            if recorded_as(record, layout, method, origin, path) {
                put(result, SLOT_SAME_REQUEST, 1);
            }
        }
    }
    Ok(())
}

/// The record just read into `room` and its layout in `result`.
fn laid_out<'a>(room: &'a [u8], result: &'a [u32]) -> (&'a [u8], &'a [u32]) {
    let len = result.get(SLOT_LENGTH).copied().unwrap_or(0) as usize;
    let has = result.get(SLOT_LAYOUT + 1).is_some_and(|&f| f != NO_LAYOUT);
    (
        room.get(..len).unwrap_or_default(),
        if has {
            result.get(SLOT_LAYOUT..).unwrap_or_default()
        } else {
            &[]
        },
    )
}

/// Decompresses record `id` into the start of `room` and lays it out into
/// `result` ([`FOUND`]), or writes [`NO_ROOM`] and the needed length. Returns
/// whether the record was read.
pub fn read(reader: &Reader, id: u32, room: &mut [u8], result: &mut [u32]) -> DvdResult<bool> {
    put(result, SLOT_ID, id);
    put(result, SLOT_LAYOUT + 1, NO_LAYOUT);
    match reader.read_record(id, room)? {
        Ok(len) => {
            put(result, SLOT_STATUS, FOUND);
            put(result, SLOT_LENGTH, u32::try_from(len).unwrap_or(u32::MAX));
            if let (Some(record), Some(layout)) = (room.get(..len), result.get_mut(SLOT_LAYOUT..)) {
                if record_layout(record, layout).is_none() {
                    put(result, SLOT_LAYOUT + 1, NO_LAYOUT);
                }
            }
            Ok(true)
        }
        Err(len) => {
            put(result, SLOT_STATUS, NO_ROOM);
            put(result, SLOT_LENGTH, u32::try_from(len).unwrap_or(u32::MAX));
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_key::simple_key;
    use crate::test_dir::TestDir;
    use crate::writer::Writer;

    const MATCH_ON: &str = "method,scheme,host,port,path,query";

    fn s(out: &mut Vec<u8>, text: &str) {
        out.push(0xd9);
        out.push(u8::try_from(text.len()).unwrap());
        out.extend_from_slice(text.as_bytes());
    }

    /// `{request: {method, url, headers: []}, response: {status, headers: [], body}}`.
    fn record(method: &str, url: &str, body: &[u8]) -> Vec<u8> {
        let mut r = vec![0x82];
        s(&mut r, "request");
        r.push(0x83);
        s(&mut r, "method");
        s(&mut r, method);
        s(&mut r, "url");
        s(&mut r, url);
        s(&mut r, "headers");
        r.push(0x90);
        s(&mut r, "response");
        r.push(0x83);
        s(&mut r, "status");
        r.push(0x7f);
        s(&mut r, "headers");
        r.push(0x90);
        s(&mut r, "body");
        r.push(0xc4);
        r.push(u8::try_from(body.len()).unwrap());
        r.extend_from_slice(body);
        r
    }

    /// A DVD of `(method, origin, path, stored URL)` recordings, keyed from the first three as
    /// TypeScript keys them.
    fn dvd(dir: &TestDir, recordings: &[(&str, &str, &str, &str)]) -> Reader {
        let file = dir.join("x.dvd.lz4");
        let matchers = url_matchers(MATCH_ON).unwrap();
        let mut w = Writer::create(&file, MATCH_ON).unwrap();
        for (i, (method, origin, path, stored_url)) in recordings.iter().enumerate() {
            let key = simple_key(method, origin, path, &matchers).unwrap();
            w.add(
                &record(method, stored_url, format!("#{i}").as_bytes()),
                key.as_bytes(),
                b"\x80",
            )
            .unwrap();
        }
        w.finish().unwrap();
        Reader::open(&file).unwrap()
    }

    struct Finder {
        reader: Reader,
        state: FindState,
        room: Vec<u8>,
        result: Vec<u32>,
    }

    impl Finder {
        fn new(reader: Reader) -> Self {
            Finder {
                reader,
                state: FindState::new(MATCH_ON),
                room: vec![0; 4096],
                result: vec![0; RESULT_LEN],
            }
        }

        /// `(status, position, id, same request)` of a lookup by parts.
        fn find(
            &mut self,
            parts: (&str, &str, &str),
            from: u32,
            plays: Option<&[u32]>,
        ) -> (u32, u32, u32, u32) {
            let (method, origin, path) = parts;
            let query = Query::Parts {
                method,
                origin,
                path,
            };
            find(
                &self.reader,
                &mut self.state,
                &query,
                from,
                plays,
                &mut self.room,
                &mut self.result,
            )
            .unwrap();
            let r = &self.result;
            (
                r[SLOT_STATUS],
                r[SLOT_POSITION],
                r[SLOT_ID],
                r[SLOT_SAME_REQUEST],
            )
        }
    }

    const X: (&str, &str, &str) = ("GET", "https://a.test", "/x");

    #[test]
    fn chooses_the_first_unplayed_candidate_else_the_last() {
        let dir = TestDir::new("find-plays");
        let url = "https://a.test/x";
        let mut f = Finder::new(dvd(
            &dir,
            &[
                ("GET", "https://a.test", "/x", url),
                ("POST", "https://a.test", "/x", url),
                ("GET", "https://a.test", "/x", url),
                ("GET", "https://a.test", "/x", url),
            ],
        ));
        let mut plays = vec![0u32; 4];
        for id in [0, 2, 3] {
            assert_eq!(
                f.find(X, 0, Some(&plays)),
                (
                    FOUND,
                    [0, 2, 3].iter().position(|&i| i == id).unwrap() as u32,
                    id,
                    1
                )
            );
            plays[id as usize] = 1;
        }
        // All played: the last.
        assert_eq!(f.find(X, 0, Some(&plays)), (FOUND, 2, 3, 1));
        // From a position on, and without plays: the one at that position.
        assert_eq!(f.find(X, 1, None).2, 2);
        assert_eq!(f.find(X, 3, None).0, NONE);
        // A shorter plays array counts the ids past its end as never played (with a fresh state:
        // what is remembered holds only while play counts grow).
        f.state = FindState::new(MATCH_ON);
        assert_eq!(f.find(X, 0, Some(&[1])).2, 2);
        assert_eq!(f.result[SLOT_COUNT], 3);
        let len = f.result[SLOT_LENGTH] as usize;
        assert_eq!(f.room[..len], record("GET", url, b"#2")[..]);
    }

    #[test]
    fn a_key_replayed_in_order_is_not_scanned_again_from_its_start() {
        let dir = TestDir::new("find-order");
        let url = "https://a.test/x";
        let many: Vec<_> = (0..50)
            .map(|_| ("GET", "https://a.test", "/x", url))
            .collect();
        let mut f = Finder::new(dvd(&dir, &many));
        let mut plays = vec![0u32; 50];
        for id in 0..50u32 {
            assert_eq!(f.find(X, 0, Some(&plays)).2, id);
            plays[id as usize] = 1;
        }
        let hash = crate::index_table::key_hash(f.state.key.as_bytes());
        assert_eq!(f.state.first_unplayed.get(&hash), Some(&49));
    }

    #[test]
    fn parts_outside_the_simple_form_ask_for_the_key_and_another_spelling_is_not_the_same_request()
    {
        let dir = TestDir::new("find-parts");
        let mut f = Finder::new(dvd(
            &dir,
            &[
                (
                    "GET",
                    "https://a.test",
                    "/x?b=1&a=2",
                    "https://a.test/x?b=1&a=2",
                ),
                ("GET", "https://a.test", "/y", "https://a.test:443/y"),
            ],
        ));
        assert_eq!(
            f.find(("GET", "https://A.test", "/x"), 0, None).0,
            NOT_SIMPLE
        );
        // Same key (query order is ignored), another URL than recorded.
        assert_eq!(
            f.find(("GET", "https://a.test", "/x?a=2&b=1"), 0, None),
            (FOUND, 0, 0, 0)
        );
        assert_eq!(
            f.find(("get", "https://a.test", "/x?b=1&a=2"), 0, None),
            (FOUND, 0, 0, 1)
        );
        assert_eq!(
            f.find(("GET", "https://a.test", "/y"), 0, None),
            (FOUND, 0, 1, 0)
        );
        assert_eq!(f.find(("GET", "https://a.test", "/z"), 0, None).0, NONE);
    }

    #[test]
    fn a_record_larger_than_the_room_asks_for_its_length() {
        let dir = TestDir::new("find-room");
        let mut f = Finder::new(dvd(
            &dir,
            &[("GET", "https://a.test", "/x", "https://a.test/x")],
        ));
        let len = f.reader.record_len(0).unwrap();
        f.room = vec![0; len - 1];
        assert_eq!(f.find(X, 0, None).0, NO_ROOM);
        assert_eq!(f.result[SLOT_LENGTH] as usize, len);
        f.room = vec![0; len];
        assert_eq!(f.find(X, 0, None).0, FOUND);
    }
}
