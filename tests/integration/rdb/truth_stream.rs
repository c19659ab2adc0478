//! A stream as a server reports it (`XINFO STREAM key FULL`), in the
//! canonical form of `truth`.

use rload::resp::Value;
use serde_json::{Value as Json, json};

use super::truth::{Client, esc};

/// A RESP2 map (a flat array of names and values) as pairs.
fn fields(v: Value) -> Vec<(String, Value)> {
    let Value::Array(items) = v else {
        panic!("not a map: {v:?}")
    };
    let mut out = Vec::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((text(k), v));
    }
    out
}

fn get(f: &[(String, Value)], name: &str) -> Option<Value> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn text(v: Value) -> String {
    match v {
        Value::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::Status(s) => s,
        Value::Int(i) => i.to_string(),
        v => panic!("not text: {v:?}"),
    }
}

fn bytes(v: Value) -> Vec<u8> {
    match v {
        Value::Bulk(b) => b,
        v => text(v).into_bytes(),
    }
}

fn int(v: Option<Value>) -> Json {
    match v {
        Some(Value::Int(i)) => json!(i),
        _ => json!(null),
    }
}

fn items(v: Option<Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a,
        v => panic!("not an array: {v:?}"),
    }
}

pub fn server_stream(c: &mut Client, key: &[u8]) -> Json {
    let info = fields(c.cmd(&[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"]));
    let entries: Vec<Json> = items(get(&info, "entries"))
        .into_iter()
        .map(|e| {
            let Value::Array(mut e) = e else {
                panic!("an entry")
            };
            let fv: Vec<String> = items(e.pop()).into_iter().map(|x| esc(&bytes(x))).collect();
            json!([text(e.pop().unwrap()), fv])
        })
        .collect();
    let mut groups: Vec<Json> = items(get(&info, "groups")).into_iter().map(group).collect();
    groups.sort_by_cached_key(|v| v.to_string());
    let id = |name| get(&info, name).map(text);
    json!({"entries": entries, "length": int(get(&info, "length")), "last_id": id("last-generated-id"),
           "first_id": id("recorded-first-entry-id"), "max_deleted": id("max-deleted-entry-id"),
           "entries_added": int(get(&info, "entries-added")), "groups": groups})
}

fn group(g: Value) -> Json {
    let g = fields(g);
    let pending: Vec<Json> = items(get(&g, "pending"))
        .into_iter()
        .map(|p| {
            let Value::Array(p) = p else {
                panic!("a pending entry")
            };
            let mut p = p.into_iter();
            let (id, owner) = (text(p.next().unwrap()), esc(&bytes(p.next().unwrap())));
            json!([id, owner, int(p.next()), int(p.next())])
        })
        .collect();
    let mut consumers: Vec<Json> = items(get(&g, "consumers"))
        .into_iter()
        .map(|c| {
            let c = fields(c);
            let ids: Vec<String> = items(get(&c, "pending"))
                .into_iter()
                .map(|p| {
                    let Value::Array(p) = p else {
                        panic!("a pending id")
                    };
                    text(p.into_iter().next().unwrap())
                })
                .collect();
            json!([
                esc(&bytes(get(&c, "name").unwrap())),
                int(get(&c, "seen-time")),
                int(get(&c, "active-time")),
                ids
            ])
        })
        .collect();
    consumers.sort_by_cached_key(|v| v.to_string());
    json!({"name": esc(&bytes(get(&g, "name").unwrap())), "last_id": get(&g, "last-delivered-id").map(text),
           "entries_read": int(get(&g, "entries-read")), "pending": pending, "consumers": consumers})
}
