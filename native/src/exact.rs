//! The replay fast path: the recording that answers a request, found from
//! the request's dispatch parts alone (method, origin, path) when its key has
//! the simple form (`request_key.rs`) and the first recording of that key was
//! recorded with exactly the same method and URL. Such a recording is the one
//! the general lookup would pick first: same method and URL give the same key.
//! Every other case answers [`Exact::NotFound`] and the caller takes the
//! general path, so this only ever saves work.

use crate::error::DvdResult;
use crate::reader::Reader;
use crate::record_layout::{method_and_url, record_layout};
use crate::request_key::{write_simple_key, UrlMatcher};

/// What [`find_exact`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Exact {
    /// Record `id`, decompressed at the start of the room and laid out;
    /// `only` when it is the only record of its key hash.
    Found { id: u32, only: bool },
    /// The first candidate's record needs this many bytes, more than the room holds.
    NoRoom(usize),
    /// Nothing to answer from here: not the simple form, no candidate, or the
    /// first candidate was recorded with another spelling or has no layout.
    NotFound,
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

/// Finds the recording for a request given by its dispatch parts, for an
/// index built on `matchers`; decompresses it into `room` and lays it out
/// into `layout` (see [`Exact`]). `key` is a buffer for the request's key.
pub fn find_exact(
    reader: &Reader,
    matchers: &[UrlMatcher],
    (method, origin, path): (&str, &str, &str),
    key: &mut String,
    room: &mut [u8],
    layout: &mut [u32],
) -> DvdResult<Exact> {
    if write_simple_key(key, method, origin, path, matchers).is_none() {
        return Ok(Exact::NotFound);
    }
    let Some((id, only)) = reader.first_of(key.as_bytes())? else {
        return Ok(Exact::NotFound);
    };
    let len = match reader.read_record(id, room)? {
        Ok(len) => len,
        Err(needed) => return Ok(Exact::NoRoom(needed)),
    };
    let record = room.get(..len).unwrap_or_default();
    if record_layout(record, layout).is_none() || !recorded_as(record, layout, method, origin, path)
    {
        return Ok(Exact::NotFound);
    }
    Ok(Exact::Found { id, only })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_key::{simple_key, url_matchers};
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
    /// TypeScript keys them, each recorded with the stored URL and its path as the body.
    fn dvd(dir: &TestDir, recordings: &[(&str, &str, &str, &str)]) -> Reader {
        let file = dir.join("x.dvd.lz4");
        let matchers = url_matchers(MATCH_ON).unwrap();
        let mut w = Writer::create(&file, MATCH_ON).unwrap();
        for (method, origin, path, stored_url) in recordings {
            let key = simple_key(method, origin, path, &matchers).unwrap();
            w.add(
                &record(method, stored_url, path.as_bytes()),
                key.as_bytes(),
                b"\x80",
            )
            .unwrap();
        }
        w.finish().unwrap();
        Reader::open(&file).unwrap()
    }

    fn find(reader: &Reader, request: (&str, &str, &str), room: &mut [u8]) -> Exact {
        let matchers = url_matchers(MATCH_ON).unwrap();
        find_exact(
            reader,
            &matchers,
            request,
            &mut String::new(),
            room,
            &mut [0u32; 64],
        )
        .unwrap()
    }

    #[test]
    fn finds_the_first_recording_of_the_same_method_and_url() {
        let dir = TestDir::new("exact-found");
        let reader = dvd(
            &dir,
            &[
                (
                    "GET",
                    "https://a.test",
                    "/x?b=1&a=2",
                    "https://a.test/x?b=1&a=2",
                ),
                (
                    "GET",
                    "https://a.test",
                    "/x?b=1&a=2",
                    "https://a.test/x?b=1&a=2",
                ),
                (
                    "POST",
                    "https://a.test",
                    "/x?b=1&a=2",
                    "https://a.test/x?b=1&a=2",
                ),
            ],
        );
        let mut room = [0u8; 4096];
        assert!(matches!(
            find(&reader, ("GET", "https://a.test", "/x?b=1&a=2"), &mut room),
            Exact::Found { id: 0, .. }
        ));
        assert!(matches!(
            find(&reader, ("post", "https://a.test", "/x?b=1&a=2"), &mut room),
            Exact::Found { id: 2, .. }
        ));
    }

    #[test]
    fn another_spelling_of_the_same_key_is_left_to_the_general_path() {
        let dir = TestDir::new("exact-spelling");
        let reader = dvd(
            &dir,
            &[(
                "GET",
                "https://a.test",
                "/x?b=1&a=2",
                "https://a.test/x?b=1&a=2",
            )],
        );
        let mut room = [0u8; 4096];
        // Same key (query order is ignored), but not the URL recorded: the general path decides.
        assert_eq!(
            find(&reader, ("GET", "https://a.test", "/x?a=2&b=1"), &mut room),
            Exact::NotFound
        );
    }

    #[test]
    fn a_record_stored_with_another_url_than_its_key_is_not_taken() {
        let dir = TestDir::new("exact-stored");
        let reader = dvd(
            &dir,
            &[("GET", "https://a.test", "/x", "https://a.test:443/x")],
        );
        let mut room = [0u8; 4096];
        assert_eq!(
            find(&reader, ("GET", "https://a.test", "/x"), &mut room),
            Exact::NotFound
        );
    }

    #[test]
    fn unknown_requests_and_requests_outside_the_simple_form_are_not_found() {
        let dir = TestDir::new("exact-missing");
        let reader = dvd(&dir, &[("GET", "https://a.test", "/x", "https://a.test/x")]);
        let mut room = [0u8; 4096];
        assert_eq!(
            find(&reader, ("GET", "https://a.test", "/y"), &mut room),
            Exact::NotFound
        );
        assert_eq!(
            find(&reader, ("GET", "https://A.test", "/x"), &mut room),
            Exact::NotFound
        );
        let headers = url_matchers("method,headers");
        assert_eq!(headers, None);
    }

    #[test]
    fn a_record_larger_than_the_room_asks_for_its_length() {
        let dir = TestDir::new("exact-room");
        let reader = dvd(&dir, &[("GET", "https://a.test", "/x", "https://a.test/x")]);
        let len = reader.record_len(0).unwrap();
        assert!(matches!(
            find(
                &reader,
                ("GET", "https://a.test", "/x"),
                &mut vec![0u8; len]
            ),
            Exact::Found { id: 0, .. }
        ));
        assert_eq!(
            find(
                &reader,
                ("GET", "https://a.test", "/x"),
                &mut vec![0u8; len - 1]
            ),
            Exact::NoRoom(len)
        );
    }
}
