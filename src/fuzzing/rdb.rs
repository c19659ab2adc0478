//! The RDB reader's property: whatever the bytes, it never panics, ends
//! (every event consumes input, so a stream of events cannot be endless),
//! and reads the same events and the same error whether the bytes arrive
//! whole or in small reads. And its replay writes the same commands either
//! way: whole, most string keys are in the read buffer and take the
//! replay's fast path (`RdbReader::whole_string`); a byte a read, none does.

use std::io::Read;

use crate::filter::KeyFilter;
use crate::input::testing::Pieces;
use crate::rdb::replay::{Replay, ReplayOptions, Step};
use crate::rdb::{Event, RdbReader};
use crate::rebuild::{Commands, Recorded};

/// The most events read from one input: far more than an input of a few
/// hundred KiB can hold, so reaching it means the reader loops.
const MAX_EVENTS: usize = 10_000_000;

/// The reader on `data` whole and in pieces (the first byte picks the
/// largest read): same transcript, no panic.
pub fn rdb_file(data: &[u8]) {
    let Some((&n, rdb)) = data.split_first() else {
        return;
    };
    let whole = transcript(rdb);
    let pieces = transcript(Pieces::new(rdb.to_vec(), usize::from(n % 32) + 1));
    assert_eq!(whole, pieces, "reading depends on how the bytes arrived");
    // Replayed as a dump converts it (every string a command), and as a
    // load into a server that reads the file's payloads.
    let load = ReplayOptions {
        select: true,
        restore_upto: Some(12),
        ..ReplayOptions::default()
    };
    // Byte by byte, the buffer never holds more than was asked for, so no
    // key takes the fast path.
    for options in [ReplayOptions::default(), load] {
        let whole = replayed(rdb, options);
        let bytes = replayed(Pieces::new(rdb.to_vec(), 1), options);
        assert_eq!(whole, bytes, "replaying depends on how the bytes arrived");
    }
}

/// Every command a replay of `src` wrote, then the error that stopped it,
/// if one did, and the keys read.
fn replayed(src: impl Read, options: ReplayOptions) -> Vec<String> {
    let reader = match RdbReader::new(src) {
        Ok(r) => r,
        Err(e) => return vec![e.to_string()],
    };
    let mut replay = Replay::new(reader, KeyFilter::default(), options);
    let mut out = Commands::new(Recorded::default());
    let mut steps = 0;
    let stop = loop {
        match replay.step(&mut out) {
            Ok(Step::End) => break None,
            Ok(_) => {}
            Err(e) => break Some(e.to_string()),
        }
        steps += 1;
        assert!(steps < MAX_EVENTS, "the replay does not end");
    };
    let mut t: Vec<String> = out.sink().0.iter().map(|c| format!("{c:?}")).collect();
    t.extend(stop);
    t.push(format!("{} keys", replay.reader().keys_done()));
    t
}

/// Every event as text, then the error (with its offset and keys done)
/// that stopped the reader, if one did.
fn transcript(src: impl Read) -> Vec<String> {
    let mut out = Vec::new();
    let mut reader = match RdbReader::new(src) {
        Ok(r) => r.with_raw_limit(64),
        Err(e) => return vec![e.to_string()],
    };
    loop {
        match reader.next() {
            Ok(Some(e)) => {
                if let Event::End { .. } = e {
                    out.push(format!("{e:?}"));
                    return out;
                }
                out.push(format!("{e:?}"));
            }
            Ok(None) => return out,
            Err(e) => {
                assert_eq!(e.keys_done(), reader.keys_done(), "{e}");
                out.push(e.to_string());
                return out;
            }
        }
        assert!(out.len() < MAX_EVENTS, "the reader does not end");
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, RngExt, SeedableRng};

    /// Every RDB fixture, the seeds of the fuzz target too.
    const FIXTURES: [&[u8]; 11] = [
        include_bytes!("../../tests/fixtures/rdb/redis-7.0.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-7.2.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-7.4-module.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-corrupt_empty_keys.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-corrupt_ziplist.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-encodings.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-hash-ziplist.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-hash-zipmap.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-list-quicklist.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-scriptbackup.rdb"),
        include_bytes!("../../tests/fixtures/rdb/redis-zset-ziplist.rdb"),
    ];

    /// Bytes that mean something to the format: length markers, the LZF
    /// and integer encodings, opcodes, listpack and ziplist encodings.
    const MEANINGFUL: [u8; 12] = [
        0x00, 0x3f, 0x40, 0x80, 0x81, 0xc0, 0xc3, 0xf0, 0xf4, 0xfe, 0xff, 0x7f,
    ];

    fn mutate(rng: &mut StdRng, data: &[u8]) -> Vec<u8> {
        let mut d = data.to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(9..d.len().max(10)).min(d.len());
            match rng.random_range(0..5) {
                0 if at < d.len() => d[at] ^= 1 << rng.random_range(0..8),
                1 if at < d.len() => d[at] = MEANINGFUL[rng.random_range(0..MEANINGFUL.len())],
                2 => d.truncate(at),
                3 => d.insert(at, rng.next_u32() as u8),
                _ if at < d.len() => drop(d.remove(at)),
                _ => {}
            }
        }
        d
    }

    #[test]
    fn mutated_and_truncated_fixtures_never_panic_and_read_the_same_in_pieces() {
        let mut rng = StdRng::seed_from_u64(25);
        for case in 0..4_400 {
            let fixture = FIXTURES[case % FIXTURES.len()];
            let mut data = vec![rng.next_u32() as u8];
            data.extend_from_slice(&mutate(&mut rng, fixture));
            super::rdb_file(&data);
        }
    }

    #[test]
    fn the_fixtures_read_whole_the_same_in_pieces() {
        for (i, f) in FIXTURES.iter().enumerate() {
            let mut data = vec![i as u8];
            data.extend_from_slice(f);
            super::rdb_file(&data);
        }
    }
}
