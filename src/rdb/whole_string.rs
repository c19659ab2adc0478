//! A fast path for the commonest key of all: a string, small enough to be
//! in the read buffer whole. It is read in one step, with none of the
//! three events (start, piece, end) a key otherwise takes; anything else
//! (another type, an LZF or integer-encoded key, an expiry in seconds, a
//! key that runs past the buffer, a key that may go as `RESTORE`) goes the
//! general way.

use std::io::Read;

use super::{RdbReader, State};

/// A string key read whole by [`RdbReader::whole_string`].
pub(crate) struct WholeString<'a> {
    pub db: u64,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub expire_at_ms: Option<i64>,
}

/// A raw string's length at `buf[at]` (RDB's length encoding), and the
/// bytes the length takes; `None` for a special encoding, or if it runs
/// past `buf`.
fn raw_len(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let b = *buf.get(at)?;
    let be = |n: usize| -> Option<u64> {
        let bytes = buf.get(at + 1..at + 1 + n)?;
        Some(bytes.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    };
    match b >> 6 {
        0 => Some((usize::from(b & 0x3f), 1)),
        1 => Some((
            usize::from(b & 0x3f) << 8 | usize::from(*buf.get(at + 1)?),
            2,
        )),
        _ if b == 0x80 => Some((usize::try_from(be(4)?).ok()?, 5)),
        _ if b == 0x81 => Some((usize::try_from(be(8)?).ok()?, 9)),
        _ => None,
    }
}

impl<R: Read> RdbReader<R> {
    /// The next key, if it is a string the buffer holds whole (with an
    /// expiry in ms before it, if `expiring`, or none; and an idle time or
    /// frequency, passed over); `None`, having read nothing, for anything
    /// else. Its serialized value is not kept: the
    /// caller writes it as a string, never as `RESTORE`.
    pub(crate) fn whole_string(&mut self, expiring: bool) -> Option<WholeString<'_>> {
        if self.state != State::Top {
            return None;
        }
        let buf = self.input.available();
        let (mut at, mut expire) = (0, None);
        if *buf.first()? == 0xfc && expiring {
            let ms: [u8; 8] = buf.get(1..9)?.try_into().ok()?;
            expire = Some(i64::from_le_bytes(ms));
            at = 9;
        }
        // An LRU idle time or an LFU frequency (a server with such an
        // eviction policy writes one before every key): nothing a string
        // written as a string keeps.
        match *buf.get(at)? {
            0xf8 => at += 1 + raw_len(buf, at + 1)?.1,
            0xf9 => at += 2,
            _ => {}
        }
        if *buf.get(at)? != 0 {
            return None;
        }
        at += 1;
        let (n, len) = raw_len(buf, at)?;
        let key = at + len..(at + len).checked_add(n)?;
        at = key.end;
        let first = *buf.get(at)?;
        let value = if first >> 6 == 3 {
            // An integer, 1, 2 or 4 bytes little-endian: its text.
            let width = match first & 0x3f {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return None,
            };
            let bytes = buf.get(at + 1..at + 1 + width)?;
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(bytes);
            let shift = 64 - 8 * width as u32;
            let v = (i64::from_le_bytes(le) << shift) >> shift;
            self.window.clear();
            self.window
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            at += 1 + width;
            None
        } else {
            let (n, len) = raw_len(buf, at)?;
            let value = at + len..(at + len).checked_add(n)?;
            at = value.end;
            Some(value)
        };
        if at > buf.len() {
            return None;
        }
        self.input.consume(at);
        self.keys += 1;
        let read = self.input.last(at);
        Some(WholeString {
            db: self.db,
            key: &read[key],
            value: match value {
                Some(v) => &read[v],
                None => &self.window,
            },
            expire_at_ms: expire,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::replay::{Replay, ReplayOptions, Step};
    use super::super::tests::Rdb;
    use super::*;
    use crate::filter::KeyFilter;
    use crate::input::testing::Pieces;
    use crate::rebuild::{Commands, Recorded};

    /// Every string encoding a key of type 0 can have, in two databases,
    /// between a list and after an expiry in seconds.
    fn file() -> Vec<u8> {
        let mut r = Rdb::new("REDIS0011");
        r.op(0xfe).len(0);
        r.op(0).str(b"a").str(b"1");
        r.op(0).str(b"empty").str(b"");
        r.op(0).str(b"mid").str(&[b'm'; 100]);
        r.op(0).str(b"long").str(&[b'l'; 20_000]);
        r.op(0).str(b"i8").raw(&[0xc0, 0xfb]);
        r.op(0).str(b"i16").raw(&[0xc1]).raw(&300i16.to_le_bytes());
        r.op(0)
            .str(b"i32")
            .raw(&[0xc2])
            .raw(&(-70_000i32).to_le_bytes());
        r.op(0xfc).ms(4_102_444_800_000).op(0).str(b"ttl").str(b"v");
        // An idle time and a frequency, as eviction policies write them.
        r.op(0xfc)
            .ms(4_102_444_800_001)
            .op(0xf8)
            .len(300)
            .op(0)
            .str(b"idle")
            .str(b"v");
        r.op(0xf9).op(5).op(0).str(b"freq").str(b"v");
        r.op(0xfd)
            .raw(&2_000_000_000u32.to_le_bytes())
            .op(0)
            .str(b"secs")
            .str(b"v");
        // An integer-encoded key; an LZF value (the general way).
        r.op(0).raw(&[0xc0, 7]).str(b"seven");
        r.op(0)
            .str(b"lzf")
            .raw(&[0xc3, 5, 6, 0x01, b'a', b'b', 0x40, 0x01]);
        r.op(1).str(b"list").len(2).str(b"x").str(b"y");
        r.op(0xfe).len(3);
        r.op(0).str(b"three").str(b"3");
        r.end()
    }

    /// The commands a replay of `bytes` writes, the source giving at most
    /// `piece` bytes a read; and the keys it counted.
    fn replayed(bytes: Vec<u8>, piece: usize) -> (Vec<Vec<Vec<u8>>>, u64) {
        let reader = RdbReader::new(Pieces::new(bytes, piece)).unwrap();
        let options = ReplayOptions {
            select: true,
            ..ReplayOptions::default()
        };
        let mut replay = Replay::new(reader, KeyFilter::default(), options);
        let mut out = Commands::new(Recorded::default());
        let mut keys = 0;
        loop {
            match replay.step(&mut out).unwrap() {
                Step::Key(n) => keys = n,
                Step::Other => {}
                Step::End => break,
            }
        }
        (std::mem::take(&mut out.sink().0), keys)
    }

    #[test]
    fn strings_read_whole_are_written_as_read_the_general_way() {
        // Whole, most keys take the fast path; seven bytes a read, the
        // buffer never holds a key whole and none does.
        let (fast, keys) = replayed(file(), usize::MAX);
        let (slow, slow_keys) = replayed(file(), 7);
        assert_eq!(fast, slow);
        assert_eq!((keys, slow_keys), (15, 15));
        let find = |k: &[u8]| {
            fast.iter()
                .find(|c| c.get(1).map(Vec::as_slice) == Some(k))
                .cloned()
        };
        assert_eq!(find(b"i8").unwrap()[2], b"-5");
        assert_eq!(find(b"i16").unwrap()[2], b"300");
        assert_eq!(find(b"i32").unwrap()[2], b"-70000");
        assert_eq!(find(b"long").unwrap()[2].len(), 20_000);
        assert_eq!(find(b"7").unwrap()[2], b"seven");
        assert_eq!(find(b"lzf").unwrap()[2], b"ababab");
        assert_eq!(
            find(b"ttl").unwrap()[3..],
            [b"PXAT".to_vec(), b"4102444800000".to_vec()]
        );
        assert!(fast.contains(&vec![b"SELECT".to_vec(), b"3".to_vec()]));
    }

    #[test]
    fn a_key_cut_by_the_buffer_goes_the_general_way() {
        let mut r = Rdb::new("REDIS0011");
        r.op(0).str(b"k").str(b"value");
        let whole = r.end();
        // Each length of the buffer's first fill: a key and value whole,
        // or cut anywhere.
        for piece in 1..=whole.len() {
            let (got, keys) = replayed(whole.clone(), piece);
            let set = vec![b"SET".to_vec(), b"k".to_vec(), b"value".to_vec()];
            assert_eq!(
                got,
                [vec![b"SELECT".to_vec(), b"0".to_vec()], set],
                "{piece}"
            );
            assert_eq!(keys, 1);
        }
    }
}
