//! Where the parts of a plain replayable record lie in its MessagePack bytes,
//! so the replay hot path can build the recording from a few string slices
//! instead of decoding every value generically.
//!
//! Only the common shape is described: a map with `request` and `response`,
//! each with the fields the TypeScript model gives them, strings valid UTF-8
//! without a leading byte-order mark.
//! Anything else (a recorded error, a streamed body's `chunks`, an unknown or
//! repeated key, a value of another type, more headers than fit) answers
//! `None`, and the caller decodes the record the general way; so a layout
//! never changes what a record means, it only saves work.
//!
//! The layout is an array of `u32`, offsets relative to the record's first
//! byte, read by `lib/formats/record_layout.ts` (the slot numbers below are
//! repeated there):
//!
//! | slot | meaning |
//! |---|---|
//! | 0 | response status |
//! | 1 | flags ([`ALL_ASCII`], [`BODY_DECODED`], [`HAS_REASON`], [`HAS_REQUEST_BODY`], [`HAS_RESPONSE_BODY`]) |
//! | 2, 3 | request method (start, end) |
//! | 4, 5 | request URL |
//! | 6, 7 | request body (when [`HAS_REQUEST_BODY`]) |
//! | 8, 9 | response reason (when [`HAS_REASON`]) |
//! | 10, 11 | response body (when [`HAS_RESPONSE_BODY`]) |
//! | 12 | number of request headers |
//! | 13 | number of response headers |
//! | 14… | request header pairs, then response header pairs: name start, name end, value start, value end |

/// Every string of the record is ASCII (decoding as latin1 gives the same text).
pub const ALL_ASCII: u32 = 1;
/// The response has `body_decoded: true`.
pub const BODY_DECODED: u32 = 2;
/// The response has a `reason` string.
pub const HAS_REASON: u32 = 4;
/// The request has a body (possibly empty); otherwise it has none.
pub const HAS_REQUEST_BODY: u32 = 8;
/// The response body is binary (possibly empty); otherwise it is null.
pub const HAS_RESPONSE_BODY: u32 = 16;
/// Slots before the header pairs.
pub const FIXED_SLOTS: usize = 14;

/// A MessagePack cursor that answers `None` for anything out of bounds or
/// unexpected.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    ascii: bool,
}

type Span = (u32, u32);

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn be(&mut self, n: usize) -> Option<u32> {
        let end = self.pos.checked_add(n)?;
        let v = self
            .bytes
            .get(self.pos..end)?
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        self.pos = end;
        Some(v)
    }

    fn span(&mut self, len: u32) -> Option<Span> {
        let start = self.pos;
        let end = start.checked_add(len as usize)?;
        if end > self.bytes.len() {
            return None;
        }
        self.pos = end;
        Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
    }

    /// Length of a container whose short form is `fix | n` (n < 16) and
    /// whose 16- and 32-bit forms are the tokens `t16` and `t32`.
    fn container(&mut self, fix: u8, t16: u8, t32: u8) -> Option<u32> {
        match self.byte()? {
            t if t & 0xf0 == fix => Some(u32::from(t & 0x0f)),
            t if t == t16 => self.be(2),
            t if t == t32 => self.be(4),
            _ => None,
        }
    }

    /// Length of a map at the cursor.
    fn map(&mut self) -> Option<u32> {
        self.container(0x80, 0xde, 0xdf)
    }

    /// Length of an array at the cursor.
    fn array(&mut self) -> Option<u32> {
        self.container(0x90, 0xdc, 0xdd)
    }

    /// A string at the cursor, checked to be valid UTF-8.
    fn str(&mut self) -> Option<Span> {
        let len = match self.byte()? {
            t @ 0xa0..=0xbf => u32::from(t & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        let span = self.span(len)?;
        let text = self.bytes.get(span.0 as usize..span.1 as usize)?;
        if !text.is_ascii() {
            // A leading byte-order mark is dropped by some MessagePack decoders (msgpackr's
            // TextDecoder path) and kept by others: leave such records to the general decoder.
            if text.starts_with(b"\xef\xbb\xbf") {
                return None;
            }
            std::str::from_utf8(text).ok()?;
            self.ascii = false;
        }
        Some(span)
    }

    /// A map key (a string), as its bytes.
    fn key(&mut self) -> Option<&'a [u8]> {
        let (a, b) = self.str()?;
        self.bytes.get(a as usize..b as usize)
    }

    /// Binary (`Some(span)`) or nil (`None` inside).
    fn bin_or_nil(&mut self) -> Option<Option<Span>> {
        let len = match self.byte()? {
            0xc0 => return Some(None),
            0xc4 => self.be(1)?,
            0xc5 => self.be(2)?,
            0xc6 => self.be(4)?,
            _ => return None,
        };
        Some(Some(self.span(len)?))
    }

    /// A non-negative integer that fits in 32 bits.
    fn uint(&mut self) -> Option<u32> {
        match self.byte()? {
            t @ 0x00..=0x7f => Some(u32::from(t)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            _ => None,
        }
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// A list of `[name, value]` string pairs, appended to `pairs`.
    fn headers(&mut self, pairs: &mut Vec<u32>) -> Option<u32> {
        let n = self.array()?;
        for _ in 0..n {
            if self.array()? != 2 {
                return None;
            }
            let (na, nb) = self.str()?;
            let (va, vb) = self.str()?;
            pairs.extend_from_slice(&[na, nb, va, vb]);
        }
        Some(n)
    }
}

/// Slots of the fixed part (see the module docs).
const STATUS: usize = 0;
const FLAGS: usize = 1;
const METHOD: usize = 2;
const URL: usize = 4;
const REQUEST_BODY: usize = 6;
const REASON: usize = 8;
const RESPONSE_BODY: usize = 10;
const REQUEST_HEADERS: usize = 12;
const RESPONSE_HEADERS: usize = 13;

/// Walks the map at the cursor. `field` reads the value of one key and
/// returns the key's bit, or `None` for a key or value not of the common
/// shape; a repeated key, or a missing one of the `required` bits, answers
/// `None` too.
fn each_field<'a>(
    c: &mut Cursor<'a>,
    required: u32,
    mut field: impl FnMut(&mut Cursor<'a>, &'a [u8]) -> Option<u32>,
) -> Option<()> {
    let mut seen = 0u32;
    for _ in 0..c.map()? {
        let key = c.key()?;
        let bit = field(c, key)?;
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
    }
    (seen & required == required).then_some(())
}

/// Puts the span of a string or binary value into slots `at` and `at + 1`.
fn put(fixed: &mut [u32; FIXED_SLOTS], at: usize, (a, b): Span) {
    if let Some(slots) = fixed.get_mut(at..at + 2) {
        slots.copy_from_slice(&[a, b]);
    }
}

/// The layout of `record` written into `out` (see the module docs), or `None`
/// when the record is not of the common shape or `out` is too short.
pub fn record_layout(record: &[u8], out: &mut [u32]) -> Option<()> {
    let mut c = Cursor {
        bytes: record,
        pos: 0,
        ascii: true,
    };
    let mut fixed = [0u32; FIXED_SLOTS];
    let mut req_headers = Vec::new();
    let mut resp_headers = Vec::new();
    let mut flags = 0u32;
    each_field(&mut c, 3, |c, key| match key {
        b"request" => {
            each_field(c, 7, |c, key| match key {
                b"method" => {
                    put(&mut fixed, METHOD, c.str()?);
                    Some(1)
                }
                b"url" => {
                    put(&mut fixed, URL, c.str()?);
                    Some(2)
                }
                b"headers" => {
                    fixed[REQUEST_HEADERS] = c.headers(&mut req_headers)?;
                    Some(4)
                }
                b"body" => {
                    if let Some(span) = c.bin_or_nil()? {
                        put(&mut fixed, REQUEST_BODY, span);
                        flags |= HAS_REQUEST_BODY;
                    }
                    Some(8)
                }
                _ => None,
            })?;
            Some(1)
        }
        b"response" => {
            each_field(c, 3, |c, key| match key {
                b"status" => {
                    fixed[STATUS] = c.uint()?;
                    Some(1)
                }
                b"headers" => {
                    fixed[RESPONSE_HEADERS] = c.headers(&mut resp_headers)?;
                    Some(2)
                }
                b"body" => {
                    if let Some(span) = c.bin_or_nil()? {
                        put(&mut fixed, RESPONSE_BODY, span);
                        flags |= HAS_RESPONSE_BODY;
                    }
                    Some(4)
                }
                b"reason" => {
                    put(&mut fixed, REASON, c.str()?);
                    flags |= HAS_REASON;
                    Some(8)
                }
                b"body_decoded" => {
                    if c.bool()? {
                        flags |= BODY_DECODED;
                    }
                    Some(16)
                }
                _ => None,
            })?;
            Some(2)
        }
        _ => None,
    })?;
    if c.pos != record.len() {
        return None;
    }
    if c.ascii {
        flags |= ALL_ASCII;
    }
    fixed[FLAGS] = flags;
    let total = FIXED_SLOTS + req_headers.len() + resp_headers.len();
    let out = out.get_mut(..total)?;
    let (head, pairs) = out.split_at_mut(FIXED_SLOTS);
    head.copy_from_slice(&fixed);
    let (req, resp) = pairs.split_at_mut(req_headers.len());
    req.copy_from_slice(&req_headers);
    resp.copy_from_slice(&resp_headers);
    Some(())
}

/// The request method and URL of a record laid out into `layout` by
/// [`record_layout`], as their bytes in `record`.
pub fn method_and_url<'a>(record: &'a [u8], layout: &[u32]) -> Option<(&'a [u8], &'a [u8])> {
    let span = |at: usize| {
        let (a, b) = (*layout.get(at)? as usize, *layout.get(at + 1)? as usize);
        record.get(a..b)
    };
    Some((span(METHOD)?, span(URL)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, text: &str) {
        assert!(text.len() < 32);
        out.push(0xa0 | text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }

    fn pairs(out: &mut Vec<u8>, list: &[(&str, &str)]) {
        out.push(0x90 | list.len() as u8);
        for (k, v) in list {
            out.push(0x92);
            s(out, k);
            s(out, v);
        }
    }

    /// `{request: {method, url, headers}, response: {status, headers, body}}`.
    fn plain(status: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![0x82];
        s(&mut r, "request");
        r.push(0x83);
        s(&mut r, "method");
        s(&mut r, "GET");
        s(&mut r, "url");
        s(&mut r, "https://a.test/x");
        s(&mut r, "headers");
        pairs(&mut r, &[("accept", "*/*")]);
        s(&mut r, "response");
        r.push(0x83);
        s(&mut r, "status");
        r.extend_from_slice(&[0xcc, status]);
        s(&mut r, "headers");
        pairs(&mut r, &[("content-type", "text/plain"), ("x-a", "1")]);
        s(&mut r, "body");
        r.push(0xc4);
        r.push(body.len() as u8);
        r.extend_from_slice(body);
        r
    }

    fn text(r: &[u8], a: u32, b: u32) -> &str {
        std::str::from_utf8(&r[a as usize..b as usize]).unwrap()
    }

    #[test]
    fn a_plain_record_is_laid_out_slot_by_slot() {
        let r = plain(201, b"hello");
        let mut out = [0u32; 64];
        record_layout(&r, &mut out).unwrap();
        assert_eq!(out[0], 201);
        assert_eq!(out[1], ALL_ASCII | HAS_RESPONSE_BODY);
        assert_eq!(text(&r, out[2], out[3]), "GET");
        assert_eq!(text(&r, out[4], out[5]), "https://a.test/x");
        assert_eq!(text(&r, out[10], out[11]), "hello");
        assert_eq!((out[12], out[13]), (1, 2));
        let p = &out[FIXED_SLOTS..];
        assert_eq!(text(&r, p[0], p[1]), "accept");
        assert_eq!(text(&r, p[2], p[3]), "*/*");
        assert_eq!(text(&r, p[4], p[5]), "content-type");
        assert_eq!(text(&r, p[10], p[11]), "1");
    }

    #[test]
    fn every_truncation_of_a_record_has_no_layout() {
        let r = plain(200, b"body");
        let mut out = [0u32; 64];
        for len in 0..r.len() {
            assert!(record_layout(&r[..len], &mut out).is_none(), "length {len}");
        }
    }

    #[test]
    fn trailing_bytes_mean_no_layout() {
        let mut r = plain(200, b"body");
        r.push(0xc0);
        assert!(record_layout(&r, &mut [0u32; 64]).is_none());
    }

    #[test]
    fn a_layout_that_does_not_fit_is_refused() {
        let r = plain(200, b"");
        assert!(record_layout(&r, &mut [0u32; FIXED_SLOTS + 8]).is_none());
        assert!(record_layout(&r, &mut [0u32; FIXED_SLOTS + 12]).is_some());
    }

    #[test]
    fn recorded_errors_and_unknown_keys_have_no_layout() {
        let mut r = plain(200, b"");
        let at = r.windows(8).position(|w| w == b"response").unwrap();
        r[at..at + 8].copy_from_slice(b"errorxxx");
        assert!(record_layout(&r, &mut [0u32; 64]).is_none());
    }

    #[test]
    fn a_streamed_response_with_chunks_has_no_layout() {
        // Records of streamed bodies are rare and played chunk by chunk: the general decoder
        // reads their `chunks`, so the fast path need not.
        let mut r = plain(200, b"ab");
        let at = r.windows(7).position(|w| w == b"\xa6status").unwrap();
        r[at - 1] = 0x84;
        s(&mut r, "chunks");
        r.extend_from_slice(&[0xc4, 4, 1, 0, 1, 30]);
        assert!(record_layout(&r, &mut [0u32; 64]).is_none());
    }

    #[test]
    fn non_ascii_strings_clear_the_ascii_flag_and_invalid_utf8_has_no_layout() {
        let r = plain(200, b"");
        // The value "1" of header x-a: its one-byte string header, then the byte.
        let at = r.windows(4).position(|w| w == b"x-a\xa1").unwrap() + 3;
        let mut invalid = r.clone();
        invalid[at + 1] = 0xe9;
        assert!(record_layout(&invalid, &mut [0u32; 64]).is_none());
        let mut accented = r.clone();
        accented.splice(at..at + 2, [0xa2, 0xc3, 0xa9]);
        let mut out = [0u32; 64];
        record_layout(&accented, &mut out).unwrap();
        assert_eq!(out[1] & ALL_ASCII, 0);
        assert_eq!(
            text(&accented, out[FIXED_SLOTS + 10], out[FIXED_SLOTS + 11]),
            "é"
        );
    }

    #[test]
    fn a_string_with_a_leading_byte_order_mark_has_no_layout() {
        let r = plain(200, b"");
        let at = r.windows(4).position(|w| w == b"x-a\xa1").unwrap() + 3;
        let mut bom = r.clone();
        bom.splice(at..at + 2, [0xa4, 0xef, 0xbb, 0xbf, b'1']);
        assert!(record_layout(&bom, &mut [0u32; 64]).is_none());
        let mut inner = r.clone();
        inner.splice(at..at + 2, [0xa4, b'1', 0xef, 0xbb, 0xbf]);
        assert!(record_layout(&inner, &mut [0u32; 64]).is_some());
    }

    #[test]
    fn a_repeated_key_has_no_layout() {
        let r = plain(200, b"");
        // Request map of 3 entries → 4, with a second "method" after the first.
        let at = r.windows(7).position(|w| w == b"\xa6method").unwrap();
        let mut m = r.clone();
        m[at - 1] = 0x84;
        m.splice(at..at, *b"\xa6method\xa4POST");
        assert!(record_layout(&m, &mut [0u32; 64]).is_none());
        m[at - 1] = 0x83;
        m.drain(at..at + 12);
        assert!(record_layout(&m, &mut [0u32; 64]).is_some());
    }

    #[test]
    fn mutated_records_never_panic_and_stay_in_bounds() {
        let r = plain(200, b"some body bytes");
        let mut out = [0u32; 64];
        let mut seed = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let mut m = r.clone();
            for _ in 0..1 + (seed % 3) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = seed as usize % m.len();
                m[i] = (seed >> 8) as u8;
            }
            if record_layout(&m, &mut out).is_some() {
                let total = FIXED_SLOTS + 4 * (out[12] + out[13]) as usize;
                for pair in out[2..12]
                    .chunks(2)
                    .chain(out[FIXED_SLOTS..total].chunks(2))
                {
                    assert!(pair[0] <= pair[1] && pair[1] as usize <= m.len());
                }
            }
        }
    }
}
