//! Writing one key: a small key whole as the page read it, and a big key
//! in windows (`GETRANGE`, `LRANGE`, `SSCAN`, `HSCAN`, `ZSCAN`, `XRANGE`),
//! written as it is read so memory stays flat.
//!
//! A key read in windows must still come out in a state it really had. It
//! is `WATCH`ed before its first window; after its last, its type, expiry
//! (and a stream's metadata) are read, and an empty `MULTI`/`EXEC` fails if
//! anything touched the key since the `WATCH`: what was written of the key
//! is then undone, and it is read again. A key that changes during each of
//! [`ATTEMPTS`] reads is then read whole, each part by one command, under
//! `WATCH` the same way (its size in memory, once), and then by the read
//! script, at one instant. A stream, which the script does not read, that
//! changes during each of those, or any key where scripting is refused,
//! stops the dump: it never comes out in a state it did not have. JSON
//! lines read strings whole: a JSON string cannot be appended to.

use super::KeyOutcome;
use super::link::{Fault, ReplyError, Retry, checked};
use super::read::{Found, KeyReader, STRING_WINDOW, WINDOW};
use super::shape::{self, bad, pairs, strings};
use super::write::{Discard, Ending, Kind, Output, Piece, StreamMeta};
use crate::resp::Value;

/// Reads in windows before a key that keeps changing is read whole.
const ATTEMPTS: usize = 3;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl KeyReader {
    fn expiry_verb(&self) -> &'static [u8] {
        if self.exact { b"PEXPIRETIME" } else { b"PTTL" }
    }

    /// An expiry reply as an absolute time, if the key has one.
    fn expire_at(&self, reply: &Value, now: i64) -> Option<i64> {
        let e = reply.as_int().filter(|&e| e >= 0)?;
        Some(if self.exact { e } else { now + e })
    }

    /// Writes a small key, read whole by the page.
    pub(crate) fn write_small(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
        value: Value,
        expire_at: Option<i64>,
        field_expiry: Vec<(Vec<u8>, i64)>,
    ) -> Result<(), Fault> {
        let ending = Ending {
            expire_at,
            stream: None,
            field_expiry,
        };
        if kind == Kind::String {
            let bytes = value
                .as_bytes()
                .ok_or_else(|| bad(format!("a string read as {value}")))?;
            return Ok(out.string(key, bytes, expire_at)?);
        }
        let items = strings(value)?;
        out.begin(key, kind)?;
        if !items.is_empty() {
            match kind {
                Kind::List | Kind::Set => out.piece(key, kind, Piece::items(&items), true)?,
                _ => out.piece(key, kind, Piece::pairs(&pairs(items)), true)?,
            }
        }
        Ok(out.end(key, kind, &ending)?)
    }

    /// Writes a key whose value the page did not read: in windows, checked
    /// for changes, or whole.
    pub(crate) fn write_big(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
    ) -> Result<KeyOutcome, Fault> {
        let windowed = !(kind == Kind::String && self.whole_strings);
        for _ in 0..ATTEMPTS {
            if !(windowed && self.watch) {
                break;
            }
            match self.windows_watched(out, key, kind)? {
                Some(done) => return Ok(done),
                None => self.changed += 1,
            }
        }
        for _ in 0..ATTEMPTS {
            match self.whole(out, key, kind)? {
                Some(done) => return Ok(done),
                None => self.changed += 1,
            }
        }
        // It changes faster than it can be read in a few commands: the
        // script reads it at one instant, whatever its size.
        match self.whole_by_script(key)? {
            Some(Found::Key {
                kind: now,
                expire_at,
                value: Some(v),
                field_expiry,
            }) => {
                self.write_small(out, key, now, v, expire_at, field_expiry)?;
                return Ok(KeyOutcome::Whole);
            }
            Some(_) => return Ok(KeyOutcome::Vanished),
            None => {}
        }
        Err(Fault::Reply(ReplyError {
            command: "WATCH".into(),
            text: format!(
                "{} changed during each of {} reads: it cannot be read in a state it had",
                String::from_utf8_lossy(key),
                2 * ATTEMPTS
            ),
        }))
    }

    /// `WATCH`es the key; false if `WATCH` is refused (an ACL), which is
    /// said once.
    fn watch_key(&mut self, key: &[u8]) -> Result<bool, Fault> {
        if !self.watch {
            return Ok(false);
        }
        match checked(
            b"WATCH",
            self.link.patient(&[b"WATCH", key], &mut Retry::new(None))?,
        ) {
            Ok(_) => Ok(true),
            Err(e) => {
                self.watch = false;
                self.notices.push(format!(
                    "WATCH refused ({}): big keys are read whole, each by one command",
                    e.text
                ));
                Ok(false)
            }
        }
    }

    /// One read in windows under `WATCH`; `None` if the key changed (what
    /// was written of it is undone).
    fn windows_watched(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
    ) -> Result<Option<KeyOutcome>, Fault> {
        if !self.watch_key(key)? {
            return self.whole(out, key, kind);
        }
        self.field_expiry.clear();
        out.begin(key, kind)?;
        if let Err(f) = self.windows(out, key, kind) {
            out.discard(key, kind, Discard::Unfinished)?;
            if matches!(f, Fault::Reply(_)) {
                self.link.request(&[b"UNWATCH"])?;
            }
            return Err(f);
        }
        let now = now_ms();
        let Some(state) = self.state(key, kind, None, true)? else {
            out.discard(key, kind, Discard::Changed)?;
            return Ok(None);
        };
        self.finish(out, key, kind, state, now).map(Some)
    }

    /// Reads the key whole, each part by one command, under `WATCH`, and
    /// writes it; `None` if it changed meanwhile (nothing is written).
    fn whole(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
    ) -> Result<Option<KeyOutcome>, Fault> {
        let read: Vec<&[u8]> = match kind {
            Kind::String => vec![b"GET", key],
            Kind::List => vec![b"LRANGE", key, b"0", b"-1"],
            Kind::Set => vec![b"SMEMBERS", key],
            Kind::Zset => vec![b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
            Kind::Hash => vec![b"HGETALL", key],
            Kind::Stream => vec![b"XRANGE", key, b"-", b"+"],
        };
        let watched = self.watch_key(key)?;
        let now = now_ms();
        let Some(state) = self.state(key, kind, Some(&read), watched)? else {
            return Ok(None);
        };
        out.begin(key, kind)?;
        if state.kind == Some(kind) {
            let value = state.value.clone().expect("read with the state");
            let piece = checked(read[0], value)?;
            match kind {
                Kind::String => {
                    let bytes = piece.as_bytes().unwrap_or_default();
                    out.piece(key, kind, Piece::Bytes(bytes), true)?;
                }
                Kind::List | Kind::Set => {
                    out.piece(key, kind, Piece::items(&strings(piece)?), true)?
                }
                Kind::Hash | Kind::Zset => {
                    let items = strings(piece)?;
                    if kind == Kind::Hash {
                        // After the transaction that checked the read: a
                        // field's expiry that changes in between is read
                        // as it is now (a field gone is left without one).
                        self.field_ttls(key, &items)?;
                    }
                    out.piece(key, kind, Piece::pairs(&pairs(items)), true)?
                }
                Kind::Stream => {
                    out.piece(key, kind, Piece::Entries(&shape::entries(piece)?), true)?
                }
            }
        }
        self.finish(out, key, kind, state, now).map(Some)
    }

    /// Ends a key with the state read at its end: gone or of another type,
    /// it is undone.
    fn finish(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
        state: State,
        now: i64,
    ) -> Result<KeyOutcome, Fault> {
        match state.kind {
            None => {
                out.discard(key, kind, Discard::Vanished)?;
                return Ok(KeyOutcome::Vanished);
            }
            // Replaced by a key of another type: read it again.
            Some(other) if other != kind => {
                out.discard(key, kind, Discard::Changed)?;
                return Ok(KeyOutcome::Changed);
            }
            Some(_) => {}
        }
        let ending = Ending {
            expire_at: self.expire_at(&state.expiry, now),
            stream: state.stream,
            field_expiry: std::mem::take(&mut self.field_expiry),
        };
        out.end(key, kind, &ending)?;
        Ok(KeyOutcome::Whole)
    }

    /// `TYPE`, the expiry, `read` if given and a stream's `XINFO`, then,
    /// when the key is `watched`, an empty `MULTI`/`EXEC`: it fails if
    /// anything touched the key since `WATCH`, so what was read since is of
    /// one instant. `None` if it failed. (An empty transaction, because a
    /// server out of memory refuses every command queued in one.)
    fn state(
        &mut self,
        key: &[u8],
        kind: Kind,
        read: Option<&[&[u8]]>,
        watched: bool,
    ) -> Result<Option<State>, Fault> {
        let expiry = self.expiry_verb();
        let mut commands: Vec<Vec<&[u8]>> = vec![vec![b"TYPE", key], vec![expiry, key]];
        if let Some(read) = read {
            commands.push(read.to_vec());
        }
        if kind == Kind::Stream {
            commands.push(vec![b"XINFO", b"STREAM", key]);
            commands.push(vec![b"XINFO", b"GROUPS", key]);
        }
        let reads = commands.len();
        if watched {
            commands.push(vec![b"MULTI"]);
            commands.push(vec![b"EXEC"]);
        }
        for c in &commands {
            self.link.send(c)?;
        }
        let mut replies = self.link.replies(commands.len())?;
        if watched {
            let exec = replies.pop().expect("EXEC's reply");
            checked(b"MULTI", replies.pop().expect("MULTI's reply"))?;
            if checked(b"EXEC", exec)?.into_items().is_none() {
                return Ok(None);
            }
        }
        debug_assert_eq!(replies.len(), reads);
        State::of(replies, read.is_some(), kind).map(Some)
    }

    fn windows(&mut self, out: &mut dyn Output, key: &[u8], kind: Kind) -> Result<(), Fault> {
        match kind {
            Kind::String => self.string_windows(out, key),
            Kind::List => self.list_windows(out, key),
            Kind::Set | Kind::Hash | Kind::Zset => self.scan_windows(out, key, kind),
            Kind::Stream => self.stream_windows(out, key),
        }
    }

    fn string_windows(&mut self, out: &mut dyn Output, key: &[u8]) -> Result<(), Fault> {
        let mut at = 0usize;
        loop {
            let (from, to) = (at.to_string(), (at + STRING_WINDOW - 1).to_string());
            let v = self
                .link
                .request(&[b"GETRANGE", key, from.as_bytes(), to.as_bytes()])?;
            let bytes = v
                .as_bytes()
                .ok_or_else(|| bad(format!("GETRANGE returned {v}")))?;
            if bytes.is_empty() && at > 0 {
                return Ok(());
            }
            out.piece(key, Kind::String, Piece::Bytes(bytes), at == 0)?;
            if bytes.len() < STRING_WINDOW {
                return Ok(());
            }
            at += bytes.len();
        }
    }

    fn list_windows(&mut self, out: &mut dyn Output, key: &[u8]) -> Result<(), Fault> {
        let mut at = 0usize;
        loop {
            let (from, to) = (at.to_string(), (at + WINDOW - 1).to_string());
            let items =
                strings(
                    self.link
                        .request(&[b"LRANGE", key, from.as_bytes(), to.as_bytes()])?,
                )?;
            if !items.is_empty() {
                out.piece(key, Kind::List, Piece::items(&items), at == 0)?;
            }
            if items.len() < WINDOW {
                return Ok(());
            }
            at += items.len();
        }
    }

    /// Adds the expiries of the fields of `items` (fields and values in
    /// turn) that have one to the key's, where the server has them.
    fn field_ttls(&mut self, key: &[u8], items: &[Vec<u8>]) -> Result<(), Fault> {
        if !self.field_ttls || items.is_empty() {
            return Ok(());
        }
        let fields: Vec<&[u8]> = items.iter().step_by(2).map(Vec::as_slice).collect();
        let n = fields.len().to_string();
        let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()];
        args.extend(&fields);
        let reply = checked(b"HPEXPIRETIME", self.link.request(&args)?)?;
        let ats = reply
            .into_items()
            .ok_or_else(|| bad("HPEXPIRETIME did not return an array".into()))?;
        let found = super::read::expiring(fields.into_iter(), &ats)?;
        self.field_expiry.extend(found);
        Ok(())
    }

    /// Sets, hashes and sorted sets, with `SSCAN`, `HSCAN` and `ZSCAN`.
    fn scan_windows(&mut self, out: &mut dyn Output, key: &[u8], kind: Kind) -> Result<(), Fault> {
        let verb: &[u8] = match kind {
            Kind::Set => b"SSCAN",
            Kind::Hash => b"HSCAN",
            _ => b"ZSCAN",
        };
        let (mut cursor, mut first) = (b"0".to_vec(), true);
        let count = WINDOW.to_string();
        loop {
            let reply = self
                .link
                .request(&[verb, key, &cursor, b"COUNT", count.as_bytes()])?;
            let (next, items) = shape::scan_page(reply)?;
            if kind == Kind::Hash {
                self.field_ttls(key, &items)?;
            }
            if !items.is_empty() {
                match kind {
                    Kind::Set => out.piece(key, kind, Piece::items(&items), first)?,
                    _ => out.piece(key, kind, Piece::pairs(&pairs(items)), first)?,
                }
                first = false;
            }
            if next == b"0" {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn stream_windows(&mut self, out: &mut dyn Output, key: &[u8]) -> Result<(), Fault> {
        let count = WINDOW.to_string();
        let (mut start, mut first) = (b"-".to_vec(), true);
        loop {
            let reply =
                self.link
                    .request(&[b"XRANGE", key, &start, b"+", b"COUNT", count.as_bytes()])?;
            let entries = shape::entries(reply)?;
            let Some((last, _)) = entries.last() else {
                return Ok(());
            };
            start = [b"(".as_slice(), last].concat();
            out.piece(key, Kind::Stream, Piece::Entries(&entries), first)?;
            first = false;
            if entries.len() < WINDOW {
                return Ok(());
            }
        }
    }
}

/// A key's state, as read at one instant.
struct State {
    /// Its type; `None` if it is gone.
    kind: Option<Kind>,
    expiry: Value,
    /// Its whole value, when it was read too.
    value: Option<Value>,
    stream: Option<StreamMeta>,
}

impl State {
    fn of(results: Vec<Value>, with_value: bool, kind: Kind) -> Result<Self, Fault> {
        let mut it = results.into_iter();
        let mut next = || it.next().ok_or_else(|| bad("too few replies".into()));
        let t = checked(b"TYPE", next()?)?;
        let found = Kind::of(t.as_bytes().unwrap_or_default());
        let expiry = checked(b"PEXPIRETIME", next()?)?;
        // Checked by the caller, once the type is known to be right.
        let value = if with_value { Some(next()?) } else { None };
        let stream = if kind == Kind::Stream && found == Some(kind) {
            let info = checked(b"XINFO", next()?)?;
            let groups = checked(b"XINFO", next()?)?;
            Some(shape::stream_meta(info, groups)?)
        } else {
            None
        };
        Ok(State {
            kind: found,
            expiry,
            value,
            stream,
        })
    }
}
