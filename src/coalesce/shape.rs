//! Which commands `--coalesce` merges, and how: the shape of each (one key
//! and a list of items that a variadic form of the command takes in the
//! same order), and the checks that make merging change nothing but the
//! number of commands.
//!
//! A command merges only if it is certain to be valid: a merged command
//! that failed for one of its parts would fail for all of them, where one
//! by one only that part would have. So arities are checked here, and
//! `ZADD`'s scores and `GEOADD`'s positions are parsed as strictly as the
//! server parses them.

/// What a mergeable command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `SET key value`, merged across keys into `MSET`.
    Set,
    /// `RPUSH key element...`
    Rpush,
    /// `LPUSH key element...`
    Lpush,
    /// `SADD key member...`
    Sadd,
    /// `SREM key member...`
    Srem,
    /// `HSET key field value...`
    Hset,
    /// `HMSET key field value...`, merged as itself: a user may be allowed
    /// one and not the other.
    Hmset,
    /// `HDEL key field...`
    Hdel,
    /// `ZADD key score member...`, without flags.
    Zadd,
    /// `ZREM key member...`
    Zrem,
    /// `PFADD key element...`
    Pfadd,
    /// `GEOADD key longitude latitude member...`, without flags.
    Geoadd,
}

impl Kind {
    /// The command a merged run is sent as.
    pub(crate) fn name(self) -> &'static [u8] {
        match self {
            Kind::Set => b"MSET",
            Kind::Rpush => b"RPUSH",
            Kind::Lpush => b"LPUSH",
            Kind::Sadd => b"SADD",
            Kind::Srem => b"SREM",
            Kind::Hset => b"HSET",
            Kind::Hmset => b"HMSET",
            Kind::Hdel => b"HDEL",
            Kind::Zadd => b"ZADD",
            Kind::Zrem => b"ZREM",
            Kind::Pfadd => b"PFADD",
            Kind::Geoadd => b"GEOADD",
        }
    }

    /// Whether running a command of this kind again, after everything on
    /// its key up to the end of the load has run, leaves the key as it is:
    /// each item's last write wins. A load that resumes from before such a
    /// command may send it again harmlessly, so its merges may gather items
    /// from across other commands. `RPUSH` and `LPUSH` add an element each
    /// time: they merge only runs of consecutive commands, so the resume
    /// point stays exact.
    pub(crate) fn idempotent(self) -> bool {
        !matches!(self, Kind::Rpush | Kind::Lpush)
    }
}

/// Items past the key that each command of `kind` must have, in multiples.
fn item_arity(kind: Kind) -> (usize, usize) {
    // (at least, in multiples of)
    match kind {
        Kind::Set => (1, 1),
        Kind::Hset | Kind::Hmset | Kind::Zadd => (2, 2),
        Kind::Geoadd => (3, 3),
        _ => (1, 1),
    }
}

/// The kind of a command, if it is one `--coalesce` may merge; `args` are
/// its arguments, the name first, then the key, then the items.
#[inline]
pub(crate) fn mergeable<'a>(mut args: impl ExactSizeIterator<Item = &'a [u8]>) -> Option<Kind> {
    let n = args.len();
    let name = args.next()?;
    let kind = kind_of(name)?;
    if n < 2 {
        return None;
    }
    let items = n - 2;
    let (least, multiple) = item_arity(kind);
    if items < least || !items.is_multiple_of(multiple) {
        return None;
    }
    if kind == Kind::Set && items != 1 {
        // SET with options (EX, NX, GET...) is not a plain SET.
        return None;
    }
    let _key = args.next()?;
    match kind {
        // Every score must be valid, and a first one that is a flag (NX,
        // GT, CH, INCR...) is not a score: such ZADDs do not merge.
        Kind::Zadd => {
            while let Some(score) = args.next() {
                if !is_score(score) {
                    return None;
                }
                args.next()?;
            }
        }
        // The same for coordinates, which must also be in range: the
        // server checks every pair before it adds any.
        Kind::Geoadd => {
            while let Some(longitude) = args.next() {
                let latitude = args.next()?;
                if !is_position(longitude, latitude) {
                    return None;
                }
                args.next()?;
            }
        }
        _ => {}
    }
    Some(kind)
}

#[inline]
fn kind_of(name: &[u8]) -> Option<Kind> {
    if name.len() > 6 {
        return None;
    }
    let mut upper = [0u8; 6];
    upper[..name.len()].copy_from_slice(name);
    upper.make_ascii_uppercase();
    Some(match &upper[..name.len()] {
        b"SET" => Kind::Set,
        b"RPUSH" => Kind::Rpush,
        b"LPUSH" => Kind::Lpush,
        b"SADD" => Kind::Sadd,
        b"SREM" => Kind::Srem,
        b"HSET" => Kind::Hset,
        b"HMSET" => Kind::Hmset,
        b"HDEL" => Kind::Hdel,
        b"ZADD" => Kind::Zadd,
        b"ZREM" => Kind::Zrem,
        b"PFADD" => Kind::Pfadd,
        b"GEOADD" => Kind::Geoadd,
        _ => return None,
    })
}

/// Whether the server is certain to accept `s` as a sorted-set score. The
/// server parses scores with `strtod` and refuses leading space, trailing
/// bytes, NaN, and overflow or underflow; this accepts a plain subset that
/// parses the same everywhere: `[+-]?digits[.digits][e[+-]digits]` (a bare
/// `.5` or `5.` included), or `inf` with an optional sign. Anything else is
/// left to the server, one command at a time.
pub(crate) fn is_score(s: &[u8]) -> bool {
    parse_double(s).is_some()
}

/// Whether `GEOADD` is certain to accept this pair: both numbers as
/// [`is_score`] takes them, within the server's limits (`GEO_LONG_MIN`...
/// in `geohash.h`), bounds included.
pub(crate) fn is_position(longitude: &[u8], latitude: &[u8]) -> bool {
    const LONGITUDE: f64 = 180.0;
    const LATITUDE: f64 = 85.051_128_78;
    matches!(
        (parse_double(longitude), parse_double(latitude)),
        (Some(x), Some(y)) if x.abs() <= LONGITUDE && y.abs() <= LATITUDE
    )
}

/// The value of `s` if it is in the subset [`is_score`] describes.
fn parse_double(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    let unsigned = match s[0] {
        b'+' | b'-' => &s[1..],
        _ => s,
    };
    if unsigned.eq_ignore_ascii_case(b"inf") {
        return Some(if s[0] == b'-' {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let (mantissa, exponent) = match unsigned.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &b""[..]),
    };
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    if let Some(e) = exponent {
        let e = match e.first() {
            Some(b'+' | b'-') => &e[1..],
            _ => e,
        };
        if e.is_empty() || !digits(e) {
            return None;
        }
    }
    // Overflow and underflow are errors to the server (ERANGE).
    let text = std::str::from_utf8(s).expect("checked ASCII");
    let v = text.parse::<f64>().ok()?;
    let zero_digits = int.iter().chain(frac).all(|&b| b == b'0');
    (v.is_finite() && (v == 0.0) == zero_digits && (v == 0.0 || v.abs() >= f64::MIN_POSITIVE))
        .then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(line: &str) -> Option<Kind> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        mergeable(args.into_iter())
    }

    #[test]
    fn merges_only_valid_plain_forms() {
        assert_eq!(shape_of("SET k v"), Some(Kind::Set));
        assert_eq!(shape_of("set k v"), Some(Kind::Set));
        assert_eq!(shape_of("SET k v EX 10"), None);
        assert_eq!(shape_of("SET k"), None);
        assert_eq!(shape_of("RPUSH l a b"), Some(Kind::Rpush));
        assert_eq!(shape_of("RPUSH l"), None);
        assert_eq!(shape_of("HSET h f v g w"), Some(Kind::Hset));
        assert_eq!(shape_of("HMSET h f v"), Some(Kind::Hmset));
        assert_eq!(shape_of("HSET h f"), None);
        assert_eq!(shape_of("HSET h f v g"), None);
        assert_eq!(shape_of("ZADD z 1 a 2.5 b"), Some(Kind::Zadd));
        assert_eq!(shape_of("ZADD z NX 1 a"), None);
        assert_eq!(shape_of("ZADD z INCR 1 a"), None);
        assert_eq!(shape_of("ZADD z 1 a x"), None);
        assert_eq!(shape_of("ZADD z nan a"), None);
        assert_eq!(shape_of("PFADD p"), None, "creates the key: not merged");
        assert_eq!(shape_of("PFADD p x"), Some(Kind::Pfadd));
        assert_eq!(shape_of("GET k"), None);
        assert_eq!(shape_of("SETNX k v"), None);
        assert_eq!(
            shape_of("GEOADD g 13.36 38.11 a -180 85.05112878 b"),
            Some(Kind::Geoadd)
        );
        assert_eq!(shape_of("GEOADD g 13.36 38.11"), None);
        assert_eq!(shape_of("GEOADD g NX 13.36 38.11 a"), None);
        assert_eq!(shape_of("GEOADD g 180.0001 0 a"), None);
        assert_eq!(shape_of("GEOADD g 0 85.05112879 a"), None);
        assert_eq!(shape_of("GEOADD g 0 -85.06 a"), None);
        assert_eq!(shape_of("GEOADD g inf 0 a"), None);
    }

    #[test]
    fn scores_are_those_strtod_takes_without_range_errors() {
        for ok in [
            "0", "-0", "1", "+1", "-1.5", "1e3", "1E-3", ".5", "5.", "inf", "-inf", "+INF",
            "1e308", "0.000",
        ] {
            assert!(is_score(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", " 1", "1 ", "nan", "1e", "e5", ".", "1.2.3", "0x10", "infinity", "1e400", "-1e400",
            "1e-400", "1,5", "--1", "+",
        ] {
            assert!(!is_score(bad.as_bytes()), "{bad}");
        }
    }
}
