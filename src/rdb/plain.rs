//! Values written element by element: plain lists and sets, sorted sets
//! with text or binary scores, hashes (with field TTLs in Redis 7.4's and
//! Valkey 9's layouts), read a piece at a time; and module values, whose
//! opcodes are walked to find their end.

use std::io::Read;

use super::error::RdbError;
use super::input::Input;
use super::opcodes::Ready;
use super::value::{How, Shape, Shown, Value};
use super::{MAX_PIECE_BYTES, MAX_PIECE_ELEMENTS, RdbReader};

impl<R: Read> RdbReader<R> {
    /// Reads up to a piece's worth of plainly encoded elements.
    pub(super) fn plain_step(&mut self, shape: Shape, left: u64) -> Result<Ready, RdbError> {
        self.out.clear();
        self.expires.clear();
        let mut n = 0;
        while n < left
            && self.out.len() < MAX_PIECE_ELEMENTS
            && self.out.data.len() < MAX_PIECE_BYTES
        {
            self.plain_element(shape)?;
            n += 1;
        }
        self.value = Value::Plain {
            shape,
            left: left - n,
        };
        self.elements += n;
        let how = match shape {
            Shape::Item => How::Items,
            Shape::ZsetText | Shape::ZsetBinary | Shape::Hash => How::Pairs,
            _ => How::Expiring,
        };
        Ok(Ready::Piece(Shown::Elems(how, 0..self.out.len())))
    }

    /// Reads one element (or pair) of `shape` into `out`.
    fn plain_element(&mut self, shape: Shape) -> Result<(), RdbError> {
        let (input, out) = (&mut self.input, &mut self.out);
        let at = input.offset();
        let ttl = match shape {
            Shape::HashTtl { .. } | Shape::HashTtlAbsolute => input.len("a hash field's TTL")?,
            _ => 0,
        };
        input.string_into(&mut out.data, "an element")?;
        out.seal();
        match shape {
            Shape::Item => return Ok(()),
            Shape::ZsetText => zset_text_score(input, &mut out.data)?,
            Shape::ZsetBinary => {
                let at = input.offset();
                let score = f64::from_bits(input.u64_le("a binary score")?);
                if score.is_nan() {
                    return Err(RdbError::corrupt(at, "a score that is a number", "NaN"));
                }
                format_score(score, &mut out.data);
            }
            _ => input.string_into(&mut out.data, "a hash value")?,
        }
        out.seal();
        let expire = match shape {
            Shape::HashTtl { min } if ttl != 0 => Some(ttl.checked_add(min).map(|t| t - 1)),
            Shape::HashTtlAbsolute if ttl != 0 => Some(Some(ttl)),
            Shape::HashValkey => {
                let t = input.u64_le("a hash field's expiry")? as i64;
                (t != -1).then_some(Some(t as u64))
            }
            _ => None,
        };
        let expire = match expire {
            None => None,
            Some(Some(t)) if t <= i64::MAX as u64 => Some(t as i64),
            Some(_) => {
                return Err(RdbError::corrupt(
                    at,
                    "a hash field expiry in range",
                    "an overflow",
                ));
            }
        };
        if matches!(
            shape,
            Shape::HashTtl { .. } | Shape::HashTtlAbsolute | Shape::HashValkey
        ) {
            self.expires.push(expire);
        }
        Ok(())
    }
}

/// A score written as text after a length byte: 253 is NaN (which no
/// sorted set holds), 254 `inf`, 255 `-inf`.
fn zset_text_score<R: Read>(input: &mut Input<R>, out: &mut Vec<u8>) -> Result<(), RdbError> {
    let at = input.offset();
    match input.u8("a score")? {
        253 => return Err(RdbError::corrupt(at, "a score that is a number", "NaN")),
        254 => out.extend_from_slice(b"inf"),
        255 => out.extend_from_slice(b"-inf"),
        n => {
            let text = input.take(usize::from(n), "a score")?;
            let valid = std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.parse::<f64>().ok());
            if valid.is_none_or(f64::is_nan) {
                return Err(RdbError::corrupt(
                    at,
                    "a score",
                    String::from_utf8_lossy(text),
                ));
            }
            out.extend_from_slice(text);
        }
    }
    Ok(())
}

/// Writes a binary score as the shortest text that reads back as the same
/// double: an integer where it is one, `inf` and `-inf`.
pub(super) fn format_score(score: f64, out: &mut Vec<u8>) {
    if score == 0.0 && score.is_sign_negative() {
        out.extend_from_slice(b"-0");
    } else if score.is_infinite() {
        out.extend_from_slice(if score > 0.0 { b"inf" } else { b"-inf" });
    } else if score.fract() == 0.0 && score.abs() < 1e15 {
        out.extend_from_slice(itoa::Buffer::new().format(score as i64).as_bytes());
    } else {
        use std::io::Write;
        // Debug is the shortest round-trip text, in exponent form when
        // very large or small.
        let _ = write!(out, "{score:?}");
    }
}

/// Consumes a module value's opcodes up to its end marker: 1 and 2 are
/// integers (lengths), 3 a 4-byte float, 4 an 8-byte double, 5 a string.
pub(super) fn skip_module_value<R: Read>(input: &mut Input<R>) -> Result<(), RdbError> {
    loop {
        let at = input.offset();
        match input.len("a module value opcode")? {
            0 => return Ok(()),
            1 | 2 => {
                input.len("a module integer")?;
            }
            3 => {
                input.take(4, "a module float")?;
            }
            4 => {
                input.take(8, "a module double")?;
            }
            5 => input.skip_string("a module string")?,
            op => return Err(RdbError::corrupt(at, "a module value opcode (0 to 5)", op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_scores_so_they_read_back_exactly() {
        for s in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1,
            1.5e300,
            -2.5e-300,
            123456789.123,
            1e15,
            9007199254740993.0,
        ] {
            let mut out = Vec::new();
            format_score(s, &mut out);
            let back: f64 = std::str::from_utf8(&out).unwrap().parse().unwrap();
            assert_eq!(back.to_bits(), s.to_bits(), "{s}");
        }
        let mut out = Vec::new();
        format_score(f64::NEG_INFINITY, &mut out);
        out.push(b' ');
        format_score(42.0, &mut out);
        assert_eq!(out, b"-inf 42");
    }
}
