//! Property checks for the fuzz targets in `fuzz/`, also run with seeded
//! random input by `cargo test`. Each takes arbitrary bytes and panics if a
//! property fails; none may panic for any other reason.

use std::io::{self, Read};

mod coalesce;
mod model;
mod rdb;
mod records;
pub use coalesce::coalesce;
pub use rdb::rdb_file;
pub use records::{csv_records, json_records, records};

use crate::input::inline::split_inline;
use crate::input::plain::PlainLines;
use crate::input::testing::{Pieces, quote};
use crate::input::{ArgBuf, Args, InputReader};
use crate::resp::{ReplyScanner, ScanError, Value, parse_value};

/// The inline tokenizer on one line: it never panics; a line it accepts,
/// requoted, tokenizes to the same arguments; and the SIMD fast path, where
/// it takes a line, agrees with it.
pub fn inline_line(data: &[u8]) {
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut args = ArgBuf::default();
    let Ok(()) = split_inline(line, &mut args) else {
        return;
    };
    let general: Vec<Vec<u8>> = args.args(line).iter().map(<[u8]>::to_vec).collect();
    if !general.is_empty() {
        check_encoding(&general);
    }

    let mut requoted = Vec::new();
    for (i, a) in general.iter().enumerate() {
        if i > 0 {
            requoted.push(b' ');
        }
        quote(a, &mut requoted);
    }
    let mut again = ArgBuf::default();
    split_inline(&requoted, &mut again).expect("a requoted line is valid");
    let round: Vec<Vec<u8>> = again.args(&requoted).iter().map(<[u8]>::to_vec).collect();
    assert_eq!(
        round, general,
        "requoting changed the arguments of {line:?}"
    );

    // The fast path sees the line as the reader would: ended by `\n`, with
    // room for whole blocks after it.
    let mut buf = line.to_vec();
    buf.push(b'\n');
    buf.extend_from_slice(&[b' '; 128]);
    buf.push(b'\n');
    let mut plain = PlainLines::default();
    plain.split(&buf, 0, buf.len());
    if let Some(first) = plain
        .lines
        .first()
        .filter(|l| l.start == 0 && l.end == line.len())
    {
        let fast: Vec<Vec<u8>> = Args::new(&buf, &[], &plain.spans[first.args.clone()])
            .iter()
            .map(<[u8]>::to_vec)
            .collect();
        let stripped = line.strip_suffix(b"\r").unwrap_or(line);
        let mut exact = ArgBuf::default();
        split_inline(stripped, &mut exact).expect("a plain line is valid");
        let exact: Vec<Vec<u8>> = exact.args(stripped).iter().map(<[u8]>::to_vec).collect();
        assert_eq!(fast, exact, "the fast path disagrees on {line:?}");
    }
}

/// The encoder (which writes through raw pointers) must give exactly what a
/// plain, obviously correct encoding gives, after arbitrary bytes.
fn check_encoding(args: &[Vec<u8>]) {
    let mut want = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        want.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        want.extend_from_slice(a);
        want.extend_from_slice(b"\r\n");
    }
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let mut got = b"prefix".to_vec();
    crate::resp::encode_command(&mut got, &refs[..]);
    assert_eq!(&got[6..], &want[..], "the encoder disagrees on {args:?}");
}

/// One thing the reader produced.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Command {
        line: u64,
        offset: u64,
        args: Vec<Vec<u8>>,
        resp: bool,
    },
    Invalid {
        line: u64,
        what: String,
    },
}

/// The input reader on a stream: never panics, and gives the same commands
/// and errors (carrying on after each error, as `--skip-invalid` does)
/// whether the input arrives whole or in reads of 1 to N bytes. The first
/// byte picks N.
pub fn input_stream(data: &[u8]) {
    let Some((&n, input)) = data.split_first() else {
        return;
    };
    let whole = transcript(Box::new(io::Cursor::new(input.to_vec())));
    let pieces = transcript(Box::new(Pieces::new(
        input.to_vec(),
        usize::from(n % 64) + 1,
    )));
    assert_eq!(whole, pieces, "framing depends on how the input was read");
}

fn transcript(reader: Box<dyn Read + Send>) -> Vec<Event> {
    let mut r = InputReader::from_readers(vec!["fuzz".into()], vec![reader]);
    let mut events = Vec::new();
    loop {
        match r.next_command() {
            Ok(Some(c)) => events.push(Event::Command {
                line: c.pos.line,
                offset: c.pos.offset,
                args: c.args.iter().map(<[u8]>::to_vec).collect(),
                resp: c.resp.is_some(),
            }),
            Ok(None) => return events,
            Err(crate::input::InputError::Invalid { at, kind }) => events.push(Event::Invalid {
                line: at.line,
                what: kind.to_string(),
            }),
            Err(e) => panic!("reading from memory failed: {e}"),
        }
    }
}

/// The reply scanner on a stream: never panics; counts the same replies
/// and errors, and fails the same way, whether the bytes arrive whole or
/// in pieces (the first byte picks the piece size and the batch limit);
/// and wherever the value parser reads a prefix of the stream, the scanner
/// counts the same replies there.
pub fn reply_stream(data: &[u8]) {
    let Some((&n, stream)) = data.split_first() else {
        return;
    };
    let whole = scan(stream, stream.len().max(1), u64::MAX);
    let pieces = scan(stream, usize::from(n % 16) + 1, u64::from(n % 5) + 1);
    assert_eq!(whole, pieces, "scanning depends on how the replies arrived");

    // One scanner follows the parser value by value, so this stays linear.
    let mut scanner = ReplyScanner::new();
    let (mut at, mut values, mut counted) = (0, 0, 0);
    while let Ok(Some((v, used))) = parse_value(&stream[at..]) {
        let mut rest = &stream[at..at + used];
        at += used;
        values += u64::from(!matches!(v, Value::Push(_)));
        while !rest.is_empty() {
            let b = scanner.scan(rest, u64::MAX);
            assert!(
                b.error.is_none() && b.consumed > 0,
                "the scanner stops at {:?} in {:?}",
                b.error,
                &stream[..at]
            );
            counted += b.replies;
            rest = &rest[b.consumed..];
        }
        assert_eq!(
            counted,
            values,
            "the scanner disagrees with the parser on {:?}",
            &stream[..at]
        );
    }
}

/// Scans `stream` fed `piece` bytes at a time with batches of at most
/// `max`: (replies, error replies, protocol error).
fn scan(stream: &[u8], piece: usize, max: u64) -> (u64, u64, Option<ScanError>) {
    let mut scanner = ReplyScanner::new();
    let (mut replies, mut errors) = (0, 0);
    let mut pending = Vec::new();
    for chunk in stream.chunks(piece) {
        pending.extend_from_slice(chunk);
        loop {
            let b = scanner.scan(&pending, max);
            replies += b.replies;
            errors += u64::from(b.ended_in_error());
            if b.error.is_some() {
                return (replies, errors, b.error);
            }
            pending.drain(..b.consumed);
            if b.consumed == 0 {
                break;
            }
        }
    }
    (replies, errors, None)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, RngExt, SeedableRng};

    /// Random bytes drawn mostly from the ones that matter to a parser.
    fn noise(rng: &mut StdRng, alphabet: &[u8]) -> Vec<u8> {
        let len = rng.random_range(0..300);
        (0..len)
            .map(|_| {
                if rng.random_bool(0.9) {
                    alphabet[rng.random_range(0..alphabet.len())]
                } else {
                    rng.next_u32() as u8
                }
            })
            .collect()
    }

    #[test]
    fn inline_properties_hold_on_random_lines() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20_000 {
            super::inline_line(&noise(&mut rng, b"ab \t\r\x0b\x0c\"'\\x41\0"));
        }
    }

    #[test]
    fn input_framing_is_independent_of_read_sizes() {
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..5_000 {
            super::input_stream(&noise(&mut rng, b"*$0123\r\n SETab\"'\\-"));
        }
    }

    /// Plain against `--coalesce` on random command streams, as users of
    /// every ACL kind, with transactions and WATCH in the mix. 20,000
    /// streams by default; `RLOAD_COALESCE_SEEDS=N` runs N (and
    /// `RLOAD_COALESCE_FIRST=S` starts at seed S).
    #[test]
    fn coalescing_changes_neither_the_data_nor_the_errors() {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let first = var("RLOAD_COALESCE_FIRST", 0);
        for seed in first..first + var("RLOAD_COALESCE_SEEDS", 20_000) {
            let mut rng = StdRng::seed_from_u64(seed);
            let len = rng.random_range(0..400);
            let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            if std::panic::catch_unwind(|| super::coalesce(&data)).is_err() {
                panic!("seed {seed} fails: {data:?}");
            }
        }
    }

    /// Every committed seed of every fuzz target passes its check.
    #[test]
    fn the_committed_fuzz_seeds_hold() {
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 5] = [
            ("inline", super::inline_line),
            ("input", super::input_stream),
            ("replies", super::reply_stream),
            ("coalesce", super::coalesce),
            ("records", super::records),
        ];
        for (target, check) in targets {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(target);
            for seed in std::fs::read_dir(&dir).unwrap() {
                check(&std::fs::read(seed.unwrap().path()).unwrap());
            }
        }
    }

    #[test]
    fn reply_scanning_is_independent_of_arrival_and_agrees_with_the_parser() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20_000 {
            super::reply_stream(&noise(&mut rng, b"+-:$*%~>|_,#(!=.;?0123\r\nab"));
        }
    }
}
