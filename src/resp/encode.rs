//! Encodes arguments as a RESP multibulk, sized exactly before writing.
//!
//! ```text
//! *<argc>\r\n
//! $<len>\r\n<bytes>\r\n     (for each argument)
//! ```
//!
//! This is the hot path of inline input: a typical command is a few short
//! arguments, so the encoder measures the command, reserves that once, then
//! writes each piece straight into the buffer: headers and CRLFs as single
//! stores, short arguments as a couple of word moves rather than a `memcpy`
//! call each.

/// The number of decimal digits of `n`.
#[inline]
pub(crate) fn digits(n: usize) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1_000..=9_999 => 4,
        10_000..=99_999 => 5,
        _ => n.ilog10() as usize + 1,
    }
}

/// A command's arguments, in a form that cannot change while it is being
/// encoded: the encoder measures them, then writes them, and relies on both
/// passes seeing the same bytes. Sealed, so only rload's own types qualify.
pub trait CommandArgs: sealed::Sealed {
    /// The number of arguments.
    fn arg_count(&self) -> usize;
    /// Argument `i`, for `i < arg_count()`.
    fn arg(&self, i: usize) -> &[u8];
    /// The length of argument `i`, which may be cheaper than `arg(i).len()`.
    #[inline(always)]
    fn arg_len(&self, i: usize) -> usize {
        self.arg(i).len()
    }
}

pub(crate) mod sealed {
    /// Only rload's own argument types encode.
    pub trait Sealed {}
    impl Sealed for [&[u8]] {}
}

impl CommandArgs for [&[u8]] {
    #[inline(always)]
    fn arg_count(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn arg(&self, i: usize) -> &[u8] {
        self[i]
    }
}

/// Appends a multibulk's header, `*<count>\r\n`, for a command written
/// a piece at a time (its arguments follow, each by [`push_bulk`]).
pub(crate) fn push_array_header(out: &mut Vec<u8>, count: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `item` as a bulk string, `$<len>\r\n<item>\r\n`.
pub(crate) fn push_bulk(out: &mut Vec<u8>, item: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(item.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(item);
    out.extend_from_slice(b"\r\n");
}

/// The exact encoded size of a command with these arguments.
#[inline]
pub fn encoded_len<A: CommandArgs + ?Sized>(args: &A) -> usize {
    let n = args.arg_count();
    let mut len = 1 + digits(n) + 2;
    for i in 0..n {
        let l = args.arg(i).len();
        len += 1 + digits(l) + 2 + l + 2;
    }
    len
}

/// Spare capacity reserved past the end, so a short header can be stored as
/// one 8-byte word (its tail is overwritten or left unused).
const SLACK: usize = 8;

/// The most bytes a header and its CRLFs take: `$`, 20 digits, CRLF, and
/// the CRLF after the payload.
const MAX_FRAMING: usize = 1 + 20 + 2 + 2;

/// Appends `args` to `out` as one RESP command.
///
/// Rather than measure the command exactly (a digit count per argument),
/// it reserves a bound, the payload plus 25 bytes per argument, and
/// counts what it wrote.
#[inline]
pub fn encode_command<A: CommandArgs + ?Sized>(out: &mut Vec<u8>, args: &A) {
    append(out, args, 0, true);
}

/// Appends arguments `from..` of `args` as RESP bulk strings, with no
/// `*` header: the items of a command being built from several (the
/// caller writes the header once it knows the count). Returns how many
/// it appended.
#[inline]
pub(crate) fn encode_bulks<A: CommandArgs + ?Sized>(
    out: &mut Vec<u8>,
    args: &A,
    from: usize,
) -> usize {
    append(out, args, from, false);
    args.arg_count().saturating_sub(from)
}

/// Appends arguments `from..` of `args` as bulk strings, after a `*`
/// header counting all of them when `with_header`.
#[inline(always)]
fn append<A: CommandArgs + ?Sized>(out: &mut Vec<u8>, args: &A, from: usize, with_header: bool) {
    let n = args.arg_count();
    let mut bound = MAX_FRAMING + SLACK;
    for i in from..n {
        bound += args.arg_len(i) + MAX_FRAMING;
    }
    out.reserve(bound);
    // SAFETY: `reserve` gave `bound` bytes past `out.len()`. `args` is a
    // shared borrow of a sealed type whose bytes cannot change, so the
    // arguments written are those measured: each takes at most its length
    // plus MAX_FRAMING, the `*` header at most MAX_FRAMING, and the header
    // word may spill into SLACK. Every byte counted by `set_len` is written.
    unsafe {
        let start = out.as_mut_ptr().add(out.len());
        let mut p = if with_header {
            header(start, b'*', n)
        } else {
            start
        };
        for i in from..n {
            let a = args.arg(i);
            p = header(p, b'$', a.len());
            p = copy(p, a);
            p = crlf(p);
        }
        let written = p.offset_from(start) as usize;
        debug_assert!(written + SLACK <= bound);
        out.set_len(out.len() + written);
    }
}

/// Writes `<ty><n>\r\n` at `p`; returns the end. Lengths under 100 are
/// built in a register and stored as one word: bytes stored one by one and
/// read back as a word would stall store forwarding.
///
/// # Safety
///
/// `p` must have room for the header plus [`SLACK`].
#[inline(always)]
unsafe fn header(p: *mut u8, ty: u8, n: usize) -> *mut u8 {
    const CRLF: u64 = 0x0a0d;
    let digit = |d: usize| b'0' as u64 + d as u64;
    let (word, len) = match n {
        0..=9 => (u64::from(ty) | digit(n) << 8 | CRLF << 16, 4),
        10..=99 => (
            u64::from(ty) | digit(n / 10) << 8 | digit(n % 10) << 16 | CRLF << 24,
            5,
        ),
        _ => {
            let mut num = itoa::Buffer::new();
            // SAFETY: as the caller promised.
            unsafe {
                *p = ty;
                let end = copy(p.add(1), num.format(n).as_bytes());
                return crlf(end);
            }
        }
    };
    // SAFETY: the caller promised room for 8 bytes.
    unsafe {
        (p as *mut u64).write_unaligned(word.to_le());
        p.add(len)
    }
}

/// Writes `\r\n` at `p`; returns the end.
///
/// # Safety
///
/// `p` must have room for 2 bytes.
#[inline(always)]
unsafe fn crlf(p: *mut u8) -> *mut u8 {
    // SAFETY: as the caller promised.
    unsafe {
        (p as *mut [u8; 2]).write_unaligned(*b"\r\n");
        p.add(2)
    }
}

/// Copies `src` to `p` with a few word moves for short inputs, rather than
/// a `memcpy` call each; returns the end.
///
/// # Safety
///
/// `p` must have room for `src.len()` bytes, not overlapping `src`.
#[inline(always)]
unsafe fn copy(p: *mut u8, src: &[u8]) -> *mut u8 {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: every read is inside `src`, every write inside p[..n].
    unsafe {
        match n {
            0 => {}
            1..=3 => {
                *p = *s;
                *p.add(n / 2) = *s.add(n / 2);
                *p.add(n - 1) = *s.add(n - 1);
            }
            4..=7 => {
                let head = (s as *const u32).read_unaligned();
                let tail = (s.add(n - 4) as *const u32).read_unaligned();
                (p as *mut u32).write_unaligned(head);
                (p.add(n - 4) as *mut u32).write_unaligned(tail);
            }
            8..=16 => {
                let head = (s as *const u64).read_unaligned();
                let tail = (s.add(n - 8) as *const u64).read_unaligned();
                (p as *mut u64).write_unaligned(head);
                (p.add(n - 8) as *mut u64).write_unaligned(tail);
            }
            _ => std::ptr::copy_nonoverlapping(s, p, n),
        }
        p.add(n)
    }
}

/// Encodes one command into a fresh buffer; for setup commands, not the hot path.
pub fn encode_to_vec(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulks_are_a_commands_encoding_without_its_header() {
        let long = vec![b'x'; 300];
        let args: [&[u8]; 5] = [b"RPUSH", b"list", b"", b"a b", &long];
        let mut out = b"prefix".to_vec();
        assert_eq!(encode_bulks(&mut out, &args[..], 2), 3);
        let whole = encode_to_vec(&args);
        let header_and_two = b"*5\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n".len();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out[6..], whole[header_and_two..]);
        assert_eq!(encode_bulks(&mut out, &args[..], 5), 0);
        assert_eq!(out.len(), 6 + whole.len() - header_and_two);
    }

    #[test]
    fn encodes_the_guide_example() {
        assert_eq!(
            encode_to_vec(&[b"SET", b"key", b"value"]),
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
        );
    }

    #[test]
    fn encodes_empty_and_binary_arguments() {
        assert_eq!(
            encode_to_vec(&[b"ECHO", b""]),
            b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
        );
        assert_eq!(encode_to_vec(&[b"\0\r\n"]), b"*1\r\n$3\r\n\0\r\n\r\n");
    }

    #[test]
    fn encodes_every_small_copy_size_exactly() {
        let source: Vec<u8> = (0..=255u8).collect();
        for n in 0..=40 {
            let arg = &source[7..7 + n];
            let mut want = format!("*2\r\n$3\r\nSET\r\n${n}\r\n").into_bytes();
            want.extend_from_slice(arg);
            want.extend_from_slice(b"\r\n");
            let mut out = b"prefix".to_vec();
            encode_command(&mut out, &[&b"SET"[..], arg][..]);
            assert_eq!(&out[6..], &want[..], "length {n}");
        }
    }

    #[test]
    fn encodes_many_arguments_and_long_lengths() {
        let args: Vec<Vec<u8>> = (0..150).map(|i| vec![b'x'; i * 7]).collect();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let out = encode_to_vec(&refs);
        let mut want = b"*150\r\n".to_vec();
        for a in &args {
            want.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            want.extend_from_slice(a);
            want.extend_from_slice(b"\r\n");
        }
        assert_eq!(out, want);
    }

    #[test]
    fn the_computed_length_is_exact() {
        for n in [0, 9, 10, 99, 100, 12345, 100_000] {
            let arg = vec![b'a'; n];
            let args: [&[u8]; 2] = [b"SET", &arg];
            let out = encode_to_vec(&args);
            assert_eq!(encoded_len(&args[..]), out.len(), "len {n}");
        }
    }

    #[test]
    fn counts_digits() {
        for n in [
            0usize,
            1,
            9,
            10,
            11,
            99,
            100,
            999_999,
            1_000_000,
            usize::MAX,
        ] {
            assert_eq!(digits(n), n.to_string().len());
        }
    }
}
