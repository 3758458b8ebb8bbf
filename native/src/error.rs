//! Error codes of the native DVD reader/writer.
//!
//! Every failure is a [`DvdError`]: a stable machine-readable [`ErrorCode`]
//! (`DVD_ERR_*`) plus a human-readable message. The conversion to
//! `napi::Error` lives here and only here, so every JavaScript error thrown by
//! the addon has `err.code === "DVD_ERR_…"` and a message that starts with the
//! same code, e.g. `"DVD_ERR_CHECKSUM: index checksum mismatch (hash table)"`.

use std::fmt;

/// Stable error codes. The string form is part of the public contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The file is empty or is not a DVD file at all (wrong magic).
    NotDvd,
    /// The file ends before the structure it announces.
    Truncated,
    /// A checksum (descriptor, index section, block or content) does not match.
    Checksum,
    /// The file was written by a newer, incompatible major format version.
    Version,
    /// The file is structurally invalid (bad offsets, lengths, flags, data).
    Corrupt,
    /// An operating-system I/O error (open, map, write, fsync, rename).
    Io,
    /// A record id or argument is out of range.
    Range,
    /// A size limit of the format was exceeded while writing.
    Limit,
    /// The reader or writer was already closed, finished or aborted.
    Closed,
}

impl ErrorCode {
    /// The `DVD_ERR_*` string of this code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotDvd => "DVD_ERR_NOT_DVD",
            ErrorCode::Truncated => "DVD_ERR_TRUNCATED",
            ErrorCode::Checksum => "DVD_ERR_CHECKSUM",
            ErrorCode::Version => "DVD_ERR_VERSION",
            ErrorCode::Corrupt => "DVD_ERR_CORRUPT",
            ErrorCode::Io => "DVD_ERR_IO",
            ErrorCode::Range => "DVD_ERR_RANGE",
            ErrorCode::Limit => "DVD_ERR_LIMIT",
            ErrorCode::Closed => "DVD_ERR_CLOSED",
        }
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// An error code with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DvdError {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// The human-readable explanation (without the code prefix).
    pub message: String,
}

/// Result alias used across the crate.
pub type DvdResult<T> = Result<T, DvdError>;

impl DvdError {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DvdError {
            code,
            message: message.into(),
        }
    }

    /// `DVD_ERR_NOT_DVD`
    pub fn not_dvd(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotDvd, message)
    }
    /// `DVD_ERR_TRUNCATED`
    pub fn truncated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Truncated, message)
    }
    /// `DVD_ERR_CHECKSUM`
    pub fn checksum(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Checksum, message)
    }
    /// `DVD_ERR_VERSION`
    pub fn version(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Version, message)
    }
    /// `DVD_ERR_CORRUPT`
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Corrupt, message)
    }
    /// `DVD_ERR_RANGE`
    pub fn range(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Range, message)
    }
    /// `DVD_ERR_LIMIT`
    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Limit, message)
    }
    /// `DVD_ERR_CLOSED`
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Closed, message)
    }
    /// `DVD_ERR_IO` with the operation, the path and the OS error.
    pub fn io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::new(ErrorCode::Io, format!("{what} {}: {err}", path.display()))
    }
}

impl fmt::Display for DvdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for DvdError {}

/// The single mapping to JavaScript: `code` property = `DVD_ERR_*`, message
/// starts with the same code.
impl From<DvdError> for napi::Error<ErrorCode> {
    fn from(err: DvdError) -> Self {
        let reason = err.to_string();
        napi::Error::new(err.code, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_code() {
        let e = DvdError::checksum("index checksum mismatch");
        assert_eq!(e.to_string(), "DVD_ERR_CHECKSUM: index checksum mismatch");
        // The napi::Error conversion itself cannot be exercised outside Node
        // (napi symbols resolve only when loaded by Node); it uses Display.
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            ErrorCode::NotDvd,
            ErrorCode::Truncated,
            ErrorCode::Checksum,
            ErrorCode::Version,
            ErrorCode::Corrupt,
            ErrorCode::Io,
            ErrorCode::Range,
            ErrorCode::Limit,
            ErrorCode::Closed,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.as_str().starts_with("DVD_ERR_"));
            for b in all.iter().skip(i + 1) {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
    }
}
