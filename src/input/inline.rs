//! The inline tokenizer: redis-cli's `sdssplitargs` rules, byte for byte.
//!
//! The rules (redis `src/sds.c`, `sdssplitargs`):
//!
//! - Between tokens, `isspace` bytes are skipped: SP `\t` `\n` `\v` `\f` `\r`.
//! - An unquoted token ends at SP, `\n`, `\r` or `\t` (so `\v` and `\f` may sit
//!   inside one). A quote opens quoted mode even mid-token: `foo"bar baz"` is
//!   the single argument `foobar baz`. Backslash is literal.
//! - In double quotes, `\xHH` is a byte; `\n \r \t \b \a` are escapes; any
//!   other escaped byte stands for itself.
//! - In single quotes, only `\'` is an escape.
//! - A closing quote must be followed by whitespace or the end of the line,
//!   otherwise the whole line is invalid; so is an unterminated quote.
//!
//! One deliberate difference: `sdssplitargs` stops at a NUL byte and silently
//! drops the rest of the line. rload rejects a raw NUL instead, since it
//! almost always means binary data that was meant to be sent whole; `\x00`
//! inside double quotes is the way to write one.

use memchr::memchr3;

use super::args::ArgBuf;

/// Why an inline line could not be tokenized. Columns are 1-based byte columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InlineError {
    /// A double quote opened at this column is never closed.
    UnbalancedDouble(usize),
    /// A single quote opened at this column is never closed.
    UnbalancedSingle(usize),
    /// The closing quote at this column is followed by something other than
    /// whitespace or the end of the line.
    TextAfterQuote(usize),
    /// A raw NUL byte at this column.
    Nul(usize),
}

impl std::fmt::Display for InlineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            InlineError::UnbalancedDouble(c) => {
                write!(
                    f,
                    "unbalanced quotes: the double quote at column {c} is never closed"
                )
            }
            InlineError::UnbalancedSingle(c) => {
                write!(
                    f,
                    "unbalanced quotes: the single quote at column {c} is never closed"
                )
            }
            InlineError::TextAfterQuote(c) => write!(
                f,
                "the closing quote at column {c} must be followed by a space or the end of the line"
            ),
            InlineError::Nul(c) => write!(
                f,
                "raw NUL byte at column {c} (write it as \\x00 inside double quotes)"
            ),
        }
    }
}

/// Per-byte classes, so the hot loops test one table entry per byte.
const SPACE: u8 = 1; // isspace(): skipped between tokens
const STOP: u8 = 2; // ends an unquoted run: a delimiter, a quote or NUL

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b' ' as usize] = SPACE | STOP;
    t[b'\t' as usize] = SPACE | STOP;
    t[b'\n' as usize] = SPACE | STOP;
    t[b'\r' as usize] = SPACE | STOP;
    t[0x0b] = SPACE; // \v: skipped between tokens, but part of an unquoted token
    t[0x0c] = SPACE; // \f: likewise
    t[b'"' as usize] = STOP;
    t[b'\'' as usize] = STOP;
    t[0] = STOP;
    t
};

#[inline]
fn is_space(b: u8) -> bool {
    CLASS[b as usize] & SPACE != 0
}

/// Splits one line (its `\n` and any `\r` before it already removed) into
/// arguments, appending them to `out`. A blank line gives no arguments.
///
/// # Errors
///
/// Returns the first rule the line breaks; `out` is then unspecified.
pub(crate) fn split_inline(line: &[u8], out: &mut ArgBuf) -> Result<(), InlineError> {
    out.clear();
    let n = line.len();
    let mut p = 0;
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p == n {
            return Ok(());
        }
        let start = p;
        p = run_end(line, p);
        match line.get(p) {
            Some(0) => return Err(InlineError::Nul(p + 1)),
            Some(b'"') | Some(b'\'') => {
                // The token goes on inside quotes, so it needs unescaping:
                // build it in scratch, starting with the unquoted prefix.
                let s0 = out.scratch.len();
                out.scratch.extend_from_slice(&line[start..p]);
                p = if line[p] == b'"' {
                    double_quoted(line, p, &mut out.scratch)?
                } else {
                    single_quoted(line, p, &mut out.scratch)?
                };
                out.push_scratch(s0);
            }
            // A delimiter (all of them are spaces) or the end of the line.
            _ => out.push_base(start, p),
        }
    }
}

/// The end of the unquoted run that starts at `p`: the index of the first
/// [`STOP`] byte at or after it, or the line's length.
#[inline]
fn run_end(line: &[u8], mut p: usize) -> usize {
    let n = line.len();
    // Most tokens are short and end within a few bytes.
    let mut stop = n.min(p + 16);
    loop {
        while p < stop && CLASS[line[p] as usize] & STOP == 0 {
            p += 1;
        }
        if p < stop || p == n {
            return p;
        }
        p = skip_run(line, p);
        stop = n.min(p + 16);
    }
}

/// Skips 16 bytes at a time while none of them can be a [`STOP`] byte: no
/// byte up to SP (every delimiter and NUL) and no quote. Returns the index
/// of the first byte that might stop the run, or of the last short block;
/// the caller checks the bytes from there one by one. A long value (a 100 KB
/// blob on one line) is then scanned at memory speed, not a byte per cycle.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn skip_run(line: &[u8], mut p: usize) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline, and every load is of 16
    // bytes inside `line` (`p + 16 <= line.len()`), unaligned.
    unsafe {
        let sp = _mm_set1_epi8(b' ' as i8);
        let dq = _mm_set1_epi8(b'"' as i8);
        let sq = _mm_set1_epi8(b'\'' as i8);
        while p + 16 <= line.len() {
            let v = _mm_loadu_si128(line.as_ptr().add(p).cast::<__m128i>());
            // max(v, SP) == SP exactly when v <= SP, unsigned.
            let low = _mm_cmpeq_epi8(_mm_max_epu8(v, sp), sp);
            let quote = _mm_or_si128(_mm_cmpeq_epi8(v, dq), _mm_cmpeq_epi8(v, sq));
            let mask = _mm_movemask_epi8(_mm_or_si128(low, quote));
            if mask != 0 {
                return p + mask.trailing_zeros() as usize;
            }
            p += 16;
        }
    }
    p
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn skip_run(_line: &[u8], p: usize) -> usize {
    p
}

/// Reads a double-quoted run whose opening quote is at `q`, appending the
/// unescaped bytes; returns the index just past the closing quote.
fn double_quoted(line: &[u8], q: usize, out: &mut Vec<u8>) -> Result<usize, InlineError> {
    let n = line.len();
    let mut p = q + 1;
    loop {
        let Some(i) = memchr3(b'"', b'\\', 0, &line[p..]) else {
            return Err(InlineError::UnbalancedDouble(q + 1));
        };
        out.extend_from_slice(&line[p..p + i]);
        p += i;
        match line[p] {
            0 => return Err(InlineError::Nul(p + 1)),
            b'"' => return close_quote(line, p),
            // A backslash with nothing after it is literal, and the quote is
            // then unterminated.
            _ if p + 1 == n => return Err(InlineError::UnbalancedDouble(q + 1)),
            _ => {
                let e = line[p + 1];
                if e == b'x' && p + 3 < n && is_hex(line[p + 2]) && is_hex(line[p + 3]) {
                    out.push(hex(line[p + 2]) << 4 | hex(line[p + 3]));
                    p += 4;
                    continue;
                }
                out.push(match e {
                    0 => return Err(InlineError::Nul(p + 2)),
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                p += 2;
            }
        }
    }
}

/// Reads a single-quoted run whose opening quote is at `q`; only `\'` is an
/// escape. Returns the index just past the closing quote.
fn single_quoted(line: &[u8], q: usize, out: &mut Vec<u8>) -> Result<usize, InlineError> {
    let mut p = q + 1;
    loop {
        let Some(i) = memchr3(b'\'', b'\\', 0, &line[p..]) else {
            return Err(InlineError::UnbalancedSingle(q + 1));
        };
        out.extend_from_slice(&line[p..p + i]);
        p += i;
        match line[p] {
            0 => return Err(InlineError::Nul(p + 1)),
            b'\'' => return close_quote(line, p),
            _ if line.get(p + 1) == Some(&b'\'') => {
                out.push(b'\'');
                p += 2;
            }
            _ => {
                out.push(b'\\');
                p += 1;
            }
        }
    }
}

/// Applies the closing-quote rule to the quote at `p`.
fn close_quote(line: &[u8], p: usize) -> Result<usize, InlineError> {
    match line.get(p + 1) {
        Some(&b) if !is_space(b) => Err(InlineError::TextAfterQuote(p + 1)),
        _ => Ok(p + 1),
    }
}

#[inline]
fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

#[inline]
fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, InlineError> {
        let mut buf = ArgBuf::default();
        split_inline(line, &mut buf)?;
        Ok(buf.args(line).iter().map(<[u8]>::to_vec).collect())
    }

    fn ok(line: &str) -> Vec<String> {
        split(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn long_runs_end_exactly_where_a_byte_by_byte_scan_ends() {
        use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        // Long plain runs with a rare byte that does or does not stop them
        // (quotes, delimiters, NUL, and \v, \f, 0x01 or 0x80, which do not).
        let rare = b" \t\r\n\"'\0\x0b\x0c\x01\x80\xff";
        for _ in 0..5_000 {
            let len = rng.random_range(0..200);
            let mut line: Vec<u8> = (0..len)
                .map(|_| b'a' + (rng.next_u32() % 26) as u8)
                .collect();
            for _ in 0..rng.random_range(0..3) {
                if len > 0 {
                    let at = rng.random_range(0..len);
                    line[at] = rare[rng.random_range(0..rare.len())];
                }
            }
            let from = rng.random_range(0..=len);
            let want = (from..len)
                .find(|&i| CLASS[line[i] as usize] & STOP != 0)
                .unwrap_or(len);
            assert_eq!(run_end(&line, from), want, "{line:?} from {from}");
        }
    }

    #[test]
    fn a_long_value_is_one_argument_up_to_its_delimiter() {
        let value = "v".repeat(100 * 1024);
        assert_eq!(
            ok(&format!("SET big {value}\x0bmore\t")),
            ["SET", "big", &format!("{value}\x0bmore")]
        );
        assert_eq!(
            ok(&format!("SET big {value}\"quoted part\"")),
            ["SET", "big", &format!("{value}quoted part")]
        );
    }

    #[test]
    fn splits_plain_words_on_spaces_and_tabs() {
        assert_eq!(ok("SET Key0 Value0"), ["SET", "Key0", "Value0"]);
        assert_eq!(ok("  SET\tk \t v  "), ["SET", "k", "v"]);
    }

    #[test]
    fn blank_and_whitespace_only_lines_give_no_arguments() {
        assert!(ok("").is_empty());
        assert!(ok(" \t\r\x0b\x0c ").is_empty());
    }

    #[test]
    fn vertical_tab_and_form_feed_are_skipped_between_tokens_but_kept_inside() {
        assert_eq!(ok("\x0bSET\x0ca\x0bb c"), ["SET\x0ca\x0bb", "c"]);
    }

    #[test]
    fn carriage_return_ends_an_unquoted_token() {
        assert_eq!(ok("a\rb"), ["a", "b"]);
    }

    #[test]
    fn backslash_is_literal_outside_quotes() {
        assert_eq!(ok(r"SET k a\nb\x41"), ["SET", "k", r"a\nb\x41"]);
    }

    #[test]
    fn double_quotes_resolve_hex_escapes_in_either_case() {
        assert_eq!(
            split(br#""\x41\x6a\x6A\x00""#).unwrap(),
            [b"Ajj\0".to_vec()]
        );
        assert_eq!(split(br#""\xff""#).unwrap(), [vec![0xff]]);
    }

    #[test]
    fn double_quotes_resolve_the_named_escapes() {
        assert_eq!(
            split(br#""\n\r\t\b\a""#).unwrap(),
            [b"\n\r\t\x08\x07".to_vec()]
        );
    }

    #[test]
    fn other_escaped_bytes_stand_for_themselves() {
        assert_eq!(ok(r#""\"\\\q\'""#), [r#""\q'"#]);
    }

    #[test]
    fn a_bad_hex_escape_keeps_the_x_and_the_rest() {
        assert_eq!(ok(r#""\xZZ""#), ["xZZ"]);
        assert_eq!(ok(r#""\x4""#), ["x4"]);
        assert_eq!(ok(r#""\x4g""#), ["x4g"]);
    }

    #[test]
    fn single_quotes_only_escape_a_single_quote() {
        assert_eq!(ok(r"'a\'b'"), ["a'b"]);
        assert_eq!(ok(r"'a\\b\n\x41'"), [r"a\\b\n\x41"]);
        assert_eq!(ok(r#"'say "hi"'"#), [r#"say "hi""#]);
    }

    #[test]
    fn a_quote_opens_quoted_mode_mid_token() {
        assert_eq!(ok(r#"foo"bar baz""#), ["foobar baz"]);
        assert_eq!(ok("foo'bar baz' x"), ["foobar baz", "x"]);
    }

    #[test]
    fn empty_quotes_are_an_empty_argument() {
        assert_eq!(ok(r#"SET "" ''"#), ["SET", "", ""]);
    }

    #[test]
    fn keeps_utf8_bytes_unchanged() {
        assert_eq!(ok("SET clé \"värde ✓\""), ["SET", "clé", "värde ✓"]);
    }

    #[test]
    fn rejects_closing_quote_followed_by_text() {
        assert_eq!(split(br#"SET "a"b"#), Err(InlineError::TextAfterQuote(7)));
        assert_eq!(split(br#"'a''b'"#), Err(InlineError::TextAfterQuote(3)));
        assert_eq!(
            split(br#"foo"bar"baz"#),
            Err(InlineError::TextAfterQuote(8))
        );
    }

    #[test]
    fn accepts_any_isspace_byte_after_a_closing_quote() {
        for sep in [" ", "\t", "\r", "\n", "\x0b", "\x0c"] {
            assert_eq!(ok(&format!("\"a\"{sep}b")), ["a", "b"], "separator {sep:?}");
        }
        assert_eq!(ok("'a'"), ["a"]);
    }

    #[test]
    fn rejects_unterminated_quotes() {
        assert_eq!(
            split(br#"SET k "abc"#),
            Err(InlineError::UnbalancedDouble(7))
        );
        assert_eq!(split(br"SET k 'abc"), Err(InlineError::UnbalancedSingle(7)));
        assert_eq!(
            split(br#"SET k "abc\""#),
            Err(InlineError::UnbalancedDouble(7))
        );
        assert_eq!(
            split(br"SET k 'abc\'"),
            Err(InlineError::UnbalancedSingle(7))
        );
    }

    #[test]
    fn a_trailing_backslash_leaves_the_quote_unterminated() {
        assert_eq!(split(br#""abc\"#), Err(InlineError::UnbalancedDouble(1)));
        assert_eq!(split(br"'abc\"), Err(InlineError::UnbalancedSingle(1)));
    }

    #[test]
    fn rejects_raw_nul_anywhere_in_the_line() {
        assert_eq!(split(b"SET k v\0x"), Err(InlineError::Nul(8)));
        assert_eq!(split(b"\0"), Err(InlineError::Nul(1)));
        assert_eq!(split(b"\"a\0\""), Err(InlineError::Nul(3)));
        assert_eq!(split(b"'a\0'"), Err(InlineError::Nul(3)));
        assert_eq!(split(b"\"a\\\0\""), Err(InlineError::Nul(4)));
    }

    #[test]
    fn error_messages_name_the_column() {
        assert_eq!(
            InlineError::UnbalancedDouble(7).to_string(),
            "unbalanced quotes: the double quote at column 7 is never closed"
        );
        assert!(
            InlineError::TextAfterQuote(3)
                .to_string()
                .contains("column 3")
        );
    }
}
