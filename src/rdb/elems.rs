//! Elements laid end to end in one buffer, and views of a run of them:
//! what a piece of a value carries, without an allocation per element.

use std::ops::Range;

use crate::rebuild;

/// Elements stored flat: element `i` is `data[ends[i-1]..ends[i]]`.
#[derive(Default)]
pub(super) struct Flat {
    pub(super) data: Vec<u8>,
    pub(super) ends: Vec<usize>,
}

impl Flat {
    pub(super) fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Ends the element whose bytes were appended to `data`.
    pub(super) fn seal(&mut self) {
        self.ends.push(self.data.len());
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        self.seal();
    }

    pub(super) fn push_int(&mut self, v: i64) {
        self.push(itoa::Buffer::new().format(v).as_bytes());
    }

    /// Elements `range` (all of them: `0..len()`).
    pub(super) fn view(&self, range: Range<usize>) -> Elems<'_> {
        Elems {
            data: &self.data,
            start: if range.start == 0 {
                0
            } else {
                self.ends[range.start - 1]
            },
            ends: &self.ends[range],
        }
    }

    /// The bytes of elements `range`.
    pub(super) fn bytes(&self, range: Range<usize>) -> usize {
        let v = self.view(range);
        v.ends.last().map_or(0, |&e| e - v.start)
    }
}

/// A run of elements: list items, set members, or a hash's fields and
/// values (a sorted set's members and scores) in turn.
#[derive(Clone, Copy)]
pub struct Elems<'a> {
    data: &'a [u8],
    /// Where the first element starts in `data`.
    start: usize,
    /// Where each element ends in `data`.
    ends: &'a [usize],
}

impl<'a> Elems<'a> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Element `i`.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`len`](Self::len).
    pub fn get(&self, i: usize) -> &'a [u8] {
        let from = if i == 0 { self.start } else { self.ends[i - 1] };
        &self.data[from..self.ends[i]]
    }

    /// The elements in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let (data, mut from) = (self.data, self.start);
        self.ends.iter().map(move |&end| {
            let e = &data[from..end];
            from = end;
            e
        })
    }

    /// The elements two by two: (field, value) or (member, score).
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut it = self.iter();
        std::iter::from_fn(move || Some((it.next()?, it.next()?)))
    }

    /// Elements `range` of these.
    pub fn slice(&self, range: Range<usize>) -> Elems<'a> {
        Elems {
            data: self.data,
            start: if range.start == 0 {
                self.start
            } else {
                self.ends[range.start - 1]
            },
            ends: &self.ends[range],
        }
    }

    /// These elements as a rebuilt key's, without a copy.
    pub(crate) fn items(&self) -> rebuild::Items<'a> {
        rebuild::Items::Flat {
            data: self.data,
            start: self.start,
            ends: self.ends,
        }
    }

    /// The bytes of all the elements together.
    pub fn bytes(&self) -> usize {
        self.ends.last().map_or(0, |&e| e - self.start)
    }
}

impl std::fmt::Debug for Elems<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_and_slices_give_the_elements_pushed() {
        let mut f = Flat::default();
        f.push(b"a");
        f.push_int(-12);
        f.push(b"");
        f.push(b"xyz");
        let all = f.view(0..4);
        let got: Vec<&[u8]> = all.iter().collect();
        assert_eq!(got, [&b"a"[..], b"-12", b"", b"xyz"]);
        assert_eq!(all.bytes(), 7);
        let tail = f.view(2..4);
        assert_eq!(tail.get(1), b"xyz");
        assert_eq!(tail.bytes(), 3);
        assert_eq!(
            all.slice(1..3).iter().collect::<Vec<_>>(),
            [&b"-12"[..], b""]
        );
        let pairs: Vec<_> = all.pairs().collect();
        assert_eq!(pairs, [(&b"a"[..], &b"-12"[..]), (b"", b"xyz")]);
        assert_eq!(f.bytes(1..2), 3);
    }
}
