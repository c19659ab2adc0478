//! Encodes arguments as a RESP multibulk, sized exactly before writing.
//!
//! ```text
//! *<argc>\r\n
//! $<len>\r\n<bytes>\r\n     (for each argument)
//! ```

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

/// The exact encoded size of a command with these arguments.
#[inline]
pub fn encoded_len<'a>(args: impl Iterator<Item = &'a [u8]>) -> (usize, usize) {
    let mut argc = 0;
    let mut len = 0;
    for a in args {
        argc += 1;
        len += 1 + digits(a.len()) + 2 + a.len() + 2;
    }
    (argc, len + 1 + digits(argc) + 2)
}

/// Appends `args` to `out` as one RESP command, reserving space once.
#[inline]
pub fn encode_command<'a, I>(out: &mut Vec<u8>, args: I)
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    let (argc, len) = encoded_len(args.clone());
    out.reserve(len);
    let mut num = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(num.format(argc).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Encodes one command into a fresh buffer; for setup commands, not the hot path.
pub fn encode_to_vec(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args.iter().copied());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_computed_length_is_exact() {
        for n in [0, 9, 10, 99, 100, 12345, 100_000] {
            let arg = vec![b'a'; n];
            let args: [&[u8]; 2] = [b"SET", &arg];
            let out = encode_to_vec(&args);
            assert_eq!(encoded_len(args.iter().copied()).1, out.len(), "len {n}");
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
