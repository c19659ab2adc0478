//! Input that is not commands or records, told from its first bytes before
//! any of it is sent: an image, an archive, an executable, a database, a
//! Redis RDB snapshot, UTF-16 text, or bytes with a NUL where the input's
//! format allows none. A file is looked at when the load starts, before it
//! connects; standard input (or a pipe) when its first bytes arrive.
//!
//! The first bytes are looked at after gzip or zstd decompression, so a
//! `.tar.gz` is named as a tar archive.

use memchr::memchr;

/// How much of an input's start is looked at: enough for every magic
/// number here (tar's sits at byte 257), and for a NUL a few lines in.
pub(crate) const SNIFF_LEN: usize = 8 * 1024;

/// What an input is read as, which decides where a NUL byte may be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expect {
    /// Inline lines and RESP frames: a NUL only inside a RESP bulk string.
    #[default]
    Commands,
    /// CSV, TSV or JSON text: no NUL at all (RFC 4180's fields and JSON's
    /// strings hold none unescaped).
    Records,
}

/// What an input looks like, when it is not text rload can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Looks {
    /// What it looks like, and what it is not: `a PNG image, not commands
    /// or records`.
    pub what: String,
    /// What to do about it, if there is something to say.
    pub hint: Option<String>,
}

impl Looks {
    fn binary(what: &str) -> Self {
        Looks {
            what: format!("{what}, not commands or records"),
            hint: None,
        }
    }
}

/// Magic numbers at the start of a file, and what each says it is.
const MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (
        b"PK\x03\x04",
        "a ZIP archive (or a file made of one: xlsx, docx, jar)",
    ),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (
        b"\xfd7zXZ\x00",
        "xz-compressed data (rload reads gzip and zstd)",
    ),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (
        b"\xca\xfe\xba\xbe",
        "a Mach-O universal binary (or a Java class file)",
    ),
    (b"SQLite format 3\x00", "an SQLite database"),
];

/// What `head`, the first bytes of an input read as `expect` says, looks
/// like, if it is not text rload can read; `None` if it may be.
pub(crate) fn sniff(head: &[u8], expect: Expect) -> Option<Looks> {
    if let Some((_, what)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return Some(Looks::binary(what));
    }
    // An RDB is loadable where commands are: the load reads it as one.
    let rdb = match expect {
        Expect::Commands if looks_like_rdb(head) => return None,
        Expect::Commands => None,
        Expect::Records => rdb(head),
    };
    if let Some(looks) = rdb.or_else(|| weak_magic(head)) {
        return Some(looks);
    }
    if let Some(looks) = utf16(head) {
        return Some(looks);
    }
    let nul = match expect {
        Expect::Commands => nul_outside_bulks(head),
        Expect::Records => memchr(0, head),
    }?;
    let line = 1 + memchr::memchr_iter(b'\n', &head[..nul]).count();
    Some(Looks {
        what: format!(
            "binary data (a NUL byte on line {line}, at byte offset {nul}), not commands or records"
        ),
        hint: (expect == Expect::Commands).then(|| {
            "a NUL byte goes in a RESP bulk string, or as \\x00 inside double quotes".into()
        }),
    })
}

/// A Redis RDB snapshot (`REDIS` and a four-digit version, or Valkey's
/// `VALKEY` and three), read as records.
fn rdb(head: &[u8]) -> Option<Looks> {
    if !looks_like_rdb(head) {
        return None;
    }
    let digits = head
        .strip_prefix(b"REDIS")
        .or_else(|| head.strip_prefix(b"VALKEY"))?;
    let version: u32 = std::str::from_utf8(&digits[..digits.len().min(4)])
        .ok()?
        .trim_start_matches('0')
        .parse()
        .ok()?;
    Some(Looks {
        what: format!("a Redis RDB snapshot (version {version}), not records"),
        hint: Some("load it as it is, without --format (or with --format rdb)".into()),
    })
}

/// Whether `head` begins as an RDB file does: `REDIS` and four digits,
/// or Valkey's `VALKEY` and three (whatever the version: the RDB reader
/// names one it does not know).
pub fn looks_like_rdb(head: &[u8]) -> bool {
    let digits = |d: &[u8], n: usize| d.len() >= n && d[..n].iter().all(u8::is_ascii_digit);
    head.strip_prefix(b"REDIS").is_some_and(|d| digits(d, 4))
        || head.strip_prefix(b"VALKEY").is_some_and(|d| digits(d, 3))
}

/// Formats whose magic could begin a line of text, told by what follows.
fn weak_magic(head: &[u8]) -> Option<Looks> {
    // tar: "ustar" at byte 257 of the first header.
    if head.get(257..262) == Some(b"ustar") {
        return Some(Looks::binary("a tar archive"));
    }
    // bzip2: "BZh", the block size, then a block's or the end's magic.
    if head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && matches!(
            &head[4..10],
            b"\x31\x41\x59\x26\x53\x59" | b"\x17\x72\x45\x38\x50\x90"
        )
    {
        return Some(Looks::binary(
            "bzip2-compressed data (rload reads gzip and zstd)",
        ));
    }
    // Parquet: "PAR1", then column data, which is not text.
    if head.starts_with(b"PAR1") && head.get(4..8).is_some_and(|b| b.iter().any(|&c| !text(c))) {
        return Some(Looks::binary("a Parquet file"));
    }
    // MZ: the DOS header, whose e_lfanew (at 0x3c) points at "PE\0\0".
    if head.starts_with(b"MZ") && head.len() >= 64 {
        let at = u32::from_le_bytes(head[0x3c..0x40].try_into().ok()?) as usize;
        let pe = head.get(at..at + 4) == Some(b"PE\x00\x00");
        if pe || head[2..64].contains(&0) {
            return Some(Looks::binary(if pe {
                "a Windows executable (PE)"
            } else {
                "an MS-DOS executable"
            }));
        }
    }
    None
}

/// A byte that plain text holds.
fn text(b: u8) -> bool {
    b >= b' ' || matches!(b, b'\t' | b'\n' | b'\r')
}

/// UTF-16 text: a byte order mark, or ASCII with every other byte NUL.
fn utf16(head: &[u8]) -> Option<Looks> {
    let (encoding, bom) = if head.starts_with(b"\xff\xfe") {
        ("UTF-16", "little-endian, with a byte order mark")
    } else if head.starts_with(b"\xfe\xff") {
        ("UTF-16", "big-endian, with a byte order mark")
    } else {
        let pairs: Vec<&[u8]> = head.chunks_exact(2).take(64).collect();
        let le = pairs.iter().filter(|p| p[0] != 0 && p[1] == 0).count();
        let be = pairs.iter().filter(|p| p[0] == 0 && p[1] != 0).count();
        // Nearly all: a character outside Latin-1 has no NUL byte.
        let most = |n: usize| pairs.len() >= 2 && n * 4 >= pairs.len() * 3;
        if most(le) {
            ("UTF-16LE", "little-endian")
        } else if most(be) {
            ("UTF-16BE", "big-endian")
        } else {
            return None;
        }
    };
    Some(Looks {
        what: format!("UTF-16 text ({bom}), not UTF-8"),
        hint: Some(format!(
            "convert it to UTF-8 first, as with: iconv -f {encoding} -t UTF-8"
        )),
    })
}

/// The offset of the first NUL byte in `head` outside the bulk strings of
/// RESP frames: on an inline line, or in a frame's own lines. A frame that
/// is malformed or runs past `head` ends the search: the reader judges it.
fn nul_outside_bulks(head: &[u8]) -> Option<usize> {
    let mut p = 0;
    while p < head.len() {
        if head[p] == b'*' {
            p = skip_frame(head, p)?;
            continue;
        }
        let end = memchr(b'\n', &head[p..]).map_or(head.len(), |i| p + i + 1);
        if let Some(i) = memchr(0, &head[p..end]) {
            return Some(p + i);
        }
        p = end;
    }
    None
}

/// The end of the RESP frame `*N\r\n` + N × `$LEN\r\n` + LEN bytes +
/// `\r\n` at `head[p..]`, if it is whole and well formed.
fn skip_frame(head: &[u8], p: usize) -> Option<usize> {
    let (count, mut at) = number(head, p + 1)?;
    for _ in 0..count {
        if head.get(at) != Some(&b'$') {
            return None;
        }
        let (len, after) = number(head, at + 1)?;
        at = after.checked_add(len)?;
        if head.get(at..at + 2) != Some(b"\r\n") {
            return None;
        }
        at += 2;
    }
    Some(at)
}

/// The decimal number at `head[at..]`, ended by CRLF, and the offset past
/// the CRLF.
fn number(head: &[u8], at: usize) -> Option<(usize, usize)> {
    let digits = head
        .get(at..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 12 || head.get(at + digits..at + digits + 2) != Some(b"\r\n") {
        return None;
    }
    let n = std::str::from_utf8(&head[at..at + digits])
        .ok()?
        .parse()
        .ok()?;
    Some((n, at + digits + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what(head: &[u8], expect: Expect) -> Option<String> {
        sniff(head, expect).map(|l| l.what)
    }

    #[test]
    fn names_images_archives_executables_and_databases() {
        for (head, name) in [
            (&b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"[..], "a PNG image"),
            (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG image"),
            (b"GIF89a\x01\x00", "a GIF image"),
            (b"%PDF-1.7\n", "a PDF document"),
            (b"PK\x03\x04\x14\x00", "a ZIP archive"),
            (b"\xfd7zXZ\x00\x00", "xz-compressed"),
            (b"7z\xbc\xaf\x27\x1c\x00\x04", "a 7-Zip archive"),
            (b"\x7fELF\x02\x01\x01", "an ELF executable"),
            (b"\xcf\xfa\xed\xfe\x07\x00", "a Mach-O executable"),
            (b"SQLite format 3\x00\x10\x00", "an SQLite database"),
            (b"BZh91AY&SY\x00\x00", "bzip2"),
            (b"PAR1\x15\x04\x15\x00", "a Parquet file"),
        ] {
            let got = what(head, Expect::Commands).unwrap_or_default();
            assert!(got.starts_with(name), "{head:?}: {got}");
            assert!(got.ends_with("not commands or records"), "{got}");
        }
    }

    #[test]
    fn names_tar_and_windows_executables_by_what_follows_their_start() {
        let mut tar = vec![0u8; 512];
        tar[..8].copy_from_slice(b"file.txt");
        tar[257..263].copy_from_slice(b"ustar\x00");
        assert_eq!(
            what(&tar, Expect::Records).as_deref(),
            Some("a tar archive, not commands or records")
        );
        let mut pe = vec![0u8; 256];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\x00\x00");
        assert!(what(&pe, Expect::Commands).unwrap().contains("(PE)"));
        // Text that happens to start so is text.
        assert_eq!(what(b"MZADD key 1 m\n", Expect::Commands), None);
        assert_eq!(what(b"PAR1,PAR2\nx,y\n", Expect::Records), None);
        assert_eq!(what(b"BZh9 is a word\n", Expect::Commands), None);
    }

    #[test]
    fn an_rdb_snapshot_read_as_records_is_named_with_its_version() {
        let head = b"REDIS0011\xfa\x09redis-ver";
        let looks = sniff(head, Expect::Records).unwrap();
        assert_eq!(looks.what, "a Redis RDB snapshot (version 11), not records");
        assert!(looks.hint.unwrap().contains("--format rdb"));
        assert_eq!(
            sniff(head, Expect::Commands),
            None,
            "commands' loads read it"
        );
    }

    #[test]
    fn utf16_is_named_with_its_byte_order_and_how_to_convert_it() {
        let le: Vec<u8> = "\u{feff}id,name\n1,ann\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let looks = sniff(&le, Expect::Records).unwrap();
        assert_eq!(
            looks.what,
            "UTF-16 text (little-endian, with a byte order mark), not UTF-8"
        );
        assert!(looks.hint.unwrap().contains("iconv -f UTF-16 -t UTF-8"));
        let be: Vec<u8> = "id,name\n1,ann\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let looks = sniff(&be, Expect::Records).unwrap();
        assert!(looks.what.contains("big-endian"), "{looks:?}");
        assert!(looks.hint.unwrap().contains("-f UTF-16BE"));
    }

    #[test]
    fn a_nul_may_sit_in_a_resp_bulk_and_nowhere_else() {
        let mut resp = b"SET a 1\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\x00\x01\x02\r\n".to_vec();
        assert_eq!(sniff(&resp, Expect::Commands), None);
        resp.extend_from_slice(b"SET b \x00\n");
        let looks = sniff(&resp, Expect::Commands).unwrap();
        assert_eq!(
            looks.what,
            format!(
                "binary data (a NUL byte on line 9, at byte offset {}), not commands or records",
                resp.len() - 2
            )
        );
        assert!(looks.hint.unwrap().contains("\\x00"));
        // A frame cut off by the end of what is looked at proves nothing.
        assert_eq!(sniff(b"*1\r\n$100\r\n\x00\x00", Expect::Commands), None);
        assert!(sniff(b"id,name\n1,a\x00b\n", Expect::Records).is_some());
        assert_eq!(sniff(b"id,name\n1,ann\n", Expect::Records), None);
        assert_eq!(sniff(b"", Expect::Commands), None);
    }
}
