//! The restore format's reads: each key of a page as `DUMP` serializes it,
//! with its expiry, both read under `WATCH` and checked by an empty
//! `MULTI`/`EXEC`, so they are of one instant (pipelined over the page: one
//! round trip).

use super::big::now_ms;
use super::link::{Class, Fault, checked};
use super::read::KeyReader;
use crate::resp::Value;

/// One key of a page, for the restore format.
pub(crate) enum Payload {
    /// Gone.
    Gone,
    /// Its slot is served elsewhere now.
    Moved(u16),
    /// `DUMP`'s payload, and when the key expires.
    Found(Vec<u8>, Option<i64>),
}

impl KeyReader {
    /// Each key of `keys` as `DUMP` serializes it, with its expiry.
    pub(crate) fn payloads(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Payload>, Fault> {
        let mut out = Vec::with_capacity(keys.len());
        let mut tries = 0;
        while out.len() < keys.len() {
            let rest = &keys[out.len()..];
            let before = out.len();
            self.payloads_once(rest, &mut out)?;
            if out.len() == before {
                // The first key kept changing between WATCH and EXEC.
                tries += 1;
                if tries > 10 {
                    return Err(Fault::Reply(super::link::ReplyError {
                        command: "WATCH".into(),
                        text: "a key changed during each of 10 reads".into(),
                    }));
                }
            } else {
                tries = 0;
            }
        }
        Ok(out)
    }

    /// Reads `keys` pipelined, each `WATCH`ed, its expiry and payload,
    /// then an empty `MULTI`/`EXEC` that fails if the key changed in
    /// between; stops at the first that did.
    fn payloads_once(&mut self, keys: &[Vec<u8>], out: &mut Vec<Payload>) -> Result<(), Fault> {
        let expiry: &[u8] = if self.exact { b"PEXPIRETIME" } else { b"PTTL" };
        let watched = self.watch;
        for k in keys {
            if watched {
                self.link.send(&[b"WATCH", k])?;
            }
            self.link.send(&[expiry, k])?;
            self.link.send(&[b"DUMP", k])?;
            if watched {
                self.link.send(&[b"MULTI"])?;
                self.link.send(&[b"EXEC"])?;
            }
        }
        let now = if self.exact { 0 } else { now_ms() };
        let per_key = if watched { 5 } else { 2 };
        let replies = self.link.replies(per_key * keys.len())?;
        for r in replies.chunks_exact(per_key) {
            let (e, payload) = if watched {
                (&r[1], &r[2])
            } else {
                (&r[0], &r[1])
            };
            if watched {
                if let Err(e) = checked(b"WATCH", r[0].clone())
                    && e.class() == Class::Fatal
                {
                    // No WATCH (an ACL): read without it from here on.
                    self.watch = false;
                    self.notices.push(format!(
                        "WATCH refused ({}): a key's expiry and payload are read beside each other",
                        e.text
                    ));
                    return Ok(());
                }
                checked(b"MULTI", r[3].clone())?;
                if checked(b"EXEC", r[4].clone())?.into_items().is_none() {
                    // Changed between its reads: read it (and the rest)
                    // again.
                    self.changed += 1;
                    return Ok(());
                }
            }
            let read = checked(expiry, e.clone())
                .and_then(|e| Ok((e, checked(b"DUMP", payload.clone())?)));
            let (e, payload) = match read {
                Ok(both) => both,
                Err(err) => match err.class() {
                    Class::Redirect(slot) => {
                        out.push(Payload::Moved(slot));
                        continue;
                    }
                    _ => return Err(err.into()),
                },
            };
            out.push(match payload {
                Value::Bulk(p) => {
                    let at = e
                        .as_int()
                        .filter(|&e| e >= 0)
                        .map(|e| if self.exact { e } else { now + e });
                    Payload::Found(p, at)
                }
                _ => Payload::Gone,
            });
        }
        Ok(())
    }
}
