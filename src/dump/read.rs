//! Reading keys from one server: a batch of keys at a time (a `SCAN`
//! page), in as few commands as the server allows.
//!
//! Where scripting is allowed, one `EVALSHA` per batch reads each key's
//! type, expiry and, for a small key, its whole value, at one instant. A
//! big key (more than [`WINDOW`] elements, a string over [`STRING_WINDOW`]
//! bytes) is then read in windows (`LRANGE`, `HSCAN`, `SSCAN`, `ZSCAN`,
//! `XRANGE`, `GETRANGE`) and written as it is read, so memory stays flat;
//! if it goes away before the last window, what was written of it is
//! undone. Where scripting is not allowed, plain commands do the same,
//! pipelined.

use std::io;

use super::write::{Ending, Entry, Kind, Output, Pair, Piece, StreamMeta};
use crate::conn::Connection;
use crate::error::ConnectError;
use crate::resp::Value;

/// Elements read per window, and the most a key may have to be read
/// whole by the batch's script.
pub(crate) const WINDOW: usize = 1000;

/// Bytes of a string read per window, and the most read whole.
pub(crate) const STRING_WINDOW: usize = 1 << 20;

/// Reads each key of a batch: type, expiry (absolute, in ms), and the
/// value of a small key. ARGV: window, string window, whether the server
/// has PEXPIRETIME, the number of wanted types, the types, then the keys.
/// A key of an unwanted type, or gone, is only its type.
const READ_SCRIPT: &str = r#"
local window, strmax, exact = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local ntypes = tonumber(ARGV[4])
local wanted = {}
for i = 1, ntypes do wanted[ARGV[4 + i]] = true end
local now = 0
if not exact then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local out = {}
for i = 5 + ntypes, #ARGV do
  local k = ARGV[i]
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' or (ntypes > 0 and not wanted[t]) then
    out[#out + 1] = {t}
  else
    local e
    if exact then e = redis.call('PEXPIRETIME', k) else
      e = redis.call('PTTL', k)
      if e >= 0 then e = now + e end
    end
    local v = false
    if t == 'string' then
      if redis.call('STRLEN', k) <= strmax then v = redis.call('GET', k) end
    elseif t == 'list' then
      if redis.call('LLEN', k) <= window then v = redis.call('LRANGE', k, 0, -1) end
    elseif t == 'set' then
      if redis.call('SCARD', k) <= window then v = redis.call('SMEMBERS', k) end
    elseif t == 'zset' then
      if redis.call('ZCARD', k) <= window then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES') end
    elseif t == 'hash' then
      if redis.call('HLEN', k) <= window then v = redis.call('HGETALL', k) end
    end
    out[#out + 1] = {t, e, v}
  end
end
return out
"#;

/// One key of a batch, as first read.
pub(crate) enum Found {
    /// Gone, or of a type not wanted.
    Skip,
    /// A type this format cannot write (a module's).
    Unknown(String),
    /// Its type and expiry, and its whole value if it is small.
    Key {
        kind: Kind,
        expire_at: Option<i64>,
        value: Option<Value>,
    },
}

/// Reads keys from one connection.
pub(crate) struct KeyReader {
    conn: Connection,
    /// The database dumped, to read its count of keys with an expiry.
    db: u32,
    /// A cluster's node: `MGET` of a page's keys would cross slots.
    cluster: bool,
    /// The read script's SHA1, where scripting is allowed.
    script: Option<String>,
    /// Whether the server has PEXPIRETIME (Redis 7).
    exact: bool,
    /// Strings are read whole, never in windows (JSON lines).
    whole_strings: bool,
}

impl KeyReader {
    /// Readies `conn`: loads the script where it may.
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub(crate) fn new(
        mut conn: Connection,
        db: u32,
        cluster: bool,
        whole_strings: bool,
    ) -> Result<Self, ConnectError> {
        let script =
            match conn.call("SCRIPT LOAD", &[b"SCRIPT", b"LOAD", READ_SCRIPT.as_bytes()])? {
                Value::Bulk(sha) => String::from_utf8(sha).ok(),
                _ => None,
            };
        let exact = !matches!(
            conn.call("COMMAND INFO", &[b"COMMAND", b"INFO", b"PEXPIRETIME"])?,
            Value::Array(ref v) if v.first() == Some(&Value::Null)
        );
        Ok(KeyReader {
            conn,
            db,
            cluster,
            script,
            exact,
            whole_strings,
        })
    }

    /// The connection, for `SCAN` and the rest.
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Reads a page of keys, and, in the same round trip, sends `then`
    /// (the `SCAN` for the next page) and returns its reply.
    ///
    /// While the database has no key with an expiry (`INFO keyspace`,
    /// asked in the same round trip), strings need no more than `MGET`:
    /// a string's value is all there is to it. The rest, or every key when
    /// some have an expiry, go through [`KeyReader::batch`]. A key given an
    /// expiry while its page is read may be dumped without it, as any key
    /// changed during a dump may be dumped in either state.
    pub(crate) fn page(
        &mut self,
        keys: &[Vec<u8>],
        types: &[String],
        then: Option<&[&[u8]]>,
    ) -> io::Result<(Vec<Found>, Option<Value>)> {
        let strings_wanted = types.is_empty() || types.iter().any(|t| t == "string");
        let fast = strings_wanted && !keys.is_empty() && !self.cluster;
        if fast {
            self.conn.send(&[b"INFO", b"keyspace"])?;
            let mut mget: Vec<&[u8]> = vec![b"MGET"];
            mget.extend(keys.iter().map(Vec::as_slice));
            self.conn.send(&mget)?;
        }
        if let Some(args) = then {
            self.conn.send(args)?;
        }
        let (info, values) = if fast {
            (self.conn.read_reply()?, self.conn.read_reply()?)
        } else {
            (Value::Null, Value::Null)
        };
        let next = match then {
            Some(_) => Some(self.conn.read_reply()?),
            None => None,
        };
        let values = match values {
            Value::Array(v) if v.len() == keys.len() => v,
            _ => Vec::new(),
        };
        if !fast || values.is_empty() || expires(&info, self.db) != Some(0) {
            return Ok((self.batch(keys, types)?, next));
        }
        let mut found: Vec<Found> = Vec::with_capacity(keys.len());
        let mut rest = Vec::new();
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Value::Bulk(_) => found.push(Found::Key {
                    kind: Kind::String,
                    expire_at: None,
                    value: Some(v),
                }),
                _ => {
                    found.push(Found::Skip);
                    rest.push(i);
                }
            }
        }
        if !rest.is_empty() {
            let others: Vec<Vec<u8>> = rest.iter().map(|&i| keys[i].clone()).collect();
            for (i, f) in rest.into_iter().zip(self.batch(&others, types)?) {
                found[i] = f;
            }
        }
        Ok((found, next))
    }

    /// Reads a batch of keys: what [`Found`] says of each.
    pub(crate) fn batch(&mut self, keys: &[Vec<u8>], types: &[String]) -> io::Result<Vec<Found>> {
        if let Some(sha) = &self.script {
            let window = WINDOW.to_string();
            let strmax = if self.whole_strings {
                i64::MAX.to_string()
            } else {
                STRING_WINDOW.to_string()
            };
            let ntypes = types.len().to_string();
            let mut args: Vec<&[u8]> = vec![
                b"EVALSHA",
                sha.as_bytes(),
                b"0",
                window.as_bytes(),
                strmax.as_bytes(),
            ];
            args.push(if self.exact { b"1" } else { b"0" });
            args.push(ntypes.as_bytes());
            args.extend(types.iter().map(|t| t.as_bytes()));
            args.extend(keys.iter().map(Vec::as_slice));
            match self.conn.request(&args)? {
                Value::Array(rows) => return Ok(rows.into_iter().map(found).collect()),
                // Scripting refused after all (NOSCRIPT after a flush, an
                // ACL): go on without it.
                Value::Error(_) => self.script = None,
                other => return Err(bad(format!("the read script returned {other}"))),
            }
        }
        self.batch_plain(keys, types)
    }

    /// The batch without a script: type and expiry pipelined; every value
    /// is then read as a big key's, in windows.
    fn batch_plain(&mut self, keys: &[Vec<u8>], types: &[String]) -> io::Result<Vec<Found>> {
        let expiry: &[u8] = if self.exact { b"PEXPIRETIME" } else { b"PTTL" };
        for k in keys {
            self.conn.send(&[b"TYPE", k])?;
            self.conn.send(&[expiry, k])?;
        }
        let now = if self.exact { 0 } else { now_ms() };
        let mut out = Vec::with_capacity(keys.len());
        for _ in keys {
            let t = self.conn.read_reply()?;
            let e = self.conn.read_reply()?.as_int().unwrap_or(-1);
            let t = t
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned());
            let Some(t) = t.filter(|t| t != "none" && (types.is_empty() || types.contains(t)))
            else {
                out.push(Found::Skip);
                continue;
            };
            let expire_at = (e >= 0).then(|| if self.exact { e } else { now + e });
            out.push(match Kind::of(t.as_bytes()) {
                Some(kind) => Found::Key {
                    kind,
                    expire_at,
                    value: None,
                },
                None => Found::Unknown(t),
            });
        }
        Ok(out)
    }

    /// Writes a small key, read whole.
    pub(crate) fn write_small(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
        value: Value,
        expire_at: Option<i64>,
    ) -> io::Result<()> {
        if kind == Kind::String {
            return out.string(key, value.as_bytes().unwrap_or_default(), expire_at);
        }
        out.begin(key, kind)?;
        match kind {
            Kind::String => unreachable!("written above"),
            Kind::List | Kind::Set => {
                let items = strings(value);
                if !items.is_empty() {
                    out.piece(key, kind, Piece::Items(&items), true)?;
                }
            }
            Kind::Hash | Kind::Zset => {
                let pairs = pairs(strings(value));
                if !pairs.is_empty() {
                    out.piece(key, kind, Piece::Pairs(&pairs), true)?;
                }
            }
            Kind::Stream => unreachable!("streams are read in windows"),
        }
        out.end(
            key,
            kind,
            &Ending {
                expire_at,
                stream: None,
            },
        )
    }

    /// Writes a big key, reading it in windows; undoes it if it goes away
    /// before the end. False if it did.
    pub(crate) fn write_big(
        &mut self,
        out: &mut dyn Output,
        key: &[u8],
        kind: Kind,
    ) -> io::Result<bool> {
        out.begin(key, kind)?;
        let stream = match kind {
            Kind::String => self.string_windows(out, key).map(|()| None)?,
            Kind::List => self.list_windows(out, key).map(|()| None)?,
            Kind::Set | Kind::Hash | Kind::Zset => {
                self.scan_windows(out, key, kind).map(|()| None)?
            }
            Kind::Stream => Some(self.stream_windows(out, key)?),
        };
        // Still there, as it was? Its expiry, as it is now.
        let t = self.conn.request(&[b"TYPE", key])?;
        if Kind::of(t.as_bytes().unwrap_or_default()) != Some(kind) {
            out.vanished(key, kind)?;
            return Ok(false);
        }
        let expire_at = self.expire_at(key)?;
        out.end(key, kind, &Ending { expire_at, stream })?;
        Ok(true)
    }

    fn expire_at(&mut self, key: &[u8]) -> io::Result<Option<i64>> {
        let e = if self.exact {
            self.conn.request(&[b"PEXPIRETIME", key])?.as_int()
        } else {
            let now = now_ms();
            self.conn
                .request(&[b"PTTL", key])?
                .as_int()
                .map(|t| if t >= 0 { now + t } else { t })
        };
        Ok(e.filter(|&e| e >= 0))
    }

    fn string_windows(&mut self, out: &mut dyn Output, key: &[u8]) -> io::Result<()> {
        let mut at = 0usize;
        loop {
            let (from, to) = (at.to_string(), (at + STRING_WINDOW - 1).to_string());
            let v = self
                .conn
                .request(&[b"GETRANGE", key, from.as_bytes(), to.as_bytes()])?;
            let bytes = v.as_bytes().unwrap_or_default();
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

    fn list_windows(&mut self, out: &mut dyn Output, key: &[u8]) -> io::Result<()> {
        let mut at = 0usize;
        loop {
            let (from, to) = (at.to_string(), (at + WINDOW - 1).to_string());
            let items =
                strings(
                    self.conn
                        .request(&[b"LRANGE", key, from.as_bytes(), to.as_bytes()])?,
                );
            if !items.is_empty() {
                out.piece(key, Kind::List, Piece::Items(&items), at == 0)?;
            }
            if items.len() < WINDOW {
                return Ok(());
            }
            at += items.len();
        }
    }

    /// Sets, hashes and sorted sets, with `SSCAN`, `HSCAN` and `ZSCAN`.
    fn scan_windows(&mut self, out: &mut dyn Output, key: &[u8], kind: Kind) -> io::Result<()> {
        let verb: &[u8] = match kind {
            Kind::Set => b"SSCAN",
            Kind::Hash => b"HSCAN",
            _ => b"ZSCAN",
        };
        let (mut cursor, mut first) = (b"0".to_vec(), true);
        let count = WINDOW.to_string();
        loop {
            let reply = self
                .conn
                .request(&[verb, key, &cursor, b"COUNT", count.as_bytes()])?;
            let (next, items) = scan_page(reply)?;
            if !items.is_empty() {
                match kind {
                    Kind::Set => out.piece(key, kind, Piece::Items(&items), first)?,
                    _ => out.piece(key, kind, Piece::Pairs(&pairs(items)), first)?,
                }
                first = false;
            }
            if next == b"0" {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn stream_windows(&mut self, out: &mut dyn Output, key: &[u8]) -> io::Result<StreamMeta> {
        let count = WINDOW.to_string();
        let (mut start, mut first) = (b"-".to_vec(), true);
        loop {
            let reply =
                self.conn
                    .request(&[b"XRANGE", key, &start, b"+", b"COUNT", count.as_bytes()])?;
            let entries = entries(reply);
            let Some((last, _)) = entries.last() else {
                break;
            };
            start = [b"(".as_slice(), last].concat();
            out.piece(key, Kind::Stream, Piece::Entries(&entries), first)?;
            first = false;
            if entries.len() < WINDOW {
                break;
            }
        }
        self.stream_meta(key)
    }

    /// A stream's last ID, counters and consumer groups, from `XINFO`.
    fn stream_meta(&mut self, key: &[u8]) -> io::Result<StreamMeta> {
        let info = fields(self.conn.request(&[b"XINFO", b"STREAM", key])?);
        let get = |name: &str| {
            info.iter()
                .find(|(k, _)| k == name.as_bytes())
                .map(|(_, v)| v)
        };
        let mut meta = StreamMeta {
            last_id: get("last-generated-id")
                .and_then(Value::as_bytes)
                .unwrap_or(b"0-0")
                .to_vec(),
            entries_added: get("entries-added").and_then(Value::as_int),
            max_deleted: get("max-deleted-entry-id")
                .and_then(Value::as_bytes)
                .map(<[u8]>::to_vec),
            groups: Vec::new(),
        };
        if let Some(groups) = self.conn.request(&[b"XINFO", b"GROUPS", key])?.into_items() {
            for g in groups {
                let g = fields(g);
                let get = |name: &str| {
                    g.iter()
                        .find(|(k, _)| k == name.as_bytes())
                        .and_then(|(_, v)| v.as_bytes())
                };
                if let (Some(name), Some(last)) = (get("name"), get("last-delivered-id")) {
                    meta.groups.push((name.to_vec(), last.to_vec()));
                }
            }
        }
        Ok(meta)
    }

    /// Each key of a batch as `DUMP` serializes it, with its expiry: the
    /// restore format.
    #[allow(clippy::type_complexity)]
    pub(crate) fn payloads(
        &mut self,
        keys: &[Vec<u8>],
        then: Option<&[&[u8]]>,
    ) -> io::Result<(Vec<Option<(Vec<u8>, Option<i64>)>>, Option<Value>)> {
        let expiry: &[u8] = if self.exact { b"PEXPIRETIME" } else { b"PTTL" };
        for k in keys {
            self.conn.send(&[expiry, k])?;
            self.conn.send(&[b"DUMP", k])?;
        }
        if let Some(args) = then {
            self.conn.send(args)?;
        }
        let now = if self.exact { 0 } else { now_ms() };
        let mut out = Vec::with_capacity(keys.len());
        for _ in keys {
            let e = self.conn.read_reply()?.as_int().unwrap_or(-1);
            let payload = match self.conn.read_reply()? {
                Value::Bulk(b) => Some(b),
                _ => None,
            };
            let at = (e >= 0).then(|| if self.exact { e } else { now + e });
            out.push(payload.map(|p| (p, at)));
        }
        let next = match then {
            Some(_) => Some(self.conn.read_reply()?),
            None => None,
        };
        Ok((out, next))
    }
}

/// The number of keys with an expiry in database `db`, from `INFO
/// keyspace` (`db0:keys=1,expires=0,avg_ttl=0`): 0 for a database with no
/// key, `None` if the reply cannot be read.
fn expires(info: &Value, db: u32) -> Option<u64> {
    let text = std::str::from_utf8(info.as_bytes()?).ok()?;
    let prefix = format!("db{db}:");
    let Some(line) = text.lines().find(|l| l.starts_with(&prefix)) else {
        return Some(0);
    };
    line.split(',')
        .find_map(|kv| {
            kv.strip_prefix("expires=")
                .or_else(|| kv.strip_prefix(&format!("{prefix}expires=")))
        })
        .and_then(|n| n.trim().parse().ok())
}

fn bad(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One row of the read script's reply.
fn found(row: Value) -> Found {
    let mut row = row.into_items().unwrap_or_default().into_iter();
    let t = row
        .next()
        .and_then(|t| t.as_bytes().map(<[u8]>::to_vec))
        .unwrap_or_default();
    let Some(e) = row.next() else {
        return Found::Skip;
    };
    let Some(kind) = Kind::of(&t) else {
        return Found::Unknown(String::from_utf8_lossy(&t).into_owned());
    };
    let expire_at = e.as_int().filter(|&e| e >= 0);
    let value = row.next().filter(|v| *v != Value::Null);
    Found::Key {
        kind,
        expire_at,
        value,
    }
}

/// The strings of an array reply.
fn strings(v: Value) -> Vec<Vec<u8>> {
    v.into_items()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_bytes().map(<[u8]>::to_vec))
        .collect()
}

fn pairs(items: Vec<Vec<u8>>) -> Vec<Pair> {
    let mut it = items.into_iter();
    std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
}

/// A `*SCAN` page: the next cursor and the elements.
pub(crate) fn scan_page(reply: Value) -> io::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut parts = reply
        .into_items()
        .ok_or_else(|| bad("a SCAN reply is an array".into()))?
        .into_iter();
    let cursor = parts
        .next()
        .and_then(|c| c.as_bytes().map(<[u8]>::to_vec))
        .ok_or_else(|| bad("no cursor".into()))?;
    Ok((cursor, parts.next().map(strings).unwrap_or_default()))
}

/// `XRANGE` entries: an ID and its fields and values.
fn entries(reply: Value) -> Vec<Entry> {
    reply
        .into_items()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let mut e = e.into_items()?.into_iter();
            let id = e.next()?.as_bytes()?.to_vec();
            Some((id, pairs(strings(e.next()?))))
        })
        .collect()
}

/// A reply of names and values (`XINFO`), as pairs.
fn fields(reply: Value) -> Vec<(Vec<u8>, Value)> {
    let mut it = reply.into_items().unwrap_or_default().into_iter();
    std::iter::from_fn(|| {
        let k = it.next()?;
        Some((k.as_bytes().unwrap_or_default().to_vec(), it.next()?))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_count_of_keys_with_an_expiry_from_info_keyspace() {
        let info = Value::Bulk(
            b"# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=2,avg_ttl=9\r\n"
                .to_vec(),
        );
        assert_eq!(expires(&info, 0), Some(0));
        assert_eq!(expires(&info, 3), Some(2));
        assert_eq!(expires(&info, 7), Some(0), "an empty database has none");
        assert_eq!(expires(&Value::Null, 0), None);
    }
}
