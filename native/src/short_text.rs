//! A JavaScript string argument read as UTF-8 into a fixed-size buffer on the
//! stack with one N-API call. The replay fast path takes three short strings
//! per request, and napi-rs's `String` makes two calls (length, then copy) and
//! a heap allocation for each; on a path that runs once per replayed request,
//! between `fetch`'s own work, those calls cost about as much as the lookup.

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValueType};
use napi::sys;
use std::mem::MaybeUninit;

/// A string of at most `N - 5` UTF-8 bytes; longer strings are marked as not
/// fitting (`text()` is `None`), so a caller can fall back to its general path.
pub struct ShortText<const N: usize> {
    buf: [MaybeUninit<u8>; N],
    /// Bytes written, or `None` when the string may not have fitted.
    len: Option<usize>,
}

impl<const N: usize> ShortText<N> {
    /// The text, or `None` when it did not fit in `N - 5` bytes.
    pub fn text(&self) -> Option<&str> {
        let len = self.len?;
        let written = self.buf.get(..len)?;
        // SAFETY: N-API wrote (initialized) the first `len` bytes.
        let bytes = unsafe { &*(std::ptr::from_ref(written) as *const [u8]) };
        std::str::from_utf8(bytes).ok()
    }
}

impl<const N: usize> TypeName for ShortText<N> {
    fn type_name() -> &'static str {
        "string"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl<const N: usize> FromNapiValue for ShortText<N> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut buf = [MaybeUninit::<u8>::uninit(); N];
        let mut written = 0usize;
        // SAFETY: `buf` has room for N bytes, which N-API writes at most (with a terminating NUL).
        let status = unsafe {
            sys::napi_get_value_string_utf8(env, value, buf.as_mut_ptr().cast(), N, &mut written)
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::StringExpected,
                "expected a string".to_owned(),
            ));
        }
        // N-API stops before a character that does not fit whole in the N - 1 bytes before the
        // NUL, up to 3 bytes short of them: a string that comes that close may have been cut.
        let len = (written + 4 < N).then_some(written);
        Ok(ShortText { buf, len })
    }
}
