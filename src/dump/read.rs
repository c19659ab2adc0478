//! Reading a page of keys from one server, in as few commands as the
//! server allows, every reply checked.
//!
//! Where scripting is allowed, one `EVALSHA` per page reads each key's
//! type, expiry and, for a small key, its whole value, at one instant.
//! While the database has no key with an expiry, strings need no more than
//! `MGET`. A big key (more than [`WINDOW`] elements, a string over
//! [`STRING_WINDOW`] bytes), and every key where scripting is not allowed,
//! is then read by [`super::big`]. A key whose slot has moved (in a
//! cluster) is [`Found::Moved`]: it is read again where it went.

use super::big::now_ms;
use super::link::{Class, Fault, Link, ReplyError, Retry, checked};
use super::shape::{self, bad};
use super::write::Kind;
use crate::resp::Value;

/// Elements read per window, and the most a key may have to be read
/// whole by the page's script.
pub(crate) const WINDOW: usize = 1000;

/// Bytes of a string read per window, and the most read whole.
pub(crate) const STRING_WINDOW: usize = 1 << 20;

/// Reads each key of a page: type, expiry (absolute, in ms), the value of
/// a small key, and a small hash's fields' expiries (Redis 7.4's
/// `HPEXPIRETIME`, one per field, -1 for a field without one). ARGV:
/// window, string window, whether the server has PEXPIRETIME, whether it
/// has HPEXPIRETIME, the number of wanted types, the types, then the keys.
/// A key of an unwanted type, or gone, is only its type. `no-writes` lets
/// it run on a replica and when the server is out of memory; a cluster's
/// page holds keys of many slots.
const READ_SCRIPT: &str = r#"#!lua flags=no-writes,allow-cross-slot-keys
local window, strmax, exact = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local hfe = ARGV[4] == '1'
local ntypes = tonumber(ARGV[5])
local wanted = {}
for i = 1, ntypes do wanted[ARGV[5 + i]] = true end
local now = 0
if not exact then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local out = {}
for i = 6 + ntypes, #ARGV do
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
    local v, fe = false, false
    if t == 'string' then
      if redis.call('STRLEN', k) <= strmax then v = redis.call('GET', k) end
    elseif t == 'list' then
      if redis.call('LLEN', k) <= window then v = redis.call('LRANGE', k, 0, -1) end
    elseif t == 'set' then
      if redis.call('SCARD', k) <= window then v = redis.call('SMEMBERS', k) end
    elseif t == 'zset' then
      if redis.call('ZCARD', k) <= window then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES') end
    elseif t == 'hash' then
      if redis.call('HLEN', k) <= window then
        v = redis.call('HGETALL', k)
        if hfe and #v > 0 then
          local fields = {}
          for j = 1, #v, 2 do fields[#fields + 1] = v[j] end
          fe = redis.call('HPEXPIRETIME', k, 'FIELDS', #fields, unpack(fields))
        end
      end
    end
    out[#out + 1] = {t, e, v, fe}
  end
end
return out
"#;

/// One key of a page, as first read.
pub(crate) enum Found {
    /// Gone, or of a type not wanted.
    Skip,
    /// A type this format cannot write (a module's).
    Unknown(String),
    /// Its slot is served elsewhere now (`MOVED`, `ASK`).
    Moved(u16),
    /// Its type and expiry, and its whole value if it is small.
    Key {
        kind: Kind,
        expire_at: Option<i64>,
        value: Option<Value>,
        /// A hash's fields that expire (read with its value), and when.
        field_expiry: Vec<(Vec<u8>, i64)>,
    },
}

/// Reads keys from one server.
pub(crate) struct KeyReader {
    pub(crate) link: Link,
    /// The database read, to know whether it has keys with an expiry.
    db: u32,
    /// A cluster's node: `MGET` of a page's keys would cross slots.
    cluster: bool,
    /// The read script's SHA1, while scripting is allowed.
    script: Option<String>,
    /// `MGET` may be used (not refused so far).
    mget: bool,
    /// Whether the server has PEXPIRETIME (Redis 7).
    pub(crate) exact: bool,
    /// Whether it has HPEXPIRETIME (Redis 7.4's hash field expiry).
    pub(crate) field_ttls: bool,
    /// The fields that expire of the hash being read in windows, and when.
    pub(crate) field_expiry: Vec<(Vec<u8>, i64)>,
    /// Strings are read whole, never in windows (JSON lines).
    pub(crate) whole_strings: bool,
    /// `WATCH` and `MULTI` may be used (not refused so far).
    pub(crate) watch: bool,
    /// What the reader had to give up, for the user: said once each.
    pub(crate) notices: Vec<String>,
    /// Keys read in windows that changed meanwhile, and were read again.
    pub(crate) changed: u64,
}

impl KeyReader {
    /// Readies `link`: loads the script where it may.
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub(crate) fn new(
        mut link: Link,
        cluster: bool,
        whole_strings: bool,
        retry: &mut Retry,
    ) -> Result<Self, Fault> {
        let (script, refused) = load_script(&mut link, retry)?;
        let notices = refused
            .map(|e| format!("the read script was refused ({e}): reading keys with plain commands, which is slower"))
            .into_iter()
            .collect();
        let known = |v: &Vec<Value>, i: usize| v.get(i).is_some_and(|c| *c != Value::Null);
        let (exact, field_ttls) = match link.patient(
            &[b"COMMAND", b"INFO", b"PEXPIRETIME", b"HPEXPIRETIME"],
            retry,
        )? {
            Value::Array(v) => (known(&v, 0), known(&v, 1)),
            _ => (false, false),
        };
        Ok(KeyReader {
            link,
            db: 0,
            cluster,
            script,
            mget: true,
            exact,
            field_ttls,
            field_expiry: Vec::new(),
            whole_strings,
            watch: true,
            notices,
            changed: 0,
        })
    }

    /// Reads from database `db` from now on.
    pub(crate) fn select(&mut self, db: u32, retry: &mut Retry) -> Result<(), Fault> {
        let db_text = db.to_string();
        self.link
            .patient_checked(&[b"SELECT", db_text.as_bytes()], retry)?;
        self.db = db;
        Ok(())
    }

    fn notice(&mut self, text: String) {
        if !self.notices.contains(&text) {
            self.notices.push(text);
        }
    }

    /// Reads a page of keys: what [`Found`] says of each.
    pub(crate) fn page(&mut self, keys: &[Vec<u8>], types: &[String]) -> Result<Vec<Found>, Fault> {
        let strings_wanted = types.is_empty() || types.iter().any(|t| t == "string");
        if strings_wanted
            && self.mget
            && !self.cluster
            && !keys.is_empty()
            && let Some(found) = self.strings_page(keys, types)?
        {
            return Ok(found);
        }
        self.batch(keys, types)
    }

    /// The page by `MGET`, when the database has no key with an expiry
    /// (`INFO keyspace`, asked in the same round trip): a string's value
    /// is then all there is to it. The keys `MGET` finds no string for go
    /// through [`KeyReader::batch`]. `None` when this cannot be used.
    fn strings_page(
        &mut self,
        keys: &[Vec<u8>],
        types: &[String],
    ) -> Result<Option<Vec<Found>>, Fault> {
        self.link.send(&[b"INFO", b"keyspace"])?;
        let mut mget: Vec<&[u8]> = vec![b"MGET"];
        mget.extend(keys.iter().map(Vec::as_slice));
        self.link.send(&mget)?;
        let [info, values] = <[Value; 2]>::try_from(self.link.replies(2)?).expect("two replies");
        let values = match checked(b"MGET", values) {
            Ok(Value::Array(v)) if v.len() == keys.len() => v,
            Ok(other) => return Err(bad(format!("MGET returned {other}"))),
            Err(e) if e.class() == Class::Transient => return Err(e.into()),
            Err(e) => {
                self.mget = false;
                self.notice(format!(
                    "MGET refused ({}): reading keys one way only",
                    e.text
                ));
                return Ok(None);
            }
        };
        if shape::expires(&info, self.db) != Some(0) {
            return Ok(None);
        }
        let mut found: Vec<Found> = Vec::with_capacity(keys.len());
        let mut rest = Vec::new();
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Value::Bulk(_) => found.push(Found::Key {
                    kind: Kind::String,
                    expire_at: None,
                    value: Some(v),
                    field_expiry: Vec::new(),
                }),
                _ => {
                    found.push(Found::Skip);
                    rest.push(keys[i].clone());
                }
            }
        }
        if !rest.is_empty() {
            let mut others = self.batch(&rest, types)?.into_iter();
            for f in found.iter_mut().filter(|f| matches!(f, Found::Skip)) {
                *f = others.next().expect("one for each");
            }
        }
        Ok(Some(found))
    }

    /// Reads a batch of keys by the script, or without it.
    pub(crate) fn batch(
        &mut self,
        keys: &[Vec<u8>],
        types: &[String],
    ) -> Result<Vec<Found>, Fault> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(sha) = self.script.clone() {
            let reply = self.run_script(&sha, keys, types, false)?;
            match checked(b"EVALSHA", reply) {
                Ok(Value::Array(rows)) if rows.len() == keys.len() => {
                    return rows.into_iter().map(found).collect();
                }
                Ok(other) => {
                    return Err(bad(format!("the read script returned {other}")));
                }
                Err(e) if e.class() == Class::Transient => return Err(e.into()),
                Err(e) if e.code() == "NOSCRIPT" => {
                    // A SCRIPT FLUSH: load it again, and read the page again.
                    let mut retry = Retry::new(Some(std::time::Duration::from_secs(30)));
                    self.script = load_script(&mut self.link, &mut retry)?.0;
                    return self.batch(keys, types);
                }
                Err(e) => self.script_refused(&e),
            }
        }
        self.batch_plain(keys, types)
    }

    /// Runs the read script on `keys`; `whole` reads every value whole,
    /// however big.
    fn run_script(
        &mut self,
        sha: &str,
        keys: &[Vec<u8>],
        types: &[String],
        whole: bool,
    ) -> Result<Value, Fault> {
        let unbounded = i64::MAX.to_string();
        let window = if whole {
            unbounded.clone()
        } else {
            WINDOW.to_string()
        };
        let strmax = if self.whole_strings || whole {
            unbounded
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
        args.push(if self.field_ttls { b"1" } else { b"0" });
        args.push(ntypes.as_bytes());
        args.extend(types.iter().map(|t| t.as_bytes()));
        args.extend(keys.iter().map(Vec::as_slice));
        self.link.send(&args)?;
        self.link.reply()
    }

    /// One key read whole by the script, at one instant (its size in
    /// memory, once); `None` without scripting, or for a stream, which
    /// the script does not read.
    pub(crate) fn whole_by_script(&mut self, key: &[u8]) -> Result<Option<Found>, Fault> {
        let Some(sha) = self.script.clone() else {
            return Ok(None);
        };
        let reply = self.run_script(&sha, &[key.to_vec()], &[], true)?;
        let row = match checked(b"EVALSHA", reply)?.into_items() {
            Some(mut rows) if rows.len() == 1 => found(rows.remove(0))?,
            _ => return Err(bad("the read script returned no row".into())),
        };
        Ok(match row {
            Found::Key { value: None, .. } => None,
            other => Some(other),
        })
    }

    /// The script failed: a page that reaches keys of another node (a
    /// cluster mid-reshard) is read without it this once; any other
    /// refusal (an ACL, scripting disabled) stops it for good.
    fn script_refused(&mut self, e: &ReplyError) {
        let this_page = e.text.contains("non local key") || e.text.contains("same slot");
        if !this_page {
            self.script = None;
            self.notice(format!(
                "the read script was refused ({}): reading keys with plain commands, which is slower",
                e.text
            ));
        }
    }

    /// The batch without a script: type and expiry pipelined; every value
    /// is then read by [`super::big`].
    fn batch_plain(&mut self, keys: &[Vec<u8>], types: &[String]) -> Result<Vec<Found>, Fault> {
        let expiry: &[u8] = if self.exact { b"PEXPIRETIME" } else { b"PTTL" };
        for k in keys {
            self.link.send(&[b"TYPE", k])?;
            self.link.send(&[expiry, k])?;
        }
        let now = if self.exact { 0 } else { now_ms() };
        let replies = self.link.replies(2 * keys.len())?;
        let mut out = Vec::with_capacity(keys.len());
        for pair in replies.chunks_exact(2) {
            let (t, e) = match (
                checked(b"TYPE", pair[0].clone()),
                checked(expiry, pair[1].clone()),
            ) {
                (Ok(t), Ok(e)) => (t, e),
                (Err(err), _) | (_, Err(err)) => match err.class() {
                    Class::Redirect(slot) => {
                        out.push(Found::Moved(slot));
                        continue;
                    }
                    _ => return Err(err.into()),
                },
            };
            let t = t
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned());
            let Some(t) = t.filter(|t| t != "none" && (types.is_empty() || types.contains(t)))
            else {
                out.push(Found::Skip);
                continue;
            };
            let e = e.as_int().unwrap_or(-1);
            let expire_at = (e >= 0).then(|| if self.exact { e } else { now + e });
            out.push(match Kind::of(t.as_bytes()) {
                Some(kind) => Found::Key {
                    kind,
                    expire_at,
                    value: None,
                    field_expiry: Vec::new(),
                },
                None => Found::Unknown(t),
            });
        }
        Ok(out)
    }
}

/// Loads the read script: its SHA1, or why scripting is refused. A server
/// older than 7 does not know the flags line, and gets the script without
/// it.
fn load_script(
    link: &mut Link,
    retry: &mut Retry,
) -> Result<(Option<String>, Option<String>), Fault> {
    let bare = READ_SCRIPT.split_once('\n').expect("a flags line").1;
    let mut refused = None;
    for script in [READ_SCRIPT, bare] {
        match link.patient(&[b"SCRIPT", b"LOAD", script.as_bytes()], retry)? {
            Value::Bulk(sha) => return Ok((String::from_utf8(sha).ok(), None)),
            other => refused = Some(other.error().unwrap_or("no SHA1").to_string()),
        }
    }
    Ok((None, refused))
}

/// One row of the read script's reply.
fn found(row: Value) -> Result<Found, Fault> {
    let mut row = row
        .into_items()
        .ok_or_else(|| bad("a row of the read script is an array".into()))?
        .into_iter();
    let t = row
        .next()
        .and_then(|t| t.as_bytes().map(<[u8]>::to_vec))
        .ok_or_else(|| bad("a row of the read script without a type".into()))?;
    let Some(e) = row.next() else {
        return Ok(Found::Skip);
    };
    let Some(kind) = Kind::of(&t) else {
        return Ok(Found::Unknown(String::from_utf8_lossy(&t).into_owned()));
    };
    let expire_at = e.as_int().filter(|&e| e >= 0);
    // Lua's false comes back as a null: the value was too big to read here.
    let value = row.next().filter(|v| *v != Value::Null);
    let field_expiry = match (&value, row.next()) {
        (Some(Value::Array(pairs)), Some(Value::Array(ats))) => {
            let fields = pairs.iter().step_by(2);
            expiring(fields.map(|f| f.as_bytes().unwrap_or_default()), &ats)?
        }
        _ => Vec::new(),
    };
    Ok(Found::Key {
        kind,
        expire_at,
        value,
        field_expiry,
    })
}

/// The fields that expire, from `HPEXPIRETIME`'s reply `ats` for `fields`
/// (one each: the time, or -1 for none, -2 for a field gone).
pub(crate) fn expiring<'a>(
    fields: impl ExactSizeIterator<Item = &'a [u8]>,
    ats: &[Value],
) -> Result<Vec<(Vec<u8>, i64)>, Fault> {
    if fields.len() != ats.len() {
        return Err(bad(format!(
            "HPEXPIRETIME gave {} times for {} fields",
            ats.len(),
            fields.len()
        )));
    }
    Ok(fields
        .zip(ats)
        .filter_map(|(f, at)| at.as_int().filter(|&t| t >= 0).map(|t| (f.to_vec(), t)))
        .collect())
}
