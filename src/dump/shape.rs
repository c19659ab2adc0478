//! The shapes of the replies a dump reads, taken apart: `SCAN` pages,
//! arrays of strings, pairs, stream entries, `XINFO`'s fields, `INFO
//! keyspace`. A reply of the wrong shape is a protocol fault, never an
//! empty value.

use std::io;

use super::link::Fault;
use super::write::{Entry, Pair, StreamMeta};
use crate::resp::Value;

/// A reply rload cannot read: the server is out of step with it.
pub(crate) fn bad(why: String) -> Fault {
    Fault::Io(io::Error::new(io::ErrorKind::InvalidData, why))
}

/// The strings of an array reply.
pub(crate) fn strings(v: Value) -> Result<Vec<Vec<u8>>, Fault> {
    let what = v.to_string();
    v.into_items()
        .ok_or_else(|| bad(format!("expected an array, got {what}")))?
        .into_iter()
        .map(|v| match v {
            Value::Bulk(b) => Ok(b),
            other => other
                .as_bytes()
                .map(<[u8]>::to_vec)
                .ok_or_else(|| bad(format!("expected a string, got {other}"))),
        })
        .collect()
}

/// Pairs of a flat array: field, value, field, value...
pub(crate) fn pairs(items: Vec<Vec<u8>>) -> Vec<Pair> {
    let mut it = items.into_iter();
    std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
}

/// A `*SCAN` page: the next cursor and the elements.
pub(crate) fn scan_page(reply: Value) -> Result<(Vec<u8>, Vec<Vec<u8>>), Fault> {
    let mut parts = reply
        .into_items()
        .ok_or_else(|| bad("a SCAN reply is an array".into()))?
        .into_iter();
    let cursor = parts
        .next()
        .and_then(|c| c.as_bytes().map(<[u8]>::to_vec))
        .ok_or_else(|| bad("a SCAN reply without a cursor".into()))?;
    let items = parts
        .next()
        .ok_or_else(|| bad("a SCAN reply without elements".into()))?;
    Ok((cursor, strings(items)?))
}

/// `XRANGE` entries: an ID and its fields and values.
pub(crate) fn entries(reply: Value) -> Result<Vec<Entry>, Fault> {
    reply
        .into_items()
        .ok_or_else(|| bad("an XRANGE reply is an array".into()))?
        .into_iter()
        .map(|e| {
            let mut e = e
                .into_items()
                .ok_or_else(|| bad("a stream entry is an array".into()))?
                .into_iter();
            let id = e.next().and_then(|id| id.as_bytes().map(<[u8]>::to_vec));
            let fields = e.next().map(strings).transpose()?;
            match (id, fields) {
                (Some(id), Some(fields)) => Ok((id, pairs(fields))),
                _ => Err(bad("a stream entry without its ID or fields".into())),
            }
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

/// A stream's last ID, counters and consumer groups, from `XINFO STREAM`
/// and `XINFO GROUPS`.
pub(crate) fn stream_meta(stream: Value, groups: Value) -> Result<StreamMeta, Fault> {
    let info = fields(stream);
    let get = |name: &str| {
        info.iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v)
    };
    let last_id = get("last-generated-id")
        .and_then(Value::as_bytes)
        .ok_or_else(|| bad("XINFO STREAM without last-generated-id".into()))?
        .to_vec();
    let mut meta = StreamMeta {
        last_id,
        entries_added: get("entries-added").and_then(Value::as_int),
        max_deleted: get("max-deleted-entry-id")
            .and_then(Value::as_bytes)
            .map(<[u8]>::to_vec),
        groups: Vec::new(),
    };
    let groups = groups
        .into_items()
        .ok_or_else(|| bad("XINFO GROUPS is an array".into()))?;
    for g in groups {
        let g = fields(g);
        let get = |name: &str| {
            g.iter()
                .find(|(k, _)| k == name.as_bytes())
                .and_then(|(_, v)| v.as_bytes())
        };
        match (get("name"), get("last-delivered-id")) {
            (Some(name), Some(last)) => meta.groups.push((name.to_vec(), last.to_vec())),
            _ => return Err(bad("a consumer group without its name or last ID".into())),
        }
    }
    Ok(meta)
}

/// The databases that hold keys, from `INFO keyspace`
/// (`db0:keys=1,expires=0,avg_ttl=0`), with their counts of keys and of
/// keys with an expiry.
pub(crate) fn keyspace(info: &Value) -> Option<Vec<(u32, u64, u64)>> {
    let text = std::str::from_utf8(info.as_bytes()?).ok()?;
    let mut dbs = Vec::new();
    for line in text.lines() {
        let Some((db, rest)) = line.strip_prefix("db").and_then(|l| l.split_once(':')) else {
            continue;
        };
        let field = |name: &str| {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|n| n.trim().parse::<u64>().ok())
        };
        dbs.push((db.parse().ok()?, field("keys")?, field("expires")?));
    }
    dbs.sort_unstable();
    Some(dbs)
}

/// The number of keys with an expiry in database `db`: 0 for a database
/// with no key, `None` if the reply cannot be read.
pub(crate) fn expires(info: &Value, db: u32) -> Option<u64> {
    let dbs = keyspace(info)?;
    Some(dbs.iter().find(|d| d.0 == db).map_or(0, |d| d.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_databases_and_their_expiries_from_info_keyspace() {
        let info = Value::Bulk(
            b"# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=2,avg_ttl=9\r\n"
                .to_vec(),
        );
        assert_eq!(keyspace(&info), Some(vec![(0, 10, 0), (3, 5, 2)]));
        assert_eq!(expires(&info, 0), Some(0));
        assert_eq!(expires(&info, 3), Some(2));
        assert_eq!(expires(&info, 7), Some(0), "an empty database has none");
        assert_eq!(expires(&Value::Null, 0), None);
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_an_error_not_an_empty_value() {
        assert!(strings(Value::Error("ERR".into())).is_err());
        assert!(strings(Value::Null).is_err());
        assert!(scan_page(Value::Array(vec![Value::Bulk(b"0".to_vec())])).is_err());
        assert!(entries(Value::Int(3)).is_err());
        assert_eq!(
            strings(Value::Array(vec![Value::Bulk(b"a".to_vec())])).unwrap(),
            [b"a".to_vec()]
        );
    }
}
