//! The index key of a request in the simple form, computed from the parts an
//! undici dispatch hands over (method, origin, path): byte for byte the text
//! that `keyOf` in `lib/matchers.ts` gives for the same request (its
//! `simpleRequestKey` branch, whose rules this file repeats).
//!
//! The reader's `find` uses it so that a lookup through `fetch` needs no key
//! from JavaScript. Anything outside the simple form answers `None` and the
//! caller computes the key in TypeScript; a found record whose method and URL
//! differ from the request's has its key compared in TypeScript, and a request
//! found nowhere is looked up again by the key TypeScript computes (see
//! `lib/formats/binary.ts`), so a mistake here could only cost a second
//! lookup, never a wrong answer or a missed one.
//!
//! The simple form: an upper- or lower-case ASCII-letter method; an origin
//! `http(s)://host[:port]` with a lower-case host name whose last label starts
//! with a letter (no `xn--` label) or a dotted-decimal IPv4 address, and a
//! port of 1 to 65535 without leading zeros; a path starting with one `/`,
//! of characters that are never percent-encoded, without `.` or `..`
//! segments; a query of such characters with at most
//! [`MAX_QUERY_PARAMS`] parameters.

/// A matcher that reads only the method and the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlMatcher {
    Method,
    Scheme,
    Host,
    Port,
    Path,
    Query,
}

/// The matchers of a comma-separated `match_on` list, or `None` when one of
/// them reads more than the method and the URL (headers, bodies).
pub fn url_matchers(match_on: &str) -> Option<Vec<UrlMatcher>> {
    if match_on.is_empty() {
        return Some(Vec::new());
    }
    match_on
        .split(',')
        .map(|name| match name {
            "method" => Some(UrlMatcher::Method),
            "scheme" => Some(UrlMatcher::Scheme),
            "host" => Some(UrlMatcher::Host),
            "port" => Some(UrlMatcher::Port),
            "path" => Some(UrlMatcher::Path),
            "query" => Some(UrlMatcher::Query),
            _ => None,
        })
        .collect()
}

/// Query parameters the simple form sorts (the TypeScript fast path's limit).
pub const MAX_QUERY_PARAMS: usize = 32;

/// Characters a path may hold in the simple form: letters, digits and
/// `_-.~!$&()*,;=:@/` (none is ever percent-encoded, none needs JSON escaping).
fn path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.~!$&()*,;=:@/".contains(&b)
}

/// Characters a query may hold: those of a path, and `?`.
fn query_char(b: u8) -> bool {
    path_char(b) || b == b'?'
}

/// A host name (labels of `[a-z0-9-]`, the last starting with a letter).
fn host_name(host: &[u8]) -> bool {
    let label_ok = |l: &[u8]| {
        !l.is_empty()
            && l.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let last = host.rsplit(|&b| b == b'.').next().unwrap_or_default();
    host.split(|&b| b == b'.').all(label_ok) && last.first().is_some_and(u8::is_ascii_lowercase)
}

/// The value of a run of ASCII digits (at most 5 of them, as its callers check first).
fn decimal(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
}

/// A dotted-decimal IPv4 address, each number 0 to 255 without leading zeros.
fn ipv4(host: &[u8]) -> bool {
    let octet = |o: &[u8]| match o {
        [d] => d.is_ascii_digit(),
        [b'1'..=b'9', rest @ ..] if rest.len() <= 2 && rest.iter().all(u8::is_ascii_digit) => {
            decimal(o) <= 255
        }
        _ => false,
    };
    let mut count = 0;
    host.split(|&b| b == b'.').all(|o| {
        count += 1;
        octet(o)
    }) && count == 4
}

/// A port of 1 to 65535, written without leading zeros.
fn port(text: &[u8]) -> bool {
    matches!(text.first(), Some(b'1'..=b'9'))
        && text.len() <= 5
        && text.iter().all(u8::is_ascii_digit)
        && decimal(text) <= 65535
}

/// A `.` or `..` segment, which URL parsing would resolve.
fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .skip(1)
        .any(|segment| segment == b"." || segment == b"..")
}

/// Appends the canonical query (name → values, names sorted stably, blank
/// values kept) with its quotes escaped for the key's JSON, as
/// `canonicalQueryFast(search, '\\"')` writes it; `None` past
/// [`MAX_QUERY_PARAMS`] parameters.
fn push_query(key: &mut String, search: &str) -> Option<()> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    for segment in search.strip_prefix('?').unwrap_or(search).split('&') {
        if segment.is_empty() {
            continue;
        }
        if params.len() == MAX_QUERY_PARAMS {
            return None;
        }
        params.push(segment.split_once('=').unwrap_or((segment, "")));
    }
    // Stable, by UTF-16 code units as JavaScript compares strings: for ASCII, by bytes.
    params.sort_by(|a, b| a.0.cmp(b.0));
    const Q: &str = "\\\"";
    key.push('[');
    for (k, (name, value)) in params.iter().enumerate() {
        let same_name = k > 0 && params.get(k - 1).is_some_and(|p| p.0 == *name);
        if same_name {
            key.push(',');
        } else {
            if k > 0 {
                key.push_str("]],");
            }
            key.extend(["[", Q, name, Q, ",["]);
        }
        key.extend([Q, value, Q]);
    }
    key.push_str(if params.is_empty() { "]" } else { "]]]" });
    Some(())
}

/// The index key of a request given by its dispatch parts, for `matchers`;
/// `None` when the request is not of the simple form (see the module docs).
pub fn simple_key(
    method: &str,
    origin: &str,
    path: &str,
    matchers: &[UrlMatcher],
) -> Option<String> {
    let mut key = String::new();
    write_simple_key(&mut key, method, origin, path, matchers).map(|()| key)
}

/// [`simple_key`] written into `key` (cleared first), so that a caller can
/// reuse one buffer for every request.
pub fn write_simple_key(
    key: &mut String,
    method: &str,
    origin: &str,
    path: &str,
    matchers: &[UrlMatcher],
) -> Option<()> {
    key.clear();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let (scheme, authority) = if let Some(rest) = origin.strip_prefix("https://") {
        ("https", rest)
    } else {
        ("http", origin.strip_prefix("http://")?)
    };
    let (host, port_text) = match authority.split_once(':') {
        Some((host, p)) => (host, Some(p)),
        None => (authority, None),
    };
    let simple_host =
        (host_name(host.as_bytes()) && !host.contains("xn--")) || ipv4(host.as_bytes());
    if !simple_host || !port_text.is_none_or(|p| port(p.as_bytes())) {
        return None;
    }
    let port_value = port_text.unwrap_or(if scheme == "https" { "443" } else { "80" });
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    let (pathname, search) = match path.find('?') {
        Some(at) => path.split_at(at),
        None => (path, ""),
    };
    if !pathname.bytes().all(path_char)
        || !search.bytes().all(query_char)
        || has_dot_segment(pathname.as_bytes())
    {
        return None;
    }
    key.push('[');
    for (i, matcher) in matchers.iter().enumerate() {
        key.push_str(if i > 0 { ",\"" } else { "\"" });
        match matcher {
            UrlMatcher::Method => {
                key.extend(method.bytes().map(|b| char::from(b.to_ascii_uppercase())))
            }
            UrlMatcher::Scheme => key.push_str(scheme),
            UrlMatcher::Host => key.push_str(host),
            UrlMatcher::Port => key.push_str(port_value),
            UrlMatcher::Path => key.push_str(pathname),
            UrlMatcher::Query => push_query(key, search)?,
        }
        key.push('"');
    }
    key.push(']');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use UrlMatcher::*;

    const DEFAULT: [UrlMatcher; 6] = [Method, Scheme, Host, Port, Path, Query];

    fn key(method: &str, origin: &str, path: &str) -> Option<String> {
        simple_key(method, origin, path, &DEFAULT)
    }

    #[test]
    fn default_matchers_give_the_typescript_key_text() {
        assert_eq!(
            key(
                "GET",
                "https://cdn.example.com",
                "/v1/items/39?id=535&page=1"
            )
            .as_deref(),
            Some(
                r#"["GET","https","cdn.example.com","443","/v1/items/39","[[\"id\",[\"535\"]],[\"page\",[\"1\"]]]"]"#
            )
        );
    }

    #[test]
    fn method_is_upper_cased_and_must_be_letters() {
        assert_eq!(
            key("patch", "http://a.test", "/").as_deref(),
            Some(r#"["PATCH","http","a.test","80","/","[]"]"#)
        );
        assert_eq!(key("M-SEARCH", "http://a.test", "/"), None);
        assert_eq!(key("", "http://a.test", "/"), None);
        assert_eq!(key("GÉT", "http://a.test", "/"), None);
    }

    #[test]
    fn ports_default_by_scheme_and_explicit_ones_are_kept() {
        assert!(key("GET", "http://a.test:8080", "/").is_some_and(|k| k.contains(r#","8080","#)));
        assert!(key("GET", "https://a.test", "/").is_some_and(|k| k.contains(r#","443","#)));
        assert!(key("GET", "http://a.test:65535", "/").is_some());
        for bad in [
            "http://a.test:65536",
            "http://a.test:0",
            "http://a.test:080",
            "http://a.test:",
            "http://a.test:123456",
        ] {
            assert_eq!(key("GET", bad, "/"), None, "{bad}");
        }
    }

    #[test]
    fn hosts_outside_the_simple_form_are_left_to_typescript() {
        for good in [
            "http://a",
            "http://a-b.c0",
            "http://1.2.3.a",
            "http://0.0.0.0",
            "http://255.255.255.255",
            "http://127.0.0.1:3000",
        ] {
            assert!(key("GET", good, "/").is_some(), "{good}");
        }
        for bad in [
            "http://A.test",
            "http://a.1",
            "http://a..b",
            "http://a.b.",
            "http://256.1.1.1",
            "http://01.1.1.1",
            "http://1.2.3",
            "http://xn--nxasmq6b.test",
            "http://[::1]",
            "ftp://a.test",
            "https//a.test",
        ] {
            assert_eq!(key("GET", bad, "/"), None, "{bad}");
        }
    }

    #[test]
    fn paths_needing_normalization_are_left_to_typescript() {
        for bad in [
            "", "x", "//a", "/a/./b", "/a/..", "/%20", "/a b", "/é", "/a#b", "/a'b", "/a\\b",
            "/a+b",
        ] {
            assert_eq!(key("GET", "http://a.test", bad), None, "{bad:?}");
        }
        for good in ["/", "/a/.b/..c/", "/a:b@c;d=e", "/~x_y-z.(1)*!$&,"] {
            assert!(key("GET", "http://a.test", good).is_some(), "{good}");
        }
    }

    #[test]
    fn query_names_are_sorted_stably_and_blank_values_kept() {
        let q = |path: &str| {
            simple_key("GET", "http://a.test", path, &[Query]).map(|k| k.replace("\\\"", "'"))
        };
        assert_eq!(
            q("/?b=2&a=1&b=1").as_deref(),
            Some(r#"["[['a',['1']],['b',['2','1']]]"]"#)
        );
        assert_eq!(
            q("/?a=&b").as_deref(),
            Some(r#"["[['a',['']],['b',['']]]"]"#)
        );
        assert_eq!(q("/?&&a=1&").as_deref(), Some(r#"["[['a',['1']]]"]"#));
        assert_eq!(q("/?").as_deref(), Some(r#"["[]"]"#));
        assert_eq!(q("/").as_deref(), Some(r#"["[]"]"#));
        assert_eq!(q("/??a=b=c").as_deref(), Some(r#"["[['?a',['b=c']]]"]"#));
        assert_eq!(q("/?a=%20"), None);
    }

    #[test]
    fn more_than_the_query_limit_is_left_to_typescript() {
        let params = |n: usize| {
            (0..n)
                .map(|i| format!("p{i}=1"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert!(key(
            "GET",
            "http://a.test",
            &format!("/?{}", params(MAX_QUERY_PARAMS))
        )
        .is_some());
        assert_eq!(
            key(
                "GET",
                "http://a.test",
                &format!("/?{}", params(MAX_QUERY_PARAMS + 1))
            ),
            None
        );
    }

    #[test]
    fn a_reused_key_buffer_holds_only_the_last_key() {
        let mut buf = String::from("left over from an earlier request");
        write_simple_key(&mut buf, "GET", "http://a.test", "/x?b=1", &DEFAULT).unwrap();
        assert_eq!(Some(buf.clone()), key("GET", "http://a.test", "/x?b=1"));
        assert_eq!(
            write_simple_key(&mut buf, "GET", "http://a.test", "/x?q=%41", &DEFAULT),
            None
        );
        write_simple_key(&mut buf, "post", "https://b.test:8443", "/", &DEFAULT).unwrap();
        assert_eq!(Some(buf), key("POST", "https://b.test:8443", "/"));
    }

    #[test]
    fn matchers_are_read_from_the_match_on_text() {
        assert_eq!(
            url_matchers("method,host").as_deref(),
            Some(&[Method, Host][..])
        );
        assert_eq!(url_matchers("").as_deref(), Some(&[][..]));
        assert_eq!(url_matchers("method,headers"), None);
        assert_eq!(url_matchers("method,body"), None);
        assert_eq!(
            simple_key("get", "http://a.test", "/x", &[]).as_deref(),
            Some("[]")
        );
    }
}
