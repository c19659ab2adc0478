//! Which arguments of a command are keys, from the server's own `COMMAND`
//! table, fetched once: key specs (Redis 7) where the server has them, else
//! the legacy first/last/step fields, so every command the server knows,
//! module commands included, routes as the server would route it.
//!
//! Key specs are followed as `getKeysUsingKeySpecs` in Redis's `db.c` does,
//! keeping the keys of the specs that resolve (routing needs a key, not a
//! proof that there are no others: the server checks the slots itself).

use std::collections::HashMap;

use crate::input::Args;
use crate::resp::Value;
use crate::resp::parse_strict_i64;

/// Where a key spec starts looking.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Begin {
    Index(i64),
    Keyword { keyword: Vec<u8>, startfrom: i64 },
    Unknown,
}

/// How a key spec finds its keys from there.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Find {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct KeySpec {
    begin: Begin,
    find: Find,
}

/// One command's key positions.
#[derive(Clone, Debug, Default)]
struct Spec {
    key_specs: Vec<KeySpec>,
    /// first, last, step: the pre-7 description.
    legacy: (i64, i64, i64),
    /// By lowercase subcommand name (`stream` for `xinfo|stream`).
    subcommands: HashMap<Vec<u8>, Spec>,
}

/// The server's command table, by lowercase command name.
#[derive(Debug, Default)]
pub(crate) struct CommandTable {
    names: HashMap<Vec<u8>, usize>,
    specs: Vec<Spec>,
}

/// Remembers the last command looked up: a load is mostly runs of one
/// command, so most lookups need neither lowercasing nor hashing.
#[derive(Debug, Default)]
pub(crate) struct Lookup {
    /// The last name, lowercased, and its index in the table.
    name: Vec<u8>,
    index: Option<Option<usize>>,
    /// Scratch for a subcommand's lowercased name.
    sub: Vec<u8>,
}

impl CommandTable {
    /// Reads the reply to `COMMAND`.
    ///
    /// # Errors
    ///
    /// A reply that is not a command table.
    pub(crate) fn from_reply(reply: Value) -> Result<Self, String> {
        let entries = reply.into_items().ok_or("COMMAND did not return a list")?;
        let mut table = CommandTable::default();
        for entry in entries {
            let (name, spec) = parse_entry(entry)?;
            table.names.insert(name, table.specs.len());
            table.specs.push(spec);
        }
        Ok(table)
    }

    /// Calls `f` with each key of the command `args`. Unknown commands have
    /// no keys.
    pub(crate) fn for_each_key(
        &self,
        args: &Args<'_>,
        lookup: &mut Lookup,
        mut f: impl FnMut(&[u8]),
    ) {
        let name = args.get(0).unwrap_or_default();
        let index = match lookup.index {
            Some(index) if name.eq_ignore_ascii_case(&lookup.name) => index,
            _ => {
                lookup.name.clear();
                lookup.name.extend(name.iter().map(u8::to_ascii_lowercase));
                let index = self.names.get(lookup.name.as_slice()).copied();
                lookup.index = Some(index);
                index
            }
        };
        let Some(spec) = index.map(|i| &self.specs[i]) else {
            return;
        };
        let spec = match args.get(1) {
            Some(sub) if !spec.subcommands.is_empty() => {
                lookup.sub.clear();
                lookup.sub.extend(sub.iter().map(u8::to_ascii_lowercase));
                spec.subcommands.get(lookup.sub.as_slice()).unwrap_or(spec)
            }
            _ => spec,
        };
        let argc = args.len() as i64;
        if spec.key_specs.is_empty() {
            let (first, last, step) = spec.legacy;
            let last = if last < 0 { argc + last } else { last };
            for_range(args, first, last, step, &mut f);
            return;
        }
        for ks in &spec.key_specs {
            if let Some((first, last, step)) = resolve(ks, args, argc) {
                for_range(args, first, last, step, &mut f);
            }
        }
    }
}

/// A key spec's first and last key index and step, if it resolves.
fn resolve(ks: &KeySpec, args: &Args<'_>, argc: i64) -> Option<(i64, i64, i64)> {
    let first = match &ks.begin {
        Begin::Index(i) => *i,
        Begin::Keyword { keyword, startfrom } => {
            let (start, end) = if *startfrom > 0 {
                (*startfrom, argc - 1)
            } else {
                (argc + startfrom, 1)
            };
            let mut i = start;
            let mut found = None;
            while i != end && (1..argc).contains(&i) {
                if args
                    .get(i as usize)
                    .is_some_and(|a| a.eq_ignore_ascii_case(keyword))
                {
                    found = Some(i + 1);
                    break;
                }
                i += if start <= end { 1 } else { -1 };
            }
            found?
        }
        Begin::Unknown => return None,
    };
    let (first, last, step) = match ks.find {
        Find::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit == 0 {
                argc + lastkey
            } else {
                first + ((argc - first) / limit + lastkey)
            };
            (first, last, keystep)
        }
        Find::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let numkeys = parse_strict_i64(args.get((first + keynumidx) as usize)?)?;
            if numkeys < 0 {
                return None;
            }
            (first + firstkey, first + firstkey + numkeys - 1, keystep)
        }
        Find::Unknown => return None,
    };
    (last < argc && last >= first && first < argc).then_some((first, last, step))
}

fn for_range(args: &Args<'_>, first: i64, last: i64, step: i64, f: &mut impl FnMut(&[u8])) {
    if first <= 0 || step <= 0 {
        return;
    }
    let mut i = first;
    while i <= last {
        match args.get(i as usize) {
            Some(key) => f(key),
            None => return,
        }
        i += step;
    }
}

/// One entry of COMMAND: name, arity, flags, first key, last key, step,
/// and (Redis 7) ACL categories, tips, key specs, subcommands.
fn parse_entry(entry: Value) -> Result<(Vec<u8>, Spec), String> {
    let bad = || "COMMAND returned an entry rload cannot read".to_string();
    let fields = entry.into_items().ok_or_else(bad)?;
    let name = fields
        .first()
        .and_then(Value::as_bytes)
        .ok_or_else(bad)?
        .to_ascii_lowercase();
    let int = |i: usize| fields.get(i).and_then(Value::as_int).unwrap_or(0);
    let mut spec = Spec {
        legacy: (int(3), int(4), int(5)),
        ..Spec::default()
    };
    if let Some(specs) = fields.get(8).cloned().and_then(Value::into_items) {
        spec.key_specs = specs.into_iter().filter_map(parse_key_spec).collect();
    }
    if let Some(subs) = fields.get(9).cloned().and_then(Value::into_items) {
        for sub in subs {
            let (full, sub_spec) = parse_entry(sub)?;
            let short = full.split(|&b| b == b'|').nth(1).unwrap_or(&full).to_vec();
            spec.subcommands.insert(short, sub_spec);
        }
    }
    Ok((name, spec))
}

/// A key spec, or `None` for one marked `not_key` (an argument that only
/// looks like a key).
fn parse_key_spec(v: Value) -> Option<KeySpec> {
    let items = v.into_items()?;
    let flags = field(&items, "flags")
        .and_then(|f| f.clone().into_items())
        .unwrap_or_default();
    if flags.iter().any(|f| {
        f.as_bytes()
            .is_some_and(|b| b.eq_ignore_ascii_case(b"not_key"))
    }) {
        return None;
    }
    let begin = field(&items, "begin_search")
        .map(parse_begin)
        .unwrap_or(Begin::Unknown);
    let find = field(&items, "find_keys")
        .map(parse_find)
        .unwrap_or(Find::Unknown);
    Some(KeySpec { begin, find })
}

fn parse_begin(v: &Value) -> Begin {
    let Some(items) = v.clone().into_items() else {
        return Begin::Unknown;
    };
    let spec = field(&items, "spec")
        .and_then(|s| s.clone().into_items())
        .unwrap_or_default();
    let int = |k: &str| field(&spec, k).and_then(Value::as_int);
    match field(&items, "type").and_then(Value::as_bytes) {
        Some(b"index") => int("index").map_or(Begin::Unknown, Begin::Index),
        Some(b"keyword") => match (
            field(&spec, "keyword").and_then(Value::as_bytes),
            int("startfrom"),
        ) {
            (Some(k), Some(startfrom)) => Begin::Keyword {
                keyword: k.to_vec(),
                startfrom,
            },
            _ => Begin::Unknown,
        },
        _ => Begin::Unknown,
    }
}

fn parse_find(v: &Value) -> Find {
    let Some(items) = v.clone().into_items() else {
        return Find::Unknown;
    };
    let spec = field(&items, "spec")
        .and_then(|s| s.clone().into_items())
        .unwrap_or_default();
    let int = |k: &str| field(&spec, k).and_then(Value::as_int);
    match field(&items, "type").and_then(Value::as_bytes) {
        Some(b"range") => match (int("lastkey"), int("keystep"), int("limit")) {
            (Some(lastkey), Some(keystep), Some(limit)) => Find::Range {
                lastkey,
                keystep,
                limit,
            },
            _ => Find::Unknown,
        },
        Some(b"keynum") => match (int("keynumidx"), int("firstkey"), int("keystep")) {
            (Some(keynumidx), Some(firstkey), Some(keystep)) => Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            },
            _ => Find::Unknown,
        },
        _ => Find::Unknown,
    }
}

/// The value for `key` in a flattened map.
fn field<'v>(items: &'v [Value], key: &str) -> Option<&'v Value> {
    items
        .chunks_exact(2)
        .find(|kv| kv[0].as_bytes() == Some(key.as_bytes()))
        .map(|kv| &kv[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Input, InputReader};
    use crate::resp::parse_value;

    /// A COMMAND reply for a few commands, as Redis 7.0 sends them.
    fn table() -> CommandTable {
        let mut raw = Vec::new();
        let entries = [
            // set: one key at index 1.
            "*10\r\n$3\r\nset\r\n:-3\r\n*0\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*0\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
            // mset: keys at 1, 3, 5 ... (lastkey -1, keystep 2).
            "*10\r\n$4\r\nmset\r\n:-3\r\n*0\r\n:1\r\n:-1\r\n:2\r\n*0\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*0\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
            // xread: keyword STREAMS, then half the remaining arguments.
            "*10\r\n$5\r\nxread\r\n:-4\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*0\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$7\r\nkeyword\r\n$4\r\nspec\r\n*4\r\n$7\r\nkeyword\r\n$7\r\nSTREAMS\r\n$9\r\nstartfrom\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:2\r\n*0\r\n",
            // eval: numkeys at index 2, keys after it.
            "*10\r\n$4\r\neval\r\n:-3\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*0\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:2\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$6\r\nkeynum\r\n$4\r\nspec\r\n*6\r\n$9\r\nkeynumidx\r\n:0\r\n$8\r\nfirstkey\r\n:1\r\n$7\r\nkeystep\r\n:1\r\n*0\r\n",
            // a pre-7 entry: legacy fields only.
            "*7\r\n$6\r\nlegacy\r\n:-2\r\n*0\r\n:1\r\n:-1\r\n:1\r\n*0\r\n",
        ];
        raw.extend_from_slice(format!("*{}\r\n", entries.len()).as_bytes());
        for e in entries {
            raw.extend_from_slice(e.as_bytes());
        }
        let (v, used) = parse_value(&raw).unwrap().unwrap();
        assert_eq!(used, raw.len());
        CommandTable::from_reply(v).unwrap()
    }

    fn keys_of(t: &CommandTable, line: &str) -> Vec<String> {
        let mut r = InputReader::open(&[Input::Bytes {
            name: "t".into(),
            data: line.to_string().into(),
        }])
        .unwrap();
        let cmd = r.next_command().unwrap().unwrap();
        let mut out = Vec::new();
        t.for_each_key(&cmd.args, &mut Lookup::default(), |k| {
            out.push(String::from_utf8(k.to_vec()).unwrap())
        });
        out
    }

    #[test]
    fn finds_keys_by_index_range_keyword_and_keynum() {
        let t = table();
        assert_eq!(keys_of(&t, "SET k v"), ["k"]);
        assert_eq!(keys_of(&t, "mset a 1 b 2 c 3"), ["a", "b", "c"]);
        assert_eq!(keys_of(&t, "XREAD COUNT 2 STREAMS s1 s2 0 0"), ["s1", "s2"]);
        assert_eq!(keys_of(&t, "EVAL \"return 1\" 2 k1 k2 arg"), ["k1", "k2"]);
        assert_eq!(keys_of(&t, "eval x 0"), Vec::<String>::new());
        assert_eq!(keys_of(&t, "legacy a b c"), ["a", "b", "c"]);
    }

    #[test]
    fn the_remembered_lookup_follows_the_command_name() {
        let t = table();
        let mut lookup = Lookup::default();
        let mut r = InputReader::open(&[Input::Bytes {
            name: "t".into(),
            data: "SET a 1\nset b 2\nMSET c 1 d 2\nNOSUCH e\nSET f 1\n".into(),
        }])
        .unwrap();
        let mut keys = Vec::new();
        while let Some(cmd) = r.next_command().unwrap() {
            t.for_each_key(&cmd.args, &mut lookup, |k| keys.push(k.to_vec()));
        }
        assert_eq!(keys, [&b"a"[..], b"b", b"c", b"d", b"f"]);
    }

    #[test]
    fn unknown_and_malformed_commands_have_no_keys() {
        let t = table();
        assert!(keys_of(&t, "NOSUCH a b").is_empty());
        assert!(keys_of(&t, "XREAD COUNT 2").is_empty());
        assert!(keys_of(&t, "EVAL x notanumber k").is_empty());
        assert!(keys_of(&t, "SET").is_empty());
    }
}
