//! Commands written as inline lines, quoted so that redis-cli's rules
//! (`sdssplitargs`) read them back exactly: a plain word as it is, anything
//! else double-quoted with `\xHH` escapes. The server reads an inline line
//! of at most [`INLINE_LIMIT`] bytes.

/// The server's limit on an inline line (`PROTO_INLINE_MAX_SIZE`): a longer
/// one is "too big inline request", and the connection is closed.
pub const INLINE_LIMIT: usize = 64 * 1024;

/// Whether an argument goes on an inline line as it is.
fn plain(a: &[u8]) -> bool {
    !a.is_empty()
        && a.iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'))
}

/// The bytes `b` takes inside double quotes.
fn escaped_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' => 2,
        b' '..=b'~' => 1,
        _ => 4,
    }
}

/// The length of an argument on an inline line.
pub fn inline_len(a: &[u8]) -> usize {
    if plain(a) {
        a.len()
    } else {
        2 + a.iter().map(|&b| escaped_len(b)).sum::<usize>()
    }
}

/// How many bytes of `bytes` (at least one) fit in `budget` once quoted.
pub fn inline_prefix(bytes: &[u8], budget: usize) -> usize {
    let mut len = 2;
    for (i, &b) in bytes.iter().enumerate() {
        len += escaped_len(b);
        if len > budget {
            return i.max(1);
        }
    }
    bytes.len()
}

/// Appends `args` to `out` as one inline line, ending in `\n`.
pub fn encode_inline(out: &mut Vec<u8>, args: &[&[u8]]) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if plain(a) {
            out.extend_from_slice(a);
            continue;
        }
        out.push(b'"');
        for &b in *a {
            match b {
                b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                b' '..=b'~' => out.push(b),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(&[
                        b'\\',
                        b'x',
                        HEX[(b >> 4) as usize],
                        HEX[(b & 15) as usize],
                    ]);
                }
            }
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_lines_quote_what_redis_cli_would_split() {
        let mut out = Vec::new();
        encode_inline(
            &mut out,
            &[b"SET", b"a b", b"", b"x\"y", b"\x00\xff", b"plain:1"],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SET \"a b\" \"\" \"x\\\"y\" \"\\x00\\xff\" plain:1\n"
        );
        for a in [&b"a b"[..], b"", b"x\"y", b"\x00\xff", b"plain:1"] {
            let mut one = Vec::new();
            encode_inline(&mut one, &[a]);
            assert_eq!(inline_len(a), one.len() - 1, "{a:?}");
        }
    }

    #[test]
    fn a_prefix_fits_its_budget_once_quoted() {
        let bytes = vec![0u8; 100];
        let n = inline_prefix(&bytes, 42);
        assert_eq!(n, 10, "2 quotes and 4 bytes each");
        assert_eq!(inline_prefix(b"abc", 1000), 3);
        assert_eq!(inline_prefix(b"\x00", 1), 1, "at least one byte");
    }
}
