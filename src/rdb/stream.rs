//! Streams: the entries of each listpack node (`t_stream.c`), and what a
//! stream keeps besides its entries (last ID, groups, consumers, pending
//! entries), as `rdb.c` writes them for RDB types 15, 19 and 21.

use std::fmt;
use std::io::Read;

use super::elems::{Elems, Flat};
use super::encoded::{Bad, Entry, listpack};
use super::error::RdbError;
use super::input::Input;

/// An entry's flag: deleted, and kept only until the node is compacted.
const FLAG_DELETED: i64 = 1;
/// An entry's flag: its fields are the node's master fields.
const FLAG_SAMEFIELDS: i64 = 2;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    /// The milliseconds part.
    pub ms: u64,
    /// The sequence part.
    pub seq: u64,
}

impl StreamId {
    /// An ID in its 16-byte form (two big-endian u64): node keys and
    /// pending entries.
    fn from_raw(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(StreamId {
            ms: u64::from_be_bytes(b[..8].try_into().ok()?),
            seq: u64::from_be_bytes(b[8..].try_into().ok()?),
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What a stream keeps besides its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamMeta {
    /// The number of entries.
    pub length: u64,
    /// The last ID it generated (it may be past its last entry).
    pub last_id: StreamId,
    /// The first entry's ID (RDB type 19 and later).
    pub first_id: Option<StreamId>,
    /// The highest ID deleted (type 19 and later).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (type 19 and later).
    pub entries_added: Option<u64>,
    /// Its consumer groups.
    pub groups: Vec<StreamGroup>,
}

/// A consumer group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamGroup {
    /// Its name.
    pub name: Vec<u8>,
    /// The last ID delivered to it.
    pub last_id: StreamId,
    /// Entries read, as `XINFO` counts them (type 19 and later; `None`
    /// also where the server did not know).
    pub entries_read: Option<u64>,
    /// Entries delivered and not acknowledged.
    pub pending: Vec<PendingEntry>,
    /// Its consumers.
    pub consumers: Vec<Consumer>,
}

/// An entry delivered to a group and not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry.
    pub id: StreamId,
    /// When it was last delivered, in milliseconds since the epoch.
    pub delivery_time_ms: i64,
    /// How many times it was delivered.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Its name.
    pub name: Vec<u8>,
    /// When it was last seen, in milliseconds since the epoch.
    pub seen_time_ms: i64,
    /// When it last read or claimed (type 21 and later).
    pub active_time_ms: Option<i64>,
    /// The IDs of the group's pending entries it owns.
    pub pending: Vec<StreamId>,
}

/// Stream entries as read: each an ID and its fields and values.
#[derive(Default)]
pub(super) struct EntryBuf {
    ids: Vec<StreamId>,
    fields: Flat,
    /// Where each entry's fields end in `fields`.
    ends: Vec<usize>,
}

impl EntryBuf {
    pub(super) fn clear(&mut self) {
        self.ids.clear();
        self.fields.clear();
        self.ends.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(super) fn view(&self) -> Entries<'_> {
        Entries {
            ids: &self.ids,
            fields: self.fields.view(0..self.fields.len()),
            ends: &self.ends,
        }
    }

    /// Decodes one node's listpack (whose entries' IDs are deltas from
    /// `master`), adding its live entries. The node starts with its master
    /// entry: `count deleted nfields field... 0`; each entry is `flags
    /// ms-delta seq-delta [nfields field] value... lp-count`, the fields
    /// left out when the flags say they are the master's.
    pub(super) fn add_node(&mut self, master: StreamId, blob: &[u8]) -> Result<(), Bad> {
        let mut lp = listpack(blob)?;
        let int = |lp: &mut super::encoded::Listpack<'_>| match lp.next_entry()? {
            Some(Entry::Int(v)) => Ok(v),
            _ => Err(Bad {
                at: 0,
                expected: "an integer in a stream node",
                found: "something else".into(),
            }),
        };
        let (_count, _deleted, nfields) = (int(&mut lp)?, int(&mut lp)?, int(&mut lp)?);
        let mut master_fields = Flat::default();
        for _ in 0..nfields {
            string(&mut lp)?.push_to(&mut master_fields);
        }
        int(&mut lp)?;
        while let Some(flags) = lp.next_entry()? {
            let Entry::Int(flags) = flags else {
                return Err(Bad {
                    at: 0,
                    expected: "stream entry flags",
                    found: "a string".into(),
                });
            };
            let id = StreamId {
                ms: master.ms.wrapping_add(int(&mut lp)? as u64),
                seq: master.seq.wrapping_add(int(&mut lp)? as u64),
            };
            let live = flags & FLAG_DELETED == 0;
            let same = flags & FLAG_SAMEFIELDS != 0;
            let n = if same { nfields } else { int(&mut lp)? };
            for i in 0..n {
                let field = if same {
                    Entry::Str(master_fields.view(0..master_fields.len()).get(i as usize))
                } else {
                    string(&mut lp)?
                };
                let value = string(&mut lp)?;
                if live {
                    field.push_to(&mut self.fields);
                    value.push_to(&mut self.fields);
                }
            }
            int(&mut lp)?;
            if live {
                self.ids.push(id);
                self.ends.push(self.fields.len());
            }
        }
        Ok(())
    }
}

/// The next listpack entry, which must be there.
fn string<'a>(lp: &mut super::encoded::Listpack<'a>) -> Result<Entry<'a>, Bad> {
    lp.next_entry()?.ok_or(Bad {
        at: 0,
        expected: "a stream field or value",
        found: "the node's end".into(),
    })
}

/// Stream entries: each an ID and its fields and values in turn.
#[derive(Clone, Copy, Debug)]
pub struct Entries<'a> {
    ids: &'a [StreamId],
    fields: Elems<'a>,
    ends: &'a [usize],
}

impl<'a> Entries<'a> {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Each entry's ID, and its fields and values in turn.
    pub fn iter(&self) -> impl Iterator<Item = (StreamId, Elems<'a>)> + 'a {
        let (fields, ends) = (self.fields, self.ends);
        self.ids.iter().enumerate().map(move |(i, &id)| {
            let from = if i == 0 { 0 } else { ends[i - 1] };
            (id, fields.slice(from..ends[i]))
        })
    }
}

/// Reads a stream's metadata, after its nodes, for RDB type `rtype`.
pub(super) fn read_meta<R: Read>(
    input: &mut Input<R>,
    rtype: u8,
    meta: &mut StreamMeta,
) -> Result<(), RdbError> {
    let id = |input: &mut Input<R>| -> Result<StreamId, RdbError> {
        Ok(StreamId {
            ms: input.len("a stream ID")?,
            seq: input.len("a stream ID")?,
        })
    };
    *meta = StreamMeta {
        length: input.len("a stream's length")?,
        last_id: id(input)?,
        ..StreamMeta::default()
    };
    if rtype >= 19 {
        meta.first_id = Some(id(input)?);
        meta.max_deleted_id = Some(id(input)?);
        meta.entries_added = Some(input.len("a stream's entries added")?);
    }
    let groups = input.len("a stream's group count")?;
    for _ in 0..groups {
        let mut g = StreamGroup::default();
        input.string_into(&mut g.name, "a group name")?;
        g.last_id = id(input)?;
        if rtype >= 19 {
            // -1 (all ones) stands for "unknown".
            let read = input.len("a group's entries read")?;
            g.entries_read = (read != u64::MAX).then_some(read);
        }
        for _ in 0..input.len("a group's pending count")? {
            g.pending.push(PendingEntry {
                id: raw_id(input)?,
                delivery_time_ms: input.u64_le("a delivery time")? as i64,
                delivery_count: input.len("a delivery count")?,
            });
        }
        for _ in 0..input.len("a group's consumer count")? {
            g.consumers.push(read_consumer(input, rtype)?);
        }
        meta.groups.push(g);
    }
    Ok(())
}

fn read_consumer<R: Read>(input: &mut Input<R>, rtype: u8) -> Result<Consumer, RdbError> {
    let mut c = Consumer::default();
    input.string_into(&mut c.name, "a consumer name")?;
    c.seen_time_ms = input.u64_le("a consumer's seen time")? as i64;
    if rtype >= 21 {
        c.active_time_ms = Some(input.u64_le("a consumer's active time")? as i64);
    }
    for _ in 0..input.len("a consumer's pending count")? {
        c.pending.push(raw_id(input)?);
    }
    Ok(c)
}

/// An ID in its raw 16-byte form.
fn raw_id<R: Read>(input: &mut Input<R>) -> Result<StreamId, RdbError> {
    Ok(StreamId::from_raw(input.take(16, "a pending entry ID")?).expect("16 bytes"))
}

/// The master ID a node key holds, or what is wrong with it.
pub(super) fn node_id(key: &[u8]) -> Result<StreamId, String> {
    StreamId::from_raw(key).ok_or_else(|| format!("a {}-byte key", key.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            let enc: Vec<u8> = match *e {
                Entry::Int(v) => {
                    assert!((0..128).contains(&v));
                    vec![v as u8]
                }
                Entry::Str(s) => {
                    let mut x = vec![0x80 | s.len() as u8];
                    x.extend_from_slice(s);
                    x
                }
            };
            let len = enc.len() as u8;
            body.extend_from_slice(&enc);
            body.push(len);
        }
        let mut out = ((7 + body.len()) as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xff);
        out
    }

    #[test]
    fn decodes_entries_with_master_fields_own_fields_and_deletions() {
        use Entry::{Int, Str};
        let blob = lp(&[
            Int(2),
            Int(1),
            Int(1),
            Str(b"f"),
            Int(0),
            // 5-0 + (0, 1): same fields, value "a"
            Int(2),
            Int(0),
            Int(1),
            Str(b"a"),
            Int(4),
            // deleted
            Int(3),
            Int(1),
            Int(0),
            Str(b"b"),
            Int(4),
            // own fields: g=c, h=d
            Int(0),
            Int(2),
            Int(0),
            Int(2),
            Str(b"g"),
            Str(b"c"),
            Str(b"h"),
            Str(b"d"),
            Int(8),
        ]);
        let mut buf = EntryBuf::default();
        buf.add_node(StreamId { ms: 5, seq: 0 }, &blob).unwrap();
        let got: Vec<(String, Vec<String>)> = buf
            .view()
            .iter()
            .map(|(id, f)| {
                (
                    id.to_string(),
                    f.iter()
                        .map(|x| String::from_utf8_lossy(x).into())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("5-1".to_string(), vec!["f".to_string(), "a".into()]),
                (
                    "7-0".to_string(),
                    vec!["g".into(), "c".into(), "h".into(), "d".into()]
                ),
            ]
        );
    }
}
