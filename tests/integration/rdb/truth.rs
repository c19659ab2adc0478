//! One canonical form for a dataset, built two ways: from what the RDB
//! reader yields, and from what a running server holds (asked key by key).
//! Each key is one JSON line: database, key, type, expiry and value, with
//! sets and hashes sorted, scores as the shortest text of their double,
//! and every byte string escaped, so two datasets are equal when their
//! sorted lines are.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use rload::rdb::{Event, Kind, Piece, Raw, RdbReader, StreamMeta};
use rload::resp::{Value, encode_to_vec, parse_value};
use serde_json::{Value as Json, json};

/// Bytes as a string: printable ASCII as it is, the rest `\xHH`.
pub fn esc(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

/// A score's canonical text: the shortest text of its double.
pub fn score(text: &[u8]) -> String {
    let s = std::str::from_utf8(text).expect("a score is text");
    let v: f64 = match s {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|_| panic!("bad score {s:?}")),
    };
    format!("{v:?}")
}

/// What the reader yields for a file: its keys' lines (sorted), its
/// function libraries, and how the file ended.
#[derive(Debug, Default)]
pub struct FileView {
    pub lines: Vec<String>,
    pub functions: Vec<String>,
    pub keys: u64,
    pub checksum: Option<u64>,
    pub max_piece_elements: usize,
}

/// Reads `path` whole with the RDB reader. Keys already expired are left
/// out (a server drops them when it loads the file), as are collections
/// with no elements (which it skips).
pub fn read_file(path: &Path) -> FileView {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_all(RdbReader::new(std::io::BufReader::new(file)).expect("an RDB header"))
}

/// Reads everything `reader` yields.
pub fn read_all<R: Read>(mut reader: RdbReader<R>) -> FileView {
    let now = now_ms();
    let mut view = FileView::default();
    let mut key: Option<KeyAcc> = None;
    loop {
        let event = reader
            .next()
            .unwrap_or_else(|e| panic!("reading failed: {e}"));
        match event.expect("events until End") {
            Event::KeyStart(k) => key = Some(KeyAcc::new(k.db, k.key, k.kind, k.expire_at_ms)),
            Event::Piece(p) => {
                let acc = key.as_mut().expect("a piece inside a key");
                view.max_piece_elements = view.max_piece_elements.max(acc.add(p));
            }
            Event::KeyEnd(end) => {
                view.keys += 1;
                let acc = key.take().expect("an end after a start");
                let empty = end.elements == 0
                    && !matches!(acc.kind, Kind::String | Kind::Stream | Kind::Module(_));
                let expired = acc.expire.is_some_and(|t| t <= now);
                if !empty && !expired {
                    view.lines.push(acc.finish(end.stream, end.raw).to_string());
                }
            }
            Event::Function { code } => view
                .functions
                .push(String::from_utf8_lossy(code).into_owned()),
            Event::End { checksum } => {
                view.checksum = checksum;
                break;
            }
            _ => {}
        }
    }
    assert!(reader.next().unwrap().is_none(), "nothing after End");
    view.lines.sort();
    view.functions.sort();
    view
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A key as it is read.
struct KeyAcc {
    db: u64,
    key: String,
    kind: Kind,
    expire: Option<i64>,
    bytes: Vec<u8>,
    items: Vec<Json>,
}

impl KeyAcc {
    fn new(db: u64, key: &[u8], kind: Kind, expire: Option<i64>) -> Self {
        KeyAcc {
            db,
            key: esc(key),
            kind,
            expire,
            bytes: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Adds a piece; returns how many elements it held.
    fn add(&mut self, piece: Piece<'_>) -> usize {
        match piece {
            Piece::Bytes(b) => {
                self.bytes.extend_from_slice(b);
                0
            }
            Piece::Items(e) => {
                self.items.extend(e.iter().map(|x| json!(esc(x))));
                e.len()
            }
            Piece::Pairs(e) => {
                let zset = self.kind == Kind::Zset;
                self.items.extend(e.pairs().map(|(a, b)| {
                    if zset {
                        json!([esc(a), score(b)])
                    } else {
                        json!([esc(a), esc(b), null])
                    }
                }));
                e.len()
            }
            Piece::ExpiringPairs {
                pairs,
                expire_at_ms,
            } => {
                assert_eq!(pairs.len(), 2 * expire_at_ms.len());
                self.items.extend(
                    pairs
                        .pairs()
                        .zip(expire_at_ms)
                        .map(|((f, v), t)| json!([esc(f), esc(v), t])),
                );
                pairs.len()
            }
            Piece::Entries(es) => {
                for (id, fields) in es.iter() {
                    let f: Vec<String> = fields.iter().map(esc).collect();
                    self.items.push(json!([id.to_string(), f]));
                }
                es.len()
            }
        }
    }

    fn finish(mut self, meta: Option<&StreamMeta>, raw: Option<Raw<'_>>) -> Json {
        let value = match self.kind {
            Kind::String => json!(esc(&self.bytes)),
            Kind::List => json!(self.items),
            Kind::Set | Kind::Zset | Kind::Hash => {
                self.items.sort_by_cached_key(|v| v.to_string());
                json!(self.items)
            }
            Kind::Stream => stream_from_meta(self.items, meta.expect("a stream's metadata")),
            Kind::Module(_) => {
                let raw = raw.expect("a module value's bytes");
                let bytes = [&[raw.encoding][..], raw.value].concat();
                json!(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
        };
        json!({"db": self.db, "key": self.key, "type": self.kind.name(), "expire": self.expire, "value": value})
    }
}

fn stream_from_meta(entries: Vec<Json>, m: &StreamMeta) -> Json {
    let mut groups: Vec<Json> = m
        .groups
        .iter()
        .map(|g| {
            let owner = |id| {
                g.consumers
                    .iter()
                    .find(|c| c.pending.contains(id))
                    .map(|c| esc(&c.name))
            };
            let pending: Vec<Json> = g
                .pending
                .iter()
                .map(|p| {
                    json!([
                        p.id.to_string(),
                        owner(&p.id),
                        p.delivery_time_ms,
                        p.delivery_count
                    ])
                })
                .collect();
            let mut consumers: Vec<Json> = g
                .consumers
                .iter()
                .map(|c| {
                    let ids: Vec<String> = c.pending.iter().map(ToString::to_string).collect();
                    json!([esc(&c.name), c.seen_time_ms, c.active_time_ms, ids])
                })
                .collect();
            consumers.sort_by_cached_key(|v| v.to_string());
            json!({"name": esc(&g.name), "last_id": g.last_id.to_string(), "entries_read": g.entries_read,
                   "pending": pending, "consumers": consumers})
        })
        .collect();
    groups.sort_by_cached_key(|v| v.to_string());
    json!({"entries": entries, "length": m.length, "last_id": m.last_id.to_string(),
           "first_id": m.first_id.map(|i| i.to_string()), "max_deleted": m.max_deleted_id.map(|i| i.to_string()),
           "entries_added": m.entries_added, "groups": groups})
}

/// A plain RESP2 connection for asking a server what it holds.
pub struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client {
            sock: TcpStream::connect(("127.0.0.1", port)).expect("connect"),
            buf: Vec::new(),
        }
    }

    pub fn cmd(&mut self, args: &[&[u8]]) -> Value {
        self.sock.write_all(&encode_to_vec(args)).unwrap();
        loop {
            if let Some((v, used)) = parse_value(&self.buf).unwrap() {
                self.buf.drain(..used);
                return v;
            }
            let mut chunk = [0u8; 65536];
            let n = self.sock.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn bytes_list(&mut self, args: &[&[u8]]) -> Vec<Vec<u8>> {
        match self.cmd(args) {
            Value::Array(items) => items.into_iter().map(bulk).collect(),
            v => panic!("{args:?} gave {v:?}"),
        }
    }
}

fn bulk(v: Value) -> Vec<u8> {
    match v {
        Value::Bulk(b) => b,
        Value::Status(s) => s.into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        v => panic!("not a string: {v:?}"),
    }
}

/// What a running server holds, in the same form as [`read_file`]: its
/// keys' lines and its function libraries, sorted.
pub fn server_view(port: u16) -> (Vec<String>, Vec<String>) {
    let mut c = Client::new(port);
    let hfe = matches!(c.cmd(&[b"COMMAND", b"INFO", b"HPEXPIRETIME"]), Value::Array(v) if !matches!(v.first(), Some(Value::Null) | None));
    let mut lines = Vec::new();
    for db in 0..16u64 {
        c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
        for key in scan(&mut c) {
            let kind = String::from_utf8(bulk(c.cmd(&[b"TYPE", &key]))).unwrap();
            let value = server_value(&mut c, &key, &kind, hfe);
            let expire = match c.cmd(&[b"PEXPIRETIME", &key]) {
                Value::Int(-1) => json!(null),
                Value::Int(t) => json!(t),
                v => panic!("PEXPIRETIME gave {v:?}"),
            };
            lines.push(
                json!({"db": db, "key": esc(&key), "type": kind, "expire": expire, "value": value})
                    .to_string(),
            );
        }
    }
    lines.sort();
    let mut functions = Vec::new();
    if let Value::Array(libs) = c.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"]) {
        for lib in libs {
            let Value::Array(fields) = lib else {
                panic!("a library is a map")
            };
            let code = fields
                .chunks(2)
                .find(|kv| kv[0] == Value::Bulk(b"library_code".to_vec()))
                .expect("its code");
            functions.push(String::from_utf8(bulk(code[1].clone())).unwrap());
        }
    }
    functions.sort();
    (lines, functions)
}

fn scan(c: &mut Client) -> Vec<Vec<u8>> {
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    loop {
        let Value::Array(mut reply) = c.cmd(&[b"SCAN", &cursor, b"COUNT", b"1000"]) else {
            panic!("SCAN")
        };
        let Value::Array(page) = reply.pop().unwrap() else {
            panic!("SCAN page")
        };
        keys.extend(page.into_iter().map(bulk));
        cursor = bulk(reply.pop().unwrap());
        if cursor == b"0" {
            return keys;
        }
    }
}

fn server_value(c: &mut Client, key: &[u8], kind: &str, hfe: bool) -> Json {
    let strings = |v: Vec<Vec<u8>>| -> Vec<String> { v.iter().map(|x| esc(x)).collect() };
    match kind {
        "string" => json!(esc(&bulk(c.cmd(&[b"GET", key])))),
        "list" => json!(strings(c.bytes_list(&[b"LRANGE", key, b"0", b"-1"]))),
        "set" => {
            let mut m = strings(c.bytes_list(&[b"SMEMBERS", key]));
            m.sort_by_cached_key(|s| json!(s).to_string());
            json!(m)
        }
        "zset" => {
            let flat = c.bytes_list(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]);
            let mut pairs: Vec<Json> = flat
                .chunks(2)
                .map(|p| json!([esc(&p[0]), score(&p[1])]))
                .collect();
            pairs.sort_by_cached_key(|v| v.to_string());
            json!(pairs)
        }
        "hash" => {
            let flat = c.bytes_list(&[b"HGETALL", key]);
            let mut pairs: Vec<Json> = flat
                .chunks(2)
                .map(|p| {
                    let t = if hfe {
                        field_expire(c, key, &p[0])
                    } else {
                        json!(null)
                    };
                    json!([esc(&p[0]), esc(&p[1]), t])
                })
                .collect();
            pairs.sort_by_cached_key(|v| v.to_string());
            json!(pairs)
        }
        "stream" => super::truth_stream::server_stream(c, key),
        _ => {
            let dump = bulk(c.cmd(&[b"DUMP", key]));
            json!(
                dump[..dump.len() - 10]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        }
    }
}

fn field_expire(c: &mut Client, key: &[u8], field: &[u8]) -> Json {
    match c.cmd(&[b"HPEXPIRETIME", key, b"FIELDS", b"1", field]) {
        Value::Array(v) => match v[0] {
            Value::Int(t) if t >= 0 => json!(t),
            _ => json!(null),
        },
        v => panic!("HPEXPIRETIME gave {v:?}"),
    }
}

/// Writes `path` holding `lines`, one per line.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}
