//! The restore format's reads: each key of a page as `DUMP` serializes it,
//! with its expiry, both read in one `MULTI`/`EXEC` so they are of one
//! instant (pipelined over the page: one round trip).

use super::big::now_ms;
use super::link::{Class, Fault, checked};
use super::read::KeyReader;
use super::shape::bad;
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
        let expiry: &[u8] = if self.exact { b"PEXPIRETIME" } else { b"PTTL" };
        let atomic = self.watch;
        for k in keys {
            if atomic {
                self.link.send(&[b"MULTI"])?;
            }
            self.link.send(&[expiry, k])?;
            self.link.send(&[b"DUMP", k])?;
            if atomic {
                self.link.send(&[b"EXEC"])?;
            }
        }
        let now = if self.exact { 0 } else { now_ms() };
        let per_key = if atomic { 4 } else { 2 };
        let replies = self.link.replies(per_key * keys.len())?;
        let mut out = Vec::with_capacity(keys.len());
        for r in replies.chunks_exact(per_key) {
            let (e, payload) = if atomic {
                if let Err(e) = checked(b"MULTI", r[0].clone()) {
                    // No transactions (an ACL): read the page again
                    // without them.
                    self.watch = false;
                    self.notices.push(format!(
                        "MULTI refused ({}): a key's expiry and payload are read beside each other, not at one instant",
                        e.text
                    ));
                    return self.payloads(keys);
                }
                match queued(&r[1..3]).and_then(|()| checked(b"EXEC", r[3].clone())) {
                    Ok(exec) => {
                        let mut both = exec
                            .into_items()
                            .ok_or_else(|| bad("EXEC without a watch failed".into()))?
                            .into_iter();
                        (both.next(), both.next())
                    }
                    Err(e) => match e.class() {
                        Class::Redirect(slot) => {
                            out.push(Payload::Moved(slot));
                            continue;
                        }
                        _ => return Err(e.into()),
                    },
                }
            } else {
                (Some(r[0].clone()), Some(r[1].clone()))
            };
            let (Some(e), Some(payload)) = (e, payload) else {
                return Err(bad("EXEC returned too few replies".into()));
            };
            let e = match checked(expiry, e).and_then(|e| Ok((e, checked(b"DUMP", payload)?))) {
                Ok(both) => both,
                Err(err) => match err.class() {
                    Class::Redirect(slot) => {
                        out.push(Payload::Moved(slot));
                        continue;
                    }
                    _ => return Err(err.into()),
                },
            };
            out.push(match e {
                (e, Value::Bulk(p)) => {
                    let at = e
                        .as_int()
                        .filter(|&e| e >= 0)
                        .map(|e| if self.exact { e } else { now + e });
                    Payload::Found(p, at)
                }
                _ => Payload::Gone,
            });
        }
        Ok(out)
    }
}

/// The replies to queued commands: `+QUEUED`, or the error that aborts
/// the transaction.
fn queued(replies: &[Value]) -> Result<(), super::link::ReplyError> {
    for r in replies {
        checked(b"QUEUED", r.clone())?;
    }
    Ok(())
}
