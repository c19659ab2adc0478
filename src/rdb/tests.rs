//! The reader on files built here, byte by byte from the format in
//! `rdb.c`: for what no server at hand writes (Valkey 9's type 22, the
//! 7.4 release candidates' hash types, Redis 5's streams, the seconds
//! expiry opcode, slot info), and for bounds and errors.

use super::*;
use crate::input::testing::Pieces;

/// An RDB being written.
pub(super) struct Rdb(pub(super) Vec<u8>);

impl Rdb {
    pub(super) fn new(header: &str) -> Rdb {
        Rdb(header.as_bytes().to_vec())
    }

    pub(super) fn op(&mut self, b: u8) -> &mut Rdb {
        self.0.push(b);
        self
    }

    pub(super) fn raw(&mut self, b: &[u8]) -> &mut Rdb {
        self.0.extend_from_slice(b);
        self
    }

    /// A length, as `rdbSaveLen` writes it.
    pub(super) fn len(&mut self, n: u64) -> &mut Rdb {
        match n {
            0..=63 => self.op(n as u8),
            64..=16383 => self.raw(&[0x40 | (n >> 8) as u8, n as u8]),
            _ if n <= u64::from(u32::MAX) => self.op(0x80).raw(&(n as u32).to_be_bytes()),
            _ => self.op(0x81).raw(&n.to_be_bytes()),
        }
    }

    pub(super) fn str(&mut self, s: &[u8]) -> &mut Rdb {
        self.len(s.len() as u64).raw(s)
    }

    pub(super) fn ms(&mut self, t: i64) -> &mut Rdb {
        self.raw(&t.to_le_bytes())
    }

    /// The EOF opcode and the checksum.
    pub(super) fn end(&mut self) -> Vec<u8> {
        self.op(0xff);
        let crc = crc64(0, &self.0);
        self.raw(&crc.to_le_bytes());
        self.0.clone()
    }
}

/// A listpack of small strings and integers (0 to 127).
pub(super) fn listpack(entries: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        let enc: Vec<u8> = match std::str::from_utf8(e)
            .ok()
            .and_then(|s| s.parse::<u8>().ok())
        {
            Some(v) if v < 128 && e.len() <= 3 => vec![v],
            _ => {
                assert!(e.len() < 64);
                let mut x = vec![0x80 | e.len() as u8];
                x.extend_from_slice(e);
                x
            }
        };
        let n = enc.len() as u8;
        body.extend_from_slice(&enc);
        body.push(n);
    }
    let mut out = ((7 + body.len()) as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(0xff);
    out
}

/// Every event of `bytes` as text, read in pieces of up to 7 bytes, or the
/// error that stopped it.
pub(super) fn events(bytes: &[u8]) -> Result<Vec<String>, RdbError> {
    let mut r = RdbReader::new(Pieces::new(bytes.to_vec(), 7))?;
    let mut out = Vec::new();
    while let Some(e) = r.next()? {
        out.push(describe(&e));
    }
    Ok(out)
}

fn describe(e: &Event<'_>) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match e {
        Event::KeyStart(k) => format!(
            "{} {} {} {:?}",
            k.db,
            s(k.key),
            k.kind.name(),
            k.expire_at_ms
        ),
        Event::Piece(Piece::Items(e)) => format!("items {:?}", e.iter().map(s).collect::<Vec<_>>()),
        Event::Piece(Piece::Pairs(e)) => format!("pairs {:?}", e.iter().map(s).collect::<Vec<_>>()),
        Event::Piece(Piece::ExpiringPairs {
            pairs,
            expire_at_ms,
        }) => {
            format!(
                "expiring {:?} {expire_at_ms:?}",
                pairs.iter().map(s).collect::<Vec<_>>()
            )
        }
        Event::Piece(Piece::Bytes(b)) => format!("bytes {}", b.len()),
        Event::Piece(Piece::Entries(es)) => {
            let v: Vec<String> = es
                .iter()
                .map(|(id, f)| format!("{id} {:?}", f.iter().map(s).collect::<Vec<_>>()))
                .collect();
            format!("entries {v:?}")
        }
        Event::KeyEnd(end) => match end.stream {
            Some(m) => format!("end {} {m:?}", end.elements),
            None => format!("end {}", end.elements),
        },
        Event::SlotInfo {
            slot,
            keys,
            expires,
        } => format!("slot {slot} {keys} {expires}"),
        Event::Aux { key, value } => format!("aux {} {}", s(key), s(value)),
        e => format!("{e:?}"),
    }
}

#[test]
fn reads_valkey_9s_hash_with_field_expiry_behind_its_magic() {
    let mut f = Rdb::new("VALKEY080");
    f.op(0xfe).len(0).op(22).str(b"h").len(2);
    f.str(b"a")
        .str(b"1")
        .ms(-1)
        .str(b"b")
        .str(b"2")
        .ms(1_900_000_000_000);
    let got = events(&f.end()).unwrap();
    assert_eq!(
        got[1..4],
        [
            "0 h hash None",
            r#"expiring ["a", "1", "b", "2"] [None, Some(1900000000000)]"#,
            "end 2",
        ]
    );
}

#[test]
fn reads_the_74_release_candidates_hashes_with_absolute_field_ttls() {
    let mut f = Rdb::new("REDIS0012");
    f.op(22)
        .str(b"h")
        .len(2)
        .len(0)
        .str(b"a")
        .str(b"1")
        .len(1_800_000_000_000)
        .str(b"b")
        .str(b"2");
    f.op(23)
        .str(b"lp")
        .str(&listpack(&[b"x", b"y", b"0", b"z", b"w", b"99"]));
    let got = events(&f.end()).unwrap();
    assert_eq!(
        got[1],
        r#"expiring ["a", "1", "b", "2"] [None, Some(1800000000000)]"#
    );
    assert_eq!(got[4], r#"expiring ["x", "y", "z", "w"] [None, Some(99)]"#);
}

#[test]
fn reads_redis_74s_hashes_with_ttls_relative_to_their_minimum() {
    let mut f = Rdb::new("REDIS0012");
    f.op(24)
        .str(b"h")
        .ms(1_000)
        .len(2)
        .len(0)
        .str(b"a")
        .str(b"1")
        .len(6)
        .str(b"b")
        .str(b"2");
    let got = events(&f.end()).unwrap();
    assert_eq!(
        got[1],
        r#"expiring ["a", "1", "b", "2"] [None, Some(1005)]"#
    );
}

#[test]
fn reads_a_redis_5_stream_without_the_later_metadata() {
    let node = listpack(&[b"1", b"0", b"1", b"f", b"0", b"2", b"0", b"0", b"v", b"4"]);
    let mut f = Rdb::new("REDIS0009");
    f.op(15)
        .str(b"s")
        .len(1)
        .str(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1])
        .str(&node);
    f.len(1).len(5).len(1).len(1);
    f.str(b"g")
        .len(5)
        .len(1)
        .len(1)
        .raw(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1])
        .ms(77)
        .len(2);
    f.len(1)
        .str(b"c")
        .ms(66)
        .len(1)
        .raw(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
    let got = events(&f.end()).unwrap();
    assert_eq!(got[1], r#"entries ["5-1 [\"f\", \"v\"]"]"#);
    let meta = StreamMeta {
        length: 1,
        last_id: StreamId { ms: 5, seq: 1 },
        groups: vec![StreamGroup {
            name: b"g".to_vec(),
            last_id: StreamId { ms: 5, seq: 1 },
            entries_read: None,
            pending: vec![PendingEntry {
                id: StreamId { ms: 5, seq: 1 },
                delivery_time_ms: 77,
                delivery_count: 2,
            }],
            consumers: vec![Consumer {
                name: b"c".to_vec(),
                seen_time_ms: 66,
                active_time_ms: None,
                pending: vec![StreamId { ms: 5, seq: 1 }],
            }],
        }],
        ..StreamMeta::default()
    };
    assert_eq!(got[2], format!("end 1 {meta:?}"));
}

#[test]
fn reads_the_seconds_expiry_opcode_and_slot_info() {
    let mut f = Rdb::new("REDIS0006");
    f.op(0xf4).len(100).len(2).len(1);
    f.op(0xfd)
        .raw(&1_700_000_000u32.to_le_bytes())
        .op(0)
        .str(b"k")
        .str(b"v");
    f.op(0).str(b"k2").str(b"v2");
    let got = events(&f.end()).unwrap();
    assert_eq!(got[0], "slot 100 2 1");
    assert_eq!(got[1], "0 k string Some(1700000000000)");
    assert_eq!(
        got[4], "0 k2 string None",
        "the expiry was the first key's only"
    );
}

#[test]
fn hands_out_big_values_in_bounded_pieces() {
    let mut f = Rdb::new("REDIS0010");
    f.op(1).str(b"list").len(2500);
    for i in 0..2500 {
        f.str(format!("e{i}").as_bytes());
    }
    f.op(0).str(b"big").len(3 << 20).raw(&vec![b's'; 3 << 20]);
    let got = events(&f.end()).unwrap();
    let sizes: Vec<usize> = got
        .iter()
        .filter_map(|e| {
            e.strip_prefix("items ")
                .map(|l| l.matches(", ").count() + 1)
        })
        .collect();
    assert_eq!(sizes, [1000, 1000, 500]);
    let bytes: Vec<&str> = got
        .iter()
        .filter(|e| e.starts_with("bytes"))
        .map(String::as_str)
        .collect();
    assert_eq!(bytes, ["bytes 524288"; 6]);
}

#[test]
fn streams_an_lzf_string_in_windows_that_join_to_the_whole() {
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| {
            if i % 1000 < 600 {
                b'a'
            } else {
                (i % 251) as u8
            }
        })
        .collect();
    let c = lzf::compress_for_tests(&data);
    let mut f = Rdb::new("REDIS0010");
    f.op(0)
        .str(b"k")
        .op(0xc3)
        .len(c.len() as u64)
        .len(data.len() as u64)
        .raw(&c);
    let bytes = f.end();
    let mut r = RdbReader::new(&bytes[..]).unwrap();
    let mut got = Vec::new();
    let mut pieces = 0;
    while let Some(e) = r.next().unwrap() {
        if let Event::Piece(Piece::Bytes(b)) = e {
            assert!(b.len() <= 600 * 1024, "{}", b.len());
            got.extend_from_slice(b);
            pieces += 1;
        }
    }
    assert!(pieces >= 5);
    assert!(got == data, "the windows join to the string");
}

#[test]
fn keeps_serialized_values_up_to_the_raw_limit() {
    let mut f = Rdb::new("REDIS0010");
    f.op(0).str(b"small").str(b"v");
    f.op(0).str(b"large").str(&[b'x'; 40]);
    let bytes = f.end();
    let mut r = RdbReader::new(&bytes[..]).unwrap().with_raw_limit(20);
    let mut raws = Vec::new();
    while let Some(e) = r.next().unwrap() {
        if let Event::KeyEnd(end) = e {
            raws.push(end.raw.map(|r| (r.encoding, r.value.to_vec())));
        }
    }
    assert_eq!(raws, [Some((0, b"\x01v".to_vec())), None]);
}

#[test]
fn refuses_what_it_does_not_read_naming_the_offset_and_keys() {
    let mut f = Rdb::new("REDIS0010");
    f.op(0).str(b"k").str(b"v").op(30);
    let e = events(&f.end()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown object type or opcode 30 at byte 14 (1 keys read whole before it)"
    );
    let mut f = Rdb::new("REDIS0010");
    f.op(0xf6).str(b"code");
    let e = events(&f.end()).unwrap_err();
    assert!(
        matches!(
            e,
            RdbError::Unsupported {
                at: At { offset: 9, keys: 0 },
                ..
            }
        ),
        "{e}"
    );
    let mut f = Rdb::new("REDIS0011");
    f.op(3).str(b"z").len(1).str(b"m").op(253);
    assert!(
        events(&f.end())
            .unwrap_err()
            .to_string()
            .contains("expected a score that is a number, found NaN")
    );
}

#[test]
fn recognises_the_headers_it_reads() {
    for (prefix, is) in [
        (&b"REDIS0012\xfa"[..], true),
        (b"REDIS0003", true),
        (b"VALKEY080", true),
        (b"REDIS0013", false),
        (b"REDIS001", false),
        (b"SET k v\r\n", false),
    ] {
        assert_eq!(is_rdb_header(prefix), is, "{prefix:?}");
    }
}

#[test]
fn refuses_unknown_versions_and_other_files() {
    for (header, want) in [
        ("REDIS0013", "RDB version 13 behind the REDIS magic"),
        ("VALKEY081", "RDB version 81 behind the VALKEY magic"),
        ("REDIS0000", "RDB version 0"),
        ("*3\r\n$3\r\nSET", "not an RDB file"),
        ("REDIS", "not an RDB file"),
    ] {
        let e = RdbReader::new(header.as_bytes()).err().expect("refused");
        assert!(e.to_string().contains(want), "{header}: {e}");
    }
}

#[test]
fn checks_the_checksum_unless_it_is_zero() {
    let mut f = Rdb::new("REDIS0010");
    f.op(0).str(b"k").str(b"v");
    let mut bytes = f.end();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let e = events(&bytes).unwrap_err();
    assert!(
        matches!(
            e,
            RdbError::Checksum {
                at: At {
                    offset: 15,
                    keys: 1
                },
                ..
            }
        ),
        "{e}"
    );
    bytes[n - 8..].fill(0);
    assert_eq!(
        events(&bytes).unwrap().last().unwrap(),
        "End { checksum: None }"
    );
}
