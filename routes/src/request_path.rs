//! The one request-path normaliser, run before route matching so that no spelling of a path
//! (`/%61dmin`, `//admin`, `/./admin`, `/x/../admin`) reaches a different route than the path
//! it means. The proxy forwards the normal form, so what is matched is what the backend gets.
//!
//! The normal form: unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, every other
//! percent-encoding is kept with uppercase hex (decoding `%2F` or `%25` would change the path's
//! structure or invite double decoding), `.` and `..` segments are resolved after decoding
//! (RFC 3986 §5.2.4) and repeated slashes merged. The query string is not part of the path.
//!
//! Most requests are already normal: one scan over the bytes decides, and then nothing is
//! allocated.

use std::borrow::Cow;
use std::fmt;

/// A request path in normal form, and what the normaliser noticed on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalPath<'a> {
    /// The normal form (borrowed when the input was already normal).
    pub path: Cow<'a, str>,
    /// The path holds an encoded slash or backslash (`%2F`, `%5C`) or a raw backslash: some
    /// backends decode these into separators, so they could address what no route matched.
    pub encoded_slash: bool,
}

/// Why a request path has no normal form; the proxy answers each with 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (an asterisk-form `*` or an empty path).
    NotAbsolute,
    /// A `..` segment climbs above the root.
    AboveRoot,
    /// `%00`: no backend means a NUL byte in a path, and some cut the path there.
    EncodedNul,
    /// A `%` not followed by two hex digits.
    BadPercent,
}

impl PathError {
    /// A short description for logs and error bodies.
    pub fn describe(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::AboveRoot => "a .. segment climbs above the root",
            PathError::EncodedNul => "the path holds %00",
            PathError::BadPercent => "a % is not followed by two hex digits",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl std::error::Error for PathError {}

/// Normalises a request path (without its query); see the module documentation.
pub fn normalize_path(path: &str) -> Result<NormalPath<'_>, PathError> {
    let scan = scan(path)?;
    let path = if scan.normal {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(resolve_segments(&decode_unreserved(path)?)?)
    };
    Ok(NormalPath {
        path,
        encoded_slash: scan.encoded_slash,
    })
}

/// What one pass over the bytes found.
struct Scan {
    /// Already in normal form.
    normal: bool,
    encoded_slash: bool,
}

/// Decides whether `path` is already normal and finds every error except `..` above the root
/// (which needs the segments resolved).
fn scan(path: &str) -> Result<Scan, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut scan = Scan {
        normal: true,
        encoded_slash: false,
    };
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' => {
                let next = bytes.get(i + 1..).unwrap_or_default();
                if next.first() == Some(&b'/') || starts_with_dot_segment(next) {
                    scan.normal = false;
                }
            }
            b'%' => {
                let byte = percent_byte(bytes, i)?;
                let lowercase_hex = bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|hex| hex.iter().any(u8::is_ascii_lowercase));
                if is_unreserved(byte) || lowercase_hex {
                    scan.normal = false;
                }
                scan.encoded_slash |= byte == b'/' || byte == b'\\';
                i += 3;
                continue;
            }
            b'\\' => scan.encoded_slash = true,
            _ => {}
        }
        i += 1;
    }
    Ok(scan)
}

/// True when the segment at the start of `rest` (just after a `/`) is `.` or `..`.
fn starts_with_dot_segment(rest: &[u8]) -> bool {
    matches!(
        rest,
        [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..]
    )
}

/// The byte encoded at `bytes[at..at + 3]` (`%XX`); `%00` and malformed sequences are errors.
fn percent_byte(bytes: &[u8], at: usize) -> Result<u8, PathError> {
    let hex = |offset: usize| {
        bytes
            .get(at + offset)
            .and_then(|&h| (h as char).to_digit(16))
    };
    let (Some(hi), Some(lo)) = (hex(1), hex(2)) else {
        return Err(PathError::BadPercent);
    };
    match (hi * 16 + lo) as u8 {
        0 => Err(PathError::EncodedNul),
        byte => Ok(byte),
    }
}

/// RFC 3986 §2.3: the characters whose encoded and plain forms mean the same.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes unreserved characters and uppercases the hex of every other percent-encoding.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i) == Some(&b'%') {
            let byte = percent_byte(bytes, i)?;
            if is_unreserved(byte) {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xF)]));
            }
            i += 3;
        } else {
            // Copy the run up to the next `%` whole: `%` is ASCII, so both ends are char
            // boundaries and non-ASCII characters pass through unchanged.
            let end = path
                .get(i..)
                .and_then(|rest| rest.find('%'))
                .map_or(path.len(), |at| i + at);
            out.push_str(path.get(i..end).unwrap_or_default());
            i = end;
        }
    }
    Ok(out)
}

/// Removes `.` and `..` segments (RFC 3986 §5.2.4) and empty segments but a trailing one.
/// A final `.` or `..` leaves a trailing slash (`/a/b/..` is `/a/`), as the RFC says.
fn resolve_segments(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len());
    let mut trailing_slash = false;
    // The path starts with `/`, so the first piece is empty and not a segment.
    for segment in path.split('/').skip(1) {
        trailing_slash = true;
        match segment {
            "" | "." => {}
            ".." => {
                let parent = out.rfind('/').ok_or(PathError::AboveRoot)?;
                out.truncate(parent);
            }
            name => {
                out.push('/');
                out.push_str(name);
                trailing_slash = false;
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms() {
        // (input, normal form, encoded slash)
        let cases = [
            ("/", "/", false),
            ("/admin", "/admin", false),
            ("/admin/", "/admin/", false),
            ("/%61dmin", "/admin", false),
            ("/%41%5a%7e%2D%5f%2e", "/AZ~-_.", false),
            ("//admin", "/admin", false),
            ("/a//b///c", "/a/b/c", false),
            ("/a//", "/a/", false),
            ("//", "/", false),
            ("/./admin", "/admin", false),
            ("/x/../admin", "/admin", false),
            ("/%2e/admin", "/admin", false),
            ("/a/%2E%2E/", "/", false),
            ("/x/%2e%2e/admin", "/admin", false),
            ("/a/b/..", "/a/", false),
            ("/a/b/.", "/a/b/", false),
            ("/a/./b/../c", "/a/c", false),
            ("/a/..", "/", false),
            ("/.a/..b/...", "/.a/..b/...", false), // dots inside names are names
            ("/%7Euser", "/~user", false),
            ("/a%20b", "/a%20b", false),
            ("/a%c3%a9", "/a%C3%A9", false),
            ("/100%25", "/100%25", false),
            ("/%2541", "/%2541", false), // decoding is done once: %25 stays, 41 is text
            ("/a?b", "/a?b", false),     // not a query here: the caller passes the path only
            ("/café", "/café", false),
            ("/%2Fadmin", "/%2Fadmin", true),
            ("/%2fadmin", "/%2Fadmin", true),
            ("/a%5Cb", "/a%5Cb", true),
            ("/a\\b", "/a\\b", true),
            ("/..%2F", "/..%2F", true), // not a dot segment: the slash is data
            (
                "/api/v4/projects/group%2Fproject",
                "/api/v4/projects/group%2Fproject",
                true,
            ),
        ];
        for (input, want, slash) in cases {
            let got = normalize_path(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got.path, want, "{input:?}");
            assert_eq!(got.encoded_slash, slash, "{input:?}");
        }
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for input in [
            "/",
            "/admin",
            "/a/b/",
            "/a%20b",
            "/%2Fx",
            "/.well-known/acme",
        ] {
            let got = normalize_path(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert!(matches!(got.path, Cow::Borrowed(_)), "{input:?}");
        }
    }

    #[test]
    fn refusals() {
        let cases = [
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("admin", PathError::NotAbsolute),
            ("/..", PathError::AboveRoot),
            ("/../etc/passwd", PathError::AboveRoot),
            ("/a/../..", PathError::AboveRoot),
            ("/%2e%2e/x", PathError::AboveRoot),
            ("//../x", PathError::AboveRoot),
            ("/%00", PathError::EncodedNul),
            ("/a%00.txt", PathError::EncodedNul),
            ("/%zz", PathError::BadPercent),
            ("/%", PathError::BadPercent),
            ("/%4", PathError::BadPercent),
            ("/%4g", PathError::BadPercent),
            ("/%%41", PathError::BadPercent),
            ("/a%é", PathError::BadPercent),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(input), Err(want), "{input:?}");
        }
    }
}
