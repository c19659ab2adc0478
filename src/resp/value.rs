//! A reply parser that builds values, for requests made one at a time or a
//! few at a time (setup: AUTH, SELECT, HELLO, CLUSTER SLOTS, COMMAND; and
//! reading data back). The load itself never builds a reply: see
//! [`super::scan`]. RESP3's types stay what they are: a set is a set, a map
//! a map, a double a double.

use memchr::memchr;

use super::parse_strict_i64;
use super::scan::{MAX_DEPTH, ScanError};

/// One reply, materialised.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `+` simple string.
    Status(String),
    /// `-` or `!` error.
    Error(String),
    /// `:` integer.
    Int(i64),
    /// `$` string.
    Bulk(Vec<u8>),
    /// `=` verbatim string: its format (`txt`, `mkd`) and its text.
    Verbatim {
        /// The three-letter format.
        format: String,
        /// The text.
        text: Vec<u8>,
    },
    /// `$-1`, `*-1` or `_`.
    Null,
    /// `*` array.
    Array(Vec<Value>),
    /// `~` set.
    Set(Vec<Value>),
    /// `%` map, in the order the server sent it.
    Map(Vec<(Value, Value)>),
    /// `,` double (`inf`, `-inf` and `nan` included).
    Double(f64),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `(` big number, as its digits.
    BigNumber(String),
    /// `>` out-of-band push.
    Push(Vec<Value>),
}

impl Value {
    /// The bytes of a string-like value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Verbatim { text: b, .. } => Some(b),
            Value::Status(s) | Value::BigNumber(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The integer of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an aggregate; a map's entries are flattened.
    pub fn into_items(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            Value::Map(m) => Some(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
            _ => None,
        }
    }

    /// The text of an error reply.
    pub fn error(&self) -> Option<&str> {
        match self {
            Value::Error(e) => Some(e),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Status(s) | Value::Error(s) | Value::BigNumber(s) => f.write_str(s),
            Value::Int(n) => write!(f, "{n}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Bulk(b) | Value::Verbatim { text: b, .. } => {
                f.write_str(&String::from_utf8_lossy(b))
            }
            Value::Null => f.write_str("(nil)"),
            Value::Array(_) | Value::Set(_) | Value::Push(_) | Value::Map(_) => {
                f.write_str("(aggregate)")
            }
        }
    }
}

/// Parses one reply at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the value and the bytes it used. Attributes are dropped.
///
/// # Errors
///
/// A protocol violation.
pub fn parse_value(buf: &[u8]) -> Result<Option<(Value, usize)>, ScanError> {
    parse_at(buf, 0, 0)
}

/// Parses the value at `pos`, inside `depth` open aggregates.
fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Value, usize)>, ScanError> {
    let Some(nl) = memchr(b'\n', &buf[pos..]) else {
        return Ok(None);
    };
    if nl < 2 || buf[pos + nl - 1] != b'\r' {
        return Err(ScanError::MissingCrlf);
    }
    let ty = buf[pos];
    let body = &buf[pos + 1..pos + nl - 1];
    let text = || String::from_utf8_lossy(body).into_owned();
    let next = pos + nl + 1;
    let leaf = |v| Ok(Some((v, next)));
    match ty {
        b'+' => leaf(Value::Status(text())),
        b'-' => leaf(Value::Error(text())),
        b':' => leaf(Value::Int(
            parse_strict_i64(body).ok_or(ScanError::BadLength(ty))?,
        )),
        b'_' => leaf(Value::Null),
        b',' => leaf(Value::Double(
            text().parse().map_err(|_| ScanError::BadLength(ty))?,
        )),
        b'#' => match body {
            b"t" => leaf(Value::Boolean(true)),
            b"f" => leaf(Value::Boolean(false)),
            _ => Err(ScanError::BadLength(ty)),
        },
        b'(' => leaf(Value::BigNumber(text())),
        b'$' | b'=' | b'!' => {
            if body == b"-1" && ty == b'$' {
                return leaf(Value::Null);
            }
            let len = parse_len(ty, body)? as usize;
            if buf.len() < next + len + 2 {
                return Ok(None);
            }
            if &buf[next + len..next + len + 2] != b"\r\n" {
                return Err(ScanError::MissingCrlf);
            }
            let bytes = buf[next..next + len].to_vec();
            let v = match ty {
                b'!' => Value::Error(String::from_utf8_lossy(&bytes).into_owned()),
                b'=' if len >= 4 && bytes[3] == b':' => Value::Verbatim {
                    format: String::from_utf8_lossy(&bytes[..3]).into_owned(),
                    text: bytes[4..].to_vec(),
                },
                _ => Value::Bulk(bytes),
            };
            Ok(Some((v, next + len + 2)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            if body == b"-1" && ty == b'*' {
                return leaf(Value::Null);
            }
            let n = parse_len(ty, body)?;
            let count = if matches!(ty, b'%' | b'|') { n * 2 } else { n };
            // The same cap as the scanner's: at most MAX_DEPTH open at once.
            if count > 0 && depth >= MAX_DEPTH {
                return Err(ScanError::TooDeep);
            }
            let mut items = Vec::with_capacity(count.min(1024) as usize);
            let mut at = next;
            for _ in 0..count {
                let Some((v, end)) = parse_at(buf, at, depth + 1)? else {
                    return Ok(None);
                };
                items.push(v);
                at = end;
            }
            let v = match ty {
                b'|' => return parse_at(buf, at, depth),
                b'>' => Value::Push(items),
                b'~' => Value::Set(items),
                b'%' => {
                    let mut it = items.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Value::Map(pairs)
                }
                _ => Value::Array(items),
            };
            Ok(Some((v, at)))
        }
        other => Err(ScanError::UnknownType(other)),
    }
}

fn parse_len(ty: u8, body: &[u8]) -> Result<u64, ScanError> {
    match parse_strict_i64(body) {
        Some(n) if (0..=u32::MAX as i64).contains(&n) => Ok(n as u64),
        _ => Err(ScanError::BadLength(ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(buf: &[u8]) -> Value {
        let (v, used) = parse_value(buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        v
    }

    #[test]
    fn parses_scalars() {
        assert_eq!(one(b"+OK\r\n"), Value::Status("OK".into()));
        assert_eq!(one(b"-ERR no\r\n").error(), Some("ERR no"));
        assert_eq!(one(b":-5\r\n"), Value::Int(-5));
        assert_eq!(one(b"$3\r\na\r\n\r\n"), Value::Bulk(b"a\r\n".to_vec()));
        assert_eq!(one(b"_\r\n"), Value::Null);
        assert_eq!(one(b"!3\r\nbad\r\n").error(), Some("bad"));
    }

    #[test]
    fn parses_aggregates_and_drops_attributes() {
        let v = one(b"*2\r\n:1\r\n%1\r\n+k\r\n$1\r\nv\r\n");
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Int(1),
                Value::Map(vec![(
                    Value::Status("k".into()),
                    Value::Bulk(b"v".to_vec())
                )])
            ])
        );
        assert_eq!(one(b"|1\r\n+a\r\n+b\r\n:7\r\n"), Value::Int(7));
    }

    #[test]
    fn keeps_resp3_types_as_they_are() {
        assert_eq!(one(b",1.5\r\n"), Value::Double(1.5));
        assert_eq!(one(b",-inf\r\n"), Value::Double(f64::NEG_INFINITY));
        assert!(matches!(one(b",nan\r\n"), Value::Double(d) if d.is_nan()));
        assert_eq!(one(b"#t\r\n"), Value::Boolean(true));
        assert_eq!(
            one(b"(12345678901234567890\r\n"),
            Value::BigNumber("12345678901234567890".into())
        );
        assert_eq!(
            one(b"~2\r\n:1\r\n:2\r\n"),
            Value::Set(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(
            one(b"=8\r\ntxt:abcd\r\n"),
            Value::Verbatim {
                format: "txt".into(),
                text: b"abcd".to_vec()
            }
        );
    }

    #[test]
    fn needs_more_bytes_for_a_partial_reply() {
        for partial in [&b"*2\r\n:1\r\n"[..], b"$5\r\nab", b"+O"] {
            assert_eq!(parse_value(partial), Ok(None));
        }
    }
}
