//! Values held in Redis's compact blobs: ziplists, listpacks, intsets and
//! zipmaps (whole values, or a quicklist's nodes), and stream nodes. Each
//! blob is read whole, decoded, and handed out in pieces.

use std::io::Read;

use super::encoded::{self, Bad, Entry};
use super::error::RdbError;
use super::value::{Blob, Chunk, How};
use super::{RdbReader, stream};

impl<R: Read> RdbReader<R> {
    /// Reads a blob (a string) into `blob`, returning where it started.
    fn read_blob(&mut self, what: &'static str) -> Result<u64, RdbError> {
        let at = self.input.offset();
        self.blob.clear();
        self.input.string_into(&mut self.blob, what)?;
        Ok(at)
    }

    /// Reads and decodes a value held in one blob, then hands it out.
    pub(super) fn blob_value(&mut self, blob: Blob) -> Result<(), RdbError> {
        let at = self.read_blob("an encoded value")?;
        self.out.clear();
        self.expires.clear();
        let (out, bytes) = (&mut self.out, &self.blob[..]);
        let decoded = match blob {
            Blob::Zipmap => encoded::zipmap_into(bytes, out),
            Blob::ListZiplist => encoded::ziplist_into(bytes, out),
            Blob::Intset => encoded::intset_into(bytes, out),
            Blob::SetListpack => encoded::listpack_into(bytes, out),
            Blob::PairsZiplist => encoded::ziplist_into(bytes, out).and_then(even),
            Blob::PairsListpack => encoded::listpack_into(bytes, out).and_then(even),
            Blob::HashTtlListpack => triples_into(bytes, out, &mut self.expires),
        };
        let n = decoded.map_err(|b| blob_error(at, self.blob.len(), b))?;
        self.elements += n as u64;
        let how = match blob {
            Blob::ListZiplist | Blob::Intset | Blob::SetListpack => How::Items,
            Blob::HashTtlListpack => How::Expiring,
            _ => How::Pairs,
        };
        self.chunk = Some(Chunk { next: 0, how });
        Ok(())
    }

    /// Reads one quicklist node into `out`: a ziplist, a listpack, or
    /// (container 1) a single plain element.
    pub(super) fn quicklist_node(&mut self, ziplists: bool) -> Result<(), RdbError> {
        let at = self.input.offset();
        let container = if ziplists {
            2
        } else {
            self.input.len("a quicklist node's container")?
        };
        if !matches!(container, 1 | 2) {
            return Err(RdbError::corrupt(
                at,
                "a quicklist node container (1 or 2)",
                container,
            ));
        }
        let at = self.read_blob("a quicklist node")?;
        self.out.clear();
        let n = if container == 1 {
            self.out.push(&self.blob);
            1
        } else if ziplists {
            encoded::ziplist_into(&self.blob, &mut self.out)
                .map_err(|b| blob_error(at, self.blob.len(), b))?
        } else {
            encoded::listpack_into(&self.blob, &mut self.out)
                .map_err(|b| blob_error(at, self.blob.len(), b))?
        };
        self.elements += n as u64;
        self.chunk = Some(Chunk {
            next: 0,
            how: How::Items,
        });
        Ok(())
    }

    /// Reads one stream node (its master ID, then its listpack) into
    /// `entries`; whether it holds a live entry.
    pub(super) fn stream_node(&mut self) -> Result<bool, RdbError> {
        let at = self.read_blob("a stream node key")?;
        let master = stream::node_id(&self.blob)
            .map_err(|f| RdbError::corrupt(at, "a 16-byte stream node key", f))?;
        let at = self.read_blob("a stream node")?;
        self.entries.clear();
        self.entries
            .add_node(master, &self.blob)
            .map_err(|b| blob_error(at, self.blob.len(), b))?;
        self.elements += self.entries.len() as u64;
        Ok(self.entries.len() > 0)
    }
}

/// A blob's error at the file offset of the blob's string.
fn blob_error(at: u64, len: usize, b: Bad) -> RdbError {
    RdbError::corrupt(
        at,
        b.expected,
        format!("{} (at byte {} of the {len}-byte blob)", b.found, b.at),
    )
}

/// Checks that a blob of pairs held an even number of elements.
fn even(n: usize) -> Result<usize, Bad> {
    if n % 2 == 1 {
        return Err(Bad {
            at: 0,
            expected: "pairs of elements",
            found: format!("{n} elements"),
        });
    }
    Ok(n / 2)
}

/// Decodes a listpack of (field, value, TTL) triples into pairs in `out`
/// and expiries (TTL 0: none) in `expires`; returns how many pairs.
fn triples_into(
    blob: &[u8],
    out: &mut super::elems::Flat,
    expires: &mut Vec<Option<i64>>,
) -> Result<usize, Bad> {
    let mut lp = encoded::listpack(blob)?;
    let mut n = 0;
    while let Some(field) = lp.next_entry()? {
        let value = lp.next_entry()?;
        let ttl = lp.next_entry()?;
        let (Some(value), Some(Entry::Int(ttl))) = (value, ttl) else {
            return Err(Bad {
                at: 0,
                expected: "a field, a value and an integer TTL",
                found: "an incomplete triple".into(),
            });
        };
        field.push_to(out);
        value.push_to(out);
        expires.push((ttl != 0).then_some(ttl));
        n += 1;
    }
    Ok(n)
}
