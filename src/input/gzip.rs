//! gzip input: its members read one after another, as `cat a.gz b.gz`
//! makes them, and anything else after the last member an error that says
//! so, not a puzzle (`unexpected end of file`).

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

/// The first byte of a gzip member.
const GZIP_FIRST: u8 = 0x1f;

/// The members of a gzip stream, decompressed, one after another.
pub(super) struct Members<R: BufRead> {
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> Members<R> {
    pub(super) fn new(inner: R) -> Self {
        Members {
            member: Some(GzDecoder::new(inner)),
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = &mut self.member else {
                return Ok(0);
            };
            let n = member.read(buf).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the gzip data ends early: the file was cut short",
                ),
                _ => e,
            })?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member has ended: the input ends too, or another member
            // follows (a bufread decoder reads no further than its member).
            let next = member.get_mut().fill_buf()?;
            match next.first() {
                None => {
                    self.member = None;
                    return Ok(0);
                }
                Some(&GZIP_FIRST) => {
                    let inner = self.member.take().expect("checked").into_inner();
                    self.member = Some(GzDecoder::new(inner));
                }
                Some(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the gzip data is followed by bytes that are not gzip (trailing garbage)",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Members::new(io::BufReader::with_capacity(3, io::Cursor::new(bytes)))
            .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn reads_members_one_after_another() {
        let mut both = gzip(b"SET a 1\n");
        both.extend(gzip(b"SET b 2\n"));
        assert_eq!(read_all(both).unwrap(), b"SET a 1\nSET b 2\n");
        assert_eq!(read_all(gzip(b"")).unwrap(), b"");
    }

    #[test]
    fn says_what_is_wrong_with_trailing_garbage_and_a_cut() {
        for garbage in [&b"x"[..], b"garbage after the stream\n", b"\0\0\0\0"] {
            let mut bytes = gzip(b"SET a 1\n");
            bytes.extend_from_slice(garbage);
            let e = read_all(bytes).unwrap_err();
            assert!(e.to_string().contains("trailing garbage"), "{e}");
        }
        let mut cut = gzip(b"SET a 1\n");
        cut.truncate(cut.len() - 3);
        let e = read_all(cut).unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
    }
}
