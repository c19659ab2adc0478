//! Redis's compact blobs, decoded: listpack (`listpack.c`), ziplist
//! (`ziplist.c`), intset (`intset.c`) and zipmap (`zipmap.c`). Each is
//! checked as it is walked, so a corrupt blob is an error, never a panic or
//! a read past its end. A blob is decoded whole: the server bounds its size
//! (`*-max-listpack-*`, `list-max-listpack-size`, `stream-node-max-bytes`).

use super::elems::Flat;

/// What was wrong in a blob, and where (an offset into it).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Bad {
    pub at: usize,
    pub expected: &'static str,
    pub found: String,
}

fn bad(at: usize, expected: &'static str, found: impl ToString) -> Bad {
    Bad {
        at,
        expected,
        found: found.to_string(),
    }
}

/// One element of a listpack or ziplist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Entry<'_> {
    /// Appends the element to `out`, an integer as its decimal text.
    pub(super) fn push_to(self, out: &mut Flat) {
        match self {
            Entry::Int(v) => out.push_int(v),
            Entry::Str(s) => out.push(s),
        }
    }
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

/// Sign-extends the low `bits` of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// The listpack's entries: `<total bytes: u32 LE> <count: u16 LE>`, then
/// entries, each `<encoding+data> <backlen>`, then `0xff`.
pub(super) struct Listpack<'a> {
    blob: &'a [u8],
    at: usize,
    seen: usize,
    declared: u16,
}

/// Opens a listpack, checking its header.
pub(super) fn listpack(blob: &[u8]) -> Result<Listpack<'_>, Bad> {
    if blob.len() < 7 {
        return Err(bad(0, "a listpack of at least 7 bytes", blob.len()));
    }
    let total = le(&blob[..4]);
    if total != blob.len() as u64 {
        return Err(bad(
            0,
            "a listpack whose header gives its size",
            format!("{total} for {} bytes", blob.len()),
        ));
    }
    Ok(Listpack {
        blob,
        at: 6,
        seen: 0,
        declared: le(&blob[4..6]) as u16,
    })
}

impl<'a> Listpack<'a> {
    /// The next entry, or `None` at the end marker (which must end the
    /// blob, after as many entries as the header says unless it says
    /// 65535, "unknown").
    pub(super) fn next_entry(&mut self) -> Result<Option<Entry<'a>>, Bad> {
        let (b, at) = (self.blob, self.at);
        let first = *b
            .get(at)
            .ok_or_else(|| bad(at, "a listpack entry or its end", "the blob's end"))?;
        // The common cases, a 7-bit integer or a string under 64 bytes,
        // have a one-byte back-length: their size.
        if first < 0xc0 {
            let n = if first < 0x80 {
                0
            } else {
                usize::from(first & 0x3f)
            };
            if b.get(at + 1 + n)
                .is_some_and(|&back| usize::from(back) == n + 1)
            {
                self.at = at + n + 2;
                self.seen += 1;
                return Ok(Some(if first < 0x80 {
                    Entry::Int(i64::from(first))
                } else {
                    Entry::Str(&b[at + 1..at + 1 + n])
                }));
            }
        }
        if first == 0xff {
            if at + 1 != b.len() {
                return Err(bad(
                    at,
                    "the listpack's end marker as its last byte",
                    "bytes after it",
                ));
            }
            if self.declared != u16::MAX && usize::from(self.declared) != self.seen {
                return Err(bad(
                    4,
                    "a listpack count that matches its entries",
                    format!("{} for {}", self.declared, self.seen),
                ));
            }
            return Ok(None);
        }
        let (entry, size) = self.decode(first)?;
        let backlen = match size {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        let end = at + size + backlen;
        if end > b.len() {
            return Err(bad(
                at,
                "a listpack entry inside the blob",
                "one past its end",
            ));
        }
        let mut len = 0u64;
        for (k, &byte) in b[at + size..end].iter().rev().enumerate() {
            len |= u64::from(byte & 127) << (7 * k);
        }
        if len != size as u64 {
            return Err(bad(
                at + size,
                "a listpack back-length that matches its entry",
                len,
            ));
        }
        self.at = end;
        self.seen += 1;
        Ok(Some(entry))
    }

    /// The entry whose encoding byte is `first`, and its size without the
    /// back-length.
    fn decode(&self, first: u8) -> Result<(Entry<'a>, usize), Bad> {
        let (b, at) = (self.blob, self.at);
        let field = |from: usize, n: usize| {
            b.get(at + from..at + from + n)
                .ok_or_else(|| bad(at, "a listpack entry inside the blob", "one past its end"))
        };
        let string = |hdr: usize, n: usize| Ok((Entry::Str(field(hdr, n)?), hdr + n));
        let int = |n: usize| Ok((Entry::Int(signed(le(field(1, n)?), 8 * n as u32)), 1 + n));
        match first {
            0x00..=0x7f => Ok((Entry::Int(i64::from(first)), 1)),
            0x80..=0xbf => string(1, usize::from(first & 0x3f)),
            0xc0..=0xdf => {
                let v = u64::from(first & 0x1f) << 8 | u64::from(field(1, 1)?[0]);
                Ok((Entry::Int(signed(v, 13)), 2))
            }
            0xe0..=0xef => string(
                2,
                usize::from(first & 0x0f) << 8 | usize::from(field(1, 1)?[0]),
            ),
            0xf0 => string(5, le(field(1, 4)?) as usize),
            0xf1 => int(2),
            0xf2 => int(3),
            0xf3 => int(4),
            0xf4 => int(8),
            _ => Err(bad(
                at,
                "a listpack entry encoding",
                format!("byte {first:#04x}"),
            )),
        }
    }
}

/// Decodes a listpack's entries into `out`; returns how many.
pub(super) fn listpack_into(blob: &[u8], out: &mut Flat) -> Result<usize, Bad> {
    let mut lp = listpack(blob)?;
    // Room for every element, an integer's text being at most 3 bytes per
    // encoded byte (a 7-bit integer's 1 byte makes up to 3 digits).
    out.data.reserve(3 * blob.len());
    out.ends.reserve(usize::from(lp.declared).min(blob.len()));
    let mut n = 0;
    while let Some(e) = lp.next_entry()? {
        e.push_to(out);
        n += 1;
    }
    Ok(n)
}

/// Decodes a ziplist's entries into `out`; returns how many. A ziplist is
/// `<total bytes: u32> <tail offset: u32> <count: u16>` (little-endian),
/// entries `<prevlen: 1 or 5 bytes> <encoding> <data>`, then `0xff`.
pub(super) fn ziplist_into(blob: &[u8], out: &mut Flat) -> Result<usize, Bad> {
    if blob.len() < 11 || le(&blob[..4]) != blob.len() as u64 {
        return Err(bad(0, "a ziplist whose header gives its size", blob.len()));
    }
    let mut at = 10;
    let mut n = 0;
    loop {
        match blob.get(at) {
            None => return Err(bad(at, "a ziplist entry or its end", "the blob's end")),
            Some(0xff) if at + 1 == blob.len() => return Ok(n),
            Some(0xff) => {
                return Err(bad(
                    at,
                    "the ziplist's end marker as its last byte",
                    "bytes after it",
                ));
            }
            Some(&p) => at += if p == 0xfe { 5 } else { 1 },
        }
        let (entry, size) = ziplist_entry(blob, at)?;
        entry.push_to(out);
        at += size;
        n += 1;
    }
}

/// The ziplist entry whose encoding starts at `at`, and its size from
/// there.
fn ziplist_entry(blob: &[u8], at: usize) -> Result<(Entry<'_>, usize), Bad> {
    let field = |from: usize, n: usize| {
        blob.get(at + from..at + from + n)
            .ok_or_else(|| bad(at, "a ziplist entry inside the blob", "one past its end"))
    };
    let e = field(0, 1)?[0];
    let string = |hdr: usize, n: usize| Ok((Entry::Str(field(hdr, n)?), hdr + n));
    let int = |n: usize| Ok((Entry::Int(signed(le(field(1, n)?), 8 * n as u32)), 1 + n));
    match e {
        0x00..=0x3f => string(1, usize::from(e)),
        0x40..=0x7f => string(2, usize::from(e & 0x3f) << 8 | usize::from(field(1, 1)?[0])),
        0x80 => {
            let len = field(1, 4)?;
            string(
                5,
                u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize,
            )
        }
        0xc0 => int(2),
        0xd0 => int(4),
        0xe0 => int(8),
        0xf0 => int(3),
        0xfe => int(1),
        0xf1..=0xfd => Ok((Entry::Int(i64::from(e & 0x0f) - 1), 1)),
        _ => Err(bad(
            at,
            "a ziplist entry encoding",
            format!("byte {e:#04x}"),
        )),
    }
}

/// Decodes an intset's members into `out`; returns how many. An intset is
/// `<width: u32> <count: u32>` (2, 4 or 8 bytes each), then the members,
/// all little-endian.
pub(super) fn intset_into(blob: &[u8], out: &mut Flat) -> Result<usize, Bad> {
    if blob.len() < 8 {
        return Err(bad(0, "an intset header", format!("{} bytes", blob.len())));
    }
    let width = le(&blob[..4]);
    if !matches!(width, 2 | 4 | 8) {
        return Err(bad(0, "an intset width of 2, 4 or 8", width));
    }
    let count = le(&blob[4..8]);
    if count.checked_mul(width) != Some(blob.len() as u64 - 8) {
        return Err(bad(4, "an intset count that fills the blob", count));
    }
    for m in blob[8..].chunks_exact(width as usize) {
        out.push_int(signed(le(m), 8 * width as u32));
    }
    Ok(count as usize)
}

/// Decodes a zipmap's fields and values into `out`; returns how many pairs.
/// A zipmap is `<count: u8>`, then `<len> field <len> <free: u8> value
/// <free bytes>` per pair, then `0xff`; a length is one byte below 254,
/// or 254 and 4 bytes little-endian.
pub(super) fn zipmap_into(blob: &[u8], out: &mut Flat) -> Result<usize, Bad> {
    let mut at = 1;
    let mut n = 0;
    loop {
        let (field, next) = match zipmap_string(blob, at, 0)? {
            Some(f) => f,
            None if at + 1 == blob.len() => return Ok(n),
            None => {
                return Err(bad(
                    at,
                    "the zipmap's end marker as its last byte",
                    "bytes after it",
                ));
            }
        };
        let free = usize::from(
            *blob
                .get(next + if blob.get(next) == Some(&254) { 5 } else { 1 })
                .unwrap_or(&0),
        );
        let (value, after) = zipmap_string(blob, next, 1)?
            .ok_or_else(|| bad(next, "a zipmap value", "the end marker"))?;
        out.push(field);
        out.push(value);
        at = after + free;
        n += 1;
    }
}

/// The zipmap string whose length is at `at` (with `skip` bytes between
/// the length and the data: a value's free count), and where it ends;
/// `None` at the end marker.
fn zipmap_string(blob: &[u8], at: usize, skip: usize) -> Result<Option<(&[u8], usize)>, Bad> {
    let len_byte = *blob
        .get(at)
        .ok_or_else(|| bad(at, "a zipmap length or its end", "the blob's end"))?;
    let (len, hdr) = match len_byte {
        255 => return Ok(None),
        254 => {
            let b = blob
                .get(at + 1..at + 5)
                .ok_or_else(|| bad(at, "a zipmap length", "the blob's end"))?;
            (le(b) as usize, 5)
        }
        l => (usize::from(l), 1),
    };
    let from = at + hdr + skip;
    let data = from
        .checked_add(len)
        .and_then(|end| blob.get(from..end))
        .ok_or_else(|| bad(at, "a zipmap string inside the blob", "one past its end"))?;
    Ok(Some((data, from + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(f: &Flat) -> Vec<String> {
        f.view(0..f.len())
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    /// A listpack of the given encoded entries (without back-lengths).
    fn lp(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            body.extend_from_slice(e);
            assert!(e.len() < 128);
            body.push(e.len() as u8);
        }
        let total = (6 + body.len() + 1) as u32;
        let mut out = total.to_le_bytes().to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xff);
        out
    }

    #[test]
    fn decodes_every_listpack_encoding() {
        let blob = lp(&[
            b"\x05",
            b"\x83abc",
            b"\xdf\xff",
            b"\xe0\x01x",
            b"\xf1\x00\x80",
            b"\xf2\xff\xff\x7f",
            b"\xf3\xff\xff\xff\xff",
            b"\xf4\x00\x00\x00\x00\x00\x00\x00\x80",
        ]);
        // The 12-bit string claims 1 byte: "x".
        let mut f = Flat::default();
        assert_eq!(listpack_into(&blob, &mut f), Ok(8));
        assert_eq!(
            strings(&f),
            [
                "5",
                "abc",
                "-1",
                "x",
                "-32768",
                "8388607",
                "-1",
                "-9223372036854775808"
            ]
        );
    }

    #[test]
    fn rejects_a_listpack_whose_count_or_size_lies() {
        let mut blob = lp(&[b"\x05"]);
        blob[4] = 2;
        assert_eq!(
            listpack_into(&blob, &mut Flat::default()).unwrap_err().at,
            4
        );
        let mut blob = lp(&[b"\x83abc"]);
        blob[6] = 0x89;
        assert!(listpack_into(&blob, &mut Flat::default()).is_err());
        assert!(listpack_into(&blob[..5], &mut Flat::default()).is_err());
    }

    #[test]
    fn decodes_a_ziplist_with_strings_and_every_integer_width() {
        let mut z = vec![0; 10];
        for e in [
            &b"\x00\x02ab"[..],
            b"\x04\xc0\x00\x80",
            b"\x04\xf0\xff\xff\x7f",
            b"\x05\xfe\x9c",
            b"\x02\xf1",
            b"\x01\xfd",
            b"\x01\xd0\x01\x00\x00\x00",
            b"\x06\xe0\x02\x00\x00\x00\x00\x00\x00\x00",
        ] {
            z.extend_from_slice(e);
        }
        z.push(0xff);
        let len = z.len() as u32;
        z[..4].copy_from_slice(&len.to_le_bytes());
        let mut f = Flat::default();
        assert_eq!(ziplist_into(&z, &mut f), Ok(8));
        assert_eq!(
            strings(&f),
            ["ab", "-32768", "8388607", "-100", "0", "12", "1", "2"]
        );
        z.pop();
        z[..4].copy_from_slice(&(len - 1).to_le_bytes());
        assert!(ziplist_into(&z, &mut f).is_err());
    }

    #[test]
    fn decodes_intsets_of_each_width() {
        let mut f = Flat::default();
        let blob = b"\x02\x00\x00\x00\x02\x00\x00\x00\xff\xff\x05\x00";
        assert_eq!(intset_into(blob, &mut f), Ok(2));
        let blob = b"\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80";
        assert_eq!(intset_into(blob, &mut f), Ok(1));
        assert_eq!(strings(&f), ["-1", "5", "-9223372036854775808"]);
        assert!(intset_into(&blob[..15], &mut f).is_err());
    }

    #[test]
    fn decodes_a_zipmap_skipping_free_bytes() {
        let blob = b"\x02\x03foo\x03\x02barxx\x05hello\x05\x00world\xff";
        let mut f = Flat::default();
        assert_eq!(zipmap_into(blob, &mut f), Ok(2));
        assert_eq!(strings(&f), ["foo", "bar", "hello", "world"]);
        assert!(zipmap_into(&blob[..20], &mut f).is_err());
    }
}
