//! How `--split`'s parts share one server's databases ([`Way`]). With
//! `--scan`, part I is a stretch of each database's hash table, walked with
//! `SCAN`, so that each part reads its own buckets and no others' (Java's
//! RedisIO splits by `SCAN` cursors too).
//!
//! Why a stretch of cursors is a stretch of buckets (`dictScan` in Redis's
//! `dict.c`): a cursor is a bucket index incremented from its top bit down,
//! so `SCAN` visits buckets in the order of their *reversed* indexes. The
//! buckets whose low `bits` bits are `j` are therefore visited one after
//! another, a *run*: it starts at cursor `j` (every other bit 0), and once
//! its last bucket is visited `SCAN` returns the start of the next run, or
//! 0 after the last. That holds in any table of at least 2^`bits` buckets,
//! and while one is rehashed (a step visits a bucket of the small table
//! and its expansions in the big one, which share its low bits). A run's
//! place in the order is its reversed low bits; part I of N is the runs at
//! places `[I * 2^bits / N, (I + 1) * 2^bits / N)`.
//!
//! A part walks its runs: `SCAN` from its first cursor with the usual
//! `COUNT` while the cursor returned stays inside. A call that returns
//! exactly the part's end visited its last bucket and stopped there: its
//! keys are kept, and the part is done. A call that returns any other
//! cursor outside may have visited buckets past the end, so it is made
//! again from the same cursor with a smaller `COUNT` (at most half), down
//! to 1; and as the end nears, the `COUNT` asked for is what the table
//! likely holds before it, to go past it seldom. A call
//! with `COUNT 1` stops after the first step that finds a key (Redis counts
//! the keys a step sampled, before `MATCH`, `TYPE` or expiry drop any:
//! 7.0 filters after the loop, 7.2 on count `sampled`), so its keys all
//! come from one step: kept when the cursor it returns is inside or the
//! end, else they are a later part's, and this part is done.
//!
//! A key present for the whole dump is read by exactly one part, while the
//! table keeps at least 2^`bits` buckets. A database split this way holds
//! [`KEYS_PER_PLACE`] keys per place, so its table (no smaller than a
//! quarter of its keys, even while a fork holds resizing off) has twice
//! the buckets it needs; only if it loses most of its keys during the dump
//! can its table shrink below that, and then a key may be read twice, or
//! by no part. A smaller database is read by every part whole, each keeping
//! its hash slots ([`Way`]).

use super::DumpOptions;
use super::link::Fault;
use super::shape;
use crate::error::Error;
use crate::filter::Split;

/// Keys a database holds per place, at least, to be split into stretches
/// of its table: 8 keys per place keep its table at 2 buckets per place or
/// more, even when it holds 4 keys per bucket (a fork running).
pub(crate) const KEYS_PER_PLACE: u64 = 8;

/// Places a part of a split into N parts spans, at least, when N is not a
/// power of two: parts then differ by at most one place in 8.
const PLACES_PER_PART: u64 = 8;

/// A part of one server's hash table: the runs at places `[from, to)` of
/// `2^bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stretch {
    bits: u32,
    from: u64,
    to: u64,
}

/// What a `SCAN` call from inside a stretch read.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    /// Only the stretch's buckets, and more are left: go on from the
    /// cursor returned.
    Inside,
    /// Its last buckets: keep the keys, and stop.
    Last,
    /// Buckets past its end, and maybe some of its own: ask for fewer.
    Past,
    /// Only buckets past its end: its own are done; drop the keys.
    Done,
}

impl Stretch {
    /// Part `split.index` of `split.count`: `count` places per part when
    /// `count` is a power of two, else at least [`PLACES_PER_PART`].
    pub(crate) fn of(split: Split) -> Self {
        let n = u64::from(split.count);
        let mut bits = n.next_power_of_two().trailing_zeros();
        if !n.is_power_of_two() {
            bits += PLACES_PER_PART.trailing_zeros();
        }
        let i = u64::from(split.index);
        Stretch {
            bits,
            from: (i << bits) / n,
            to: ((i + 1) << bits) / n,
        }
    }

    /// Keys a database holds, at least, to be split this way.
    pub(crate) fn min_keys(self) -> u64 {
        KEYS_PER_PLACE << self.bits
    }

    /// The cursor of the run at `place`: its low bits, reversed; 0 for the
    /// place past the last, where `SCAN` ends.
    fn cursor_at(self, place: u64) -> u64 {
        if self.bits == 0 || place >> self.bits != 0 {
            return 0;
        }
        place.reverse_bits() >> (64 - self.bits)
    }

    /// The place of the run cursor `c` is in.
    fn place(self, c: u64) -> u64 {
        if self.bits == 0 {
            return 0;
        }
        (c << (64 - self.bits)).reverse_bits()
    }

    /// The cursor the stretch starts at.
    pub(crate) fn first(self) -> u64 {
        self.cursor_at(self.from)
    }

    /// The cursor `SCAN` returns once the stretch's last bucket is read.
    fn end(self) -> u64 {
        self.cursor_at(self.to)
    }

    /// Whether `SCAN` at cursor `c` is inside the stretch, with buckets of
    /// it left to read (0 is where a whole `SCAN` ends, never inside).
    pub(crate) fn holds(self, c: u64) -> bool {
        c != 0 && (self.from..self.to).contains(&self.place(c))
    }

    fn judge(self, next: u64, count: usize, found: bool) -> Call {
        if self.holds(next) {
            Call::Inside
        } else if next == self.end() {
            Call::Last
        } else if count <= 1 || !found {
            // Nothing found on the way past the end: none of the
            // stretch's buckets were left holding keys.
            Call::Done
        } else {
            Call::Past
        }
    }

    /// The `COUNT` for the next call, from `at`, after one with `count`
    /// went from cursor `from` to `to`: 3/4 of the keys the table holds
    /// between `at` and the stretch's end, as that call's keys spread over
    /// its share of the table, so that the next call most likely stops
    /// short of the end; never more than `count`, and at most half of it
    /// when the call went past the end, so that it gets to 1 within a few
    /// calls whatever the keys.
    fn next_count(self, from: u64, to: u64, at: u64, count: usize) -> usize {
        // A cursor's share of the way through a whole `SCAN`, in 2^64ths
        // (its bits reversed: the table's size does not matter); 0
        // returned is the end, the whole way.
        let way = |c: u64| u128::from(c.reverse_bits());
        let returned = |c: u64| if c == 0 { 1u128 << 64 } else { way(c) };
        let (end, went) = (returned(self.end()), returned(to).saturating_sub(way(from)));
        let left = end.saturating_sub(way(at));
        let estimate = (count as u128 * left * 3)
            .checked_div(went * 4)
            .map_or(count, |e| e.min(count as u128) as usize);
        let most = if self.holds(to) { count } else { count / 2 };
        estimate.clamp(1, most.max(1))
    }

    /// The next page of the stretch from `cursor` (inside it, or its
    /// first): the keys of its own buckets, and the cursor to go on from,
    /// `None` once it is read. `scan` makes one `SCAN` call, from a cursor
    /// with a `COUNT`; `count` is the `COUNT`, halved at the stretch's end
    /// and kept for the next page.
    ///
    /// # Errors
    ///
    /// `scan`'s, or a cursor that is not a number.
    pub(crate) fn page<K>(
        self,
        cursor: u64,
        count: &mut usize,
        mut scan: impl FnMut(u64, usize) -> Result<(Vec<u8>, Vec<K>), Fault>,
    ) -> Result<(Option<u64>, Vec<K>), Fault> {
        loop {
            let (next, keys) = scan(cursor, *count)?;
            let next = number(&next)?;
            match self.judge(next, *count, !keys.is_empty()) {
                Call::Inside => {
                    *count = self.next_count(cursor, next, next, *count);
                    return Ok((Some(next), keys));
                }
                Call::Last => return Ok((None, keys)),
                Call::Done => return Ok((None, Vec::new())),
                Call::Past => *count = self.next_count(cursor, next, cursor, *count),
            }
        }
    }
}

/// How the keys of one database are shared among `--split`'s parts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Way {
    /// No split: every key.
    Whole,
    /// Every key scanned, and those of the split's hash slots kept.
    /// `again`: chosen for a database too small to split by its table,
    /// which it may no longer be when a stopped part goes on, so the part
    /// goes on from the database's start.
    Slots { split: Split, again: bool },
    /// A stretch of the database's hash table (see `part`).
    Stretch(Stretch),
}

impl Way {
    /// The way for a database of `keys` keys, to be dumped from `cursor`.
    /// A split is by slot without `--scan`: a snapshot is split by slot,
    /// and so is the `SCAN` that stands in for one the server refused, so
    /// the parts agree however each was read. With `--scan`, by the
    /// table, unless the database is small, or `by_slot`: a cluster
    /// node's (which keeps a table per slot, its cursors carrying the
    /// slot's number), or a server whose table was not checked (Valkey).
    pub(crate) fn of(options: &DumpOptions, by_slot: bool, keys: u64, cursor: &[u8]) -> Way {
        let Some(split) = options.split else {
            return Way::Whole;
        };
        if !options.scan || by_slot {
            return Way::Slots {
                split,
                again: false,
            };
        }
        let stretch = Stretch::of(split);
        // Only a stretch prints a cursor other than 0 (see `stopped`).
        if cursor != b"0" || keys >= stretch.min_keys() {
            Way::Stretch(stretch)
        } else {
            Way::Slots { split, again: true }
        }
    }
}

/// Where a stretch of database `db` is read from: its first cursor, or
/// `cursor`, where a part of it stopped.
///
/// # Errors
///
/// A cursor the stretch does not hold: another part's, or another dump's.
pub(crate) fn first_cursor(
    stretch: Stretch,
    cursor: &[u8],
    db: u32,
    options: &DumpOptions,
) -> Result<Vec<u8>, Error> {
    if cursor == b"0" {
        return Ok(stretch.first().to_string().into_bytes());
    }
    match number(cursor) {
        Ok(c) if stretch.holds(c) => Ok(cursor.to_vec()),
        _ => {
            let split = options.split.expect("a stretch is a split's");
            Err(Error::Config(format!(
                "--cursor {}: part {}/{} of database {db}'s hash table does not hold this cursor; give the one this part printed",
                options.cursor.as_deref().unwrap_or_default(),
                split.index,
                split.count,
            )))
        }
    }
}

/// A cursor `SCAN` returned, as a number.
pub(crate) fn number(c: &[u8]) -> Result<u64, Fault> {
    std::str::from_utf8(c)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            shape::bad(format!(
                "SCAN returned the cursor {}, not a number",
                String::from_utf8_lossy(c)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, RngExt, SeedableRng};

    fn split(index: u16, count: u16) -> Split {
        Split { index, count }
    }

    /// A model of a Redis `dict` as `dictScan` walks it: one table, or two
    /// while rehashing (`old` being emptied into `new`, bucket by bucket
    /// from `moved`), each bucket a list of keys; a key is its hash; how
    /// many keys it holds; and what `MATCH` keeps.
    struct Dict {
        old: Vec<Vec<u64>>,
        new: Option<(Vec<Vec<u64>>, usize)>,
        len: usize,
        matching: u64,
    }

    impl Dict {
        fn with(keys: &[u64], size: usize) -> Dict {
            let mut old = vec![Vec::new(); size];
            for &k in keys {
                old[k as usize & (size - 1)].push(k);
            }
            Dict {
                old,
                new: None,
                len: keys.len(),
                matching: 1,
            }
        }

        /// Starts a rehash into a table of `size` buckets.
        fn resize(&mut self, size: usize) {
            self.new = Some((vec![Vec::new(); size], 0));
        }

        /// Moves one bucket of the old table; the new one replaces it once
        /// every bucket is moved.
        fn rehash_step(&mut self) {
            let Some((new, moved)) = &mut self.new else {
                return;
            };
            let mask = new.len() - 1;
            for k in std::mem::take(&mut self.old[*moved]) {
                new[k as usize & mask].push(k);
            }
            *moved += 1;
            if *moved == self.old.len() {
                self.old = std::mem::take(new);
                self.new = None;
            }
        }

        /// `dictScan`, transcribed: the keys of the step at cursor `v`,
        /// and the next cursor.
        fn scan_step(&self, mut v: u64, out: &mut Vec<u64>) -> u64 {
            if self.len == 0 {
                return 0;
            }
            let bump = |v: u64, m: u64| (v | !m).reverse_bits().wrapping_add(1).reverse_bits();
            let Some((new, _)) = &self.new else {
                let m0 = self.old.len() as u64 - 1;
                out.extend(&self.old[(v & m0) as usize]);
                return bump(v, m0);
            };
            let (small, big) = if self.old.len() <= new.len() {
                (&self.old, new)
            } else {
                (new, &self.old)
            };
            let (m0, m1) = (small.len() as u64 - 1, big.len() as u64 - 1);
            out.extend(&small[(v & m0) as usize]);
            loop {
                out.extend(&big[(v & m1) as usize]);
                v = bump(v, m1);
                if v & (m0 ^ m1) == 0 {
                    return v;
                }
            }
        }

        /// `SCAN cursor COUNT count`: steps until `count` keys are
        /// sampled, 10 * `count` steps are made, or the cursor is 0; the
        /// keys sampled that `MATCH` keeps (those `matching` divides).
        fn scan(&self, mut cursor: u64, count: usize) -> (u64, Vec<u64>) {
            let mut sampled = Vec::new();
            let mut steps = count * 10;
            loop {
                cursor = self.scan_step(cursor, &mut sampled);
                if cursor == 0 || steps == 0 || sampled.len() >= count {
                    sampled.retain(|k| k % self.matching == 0);
                    return (cursor, sampled);
                }
                steps -= 1;
            }
        }
    }

    /// Every key part `s` reads of `dict`, with `between` run on the dict
    /// before each call; and the calls it made.
    fn walk(dict: &mut Dict, s: Split, between: &mut dyn FnMut(&mut Dict)) -> (Vec<u64>, u32) {
        let stretch = Stretch::of(s);
        let (mut cursor, mut count, mut read, mut calls) = (stretch.first(), 100, Vec::new(), 0);
        loop {
            let (next, keys) = stretch
                .page(cursor, &mut count, |c, n| {
                    between(dict);
                    calls += 1;
                    let (next, keys) = dict.scan(c, n);
                    Ok((next.to_string().into_bytes(), keys))
                })
                .unwrap();
            read.extend(keys);
            match next {
                Some(n) => cursor = n,
                None => return (read, calls),
            }
        }
    }

    fn keys(rng: &mut StdRng, n: usize) -> Vec<u64> {
        (0..n).map(|_| rng.next_u64()).collect()
    }

    /// Asserts the parts of `count` read `all` exactly once between them.
    fn once_each(all: &[u64], mut read: Vec<u64>, what: &str) {
        read.sort_unstable();
        let mut want = all.to_vec();
        want.sort_unstable();
        assert_eq!(read.len(), want.len(), "{what}: keys read");
        assert_eq!(read, want, "{what}");
    }

    #[test]
    fn places_cover_the_table_in_order_without_overlap() {
        for n in 1..=40u16 {
            let mut next = 0;
            for i in 0..n {
                let s = Stretch::of(split(i, n));
                assert_eq!(s.from, next, "{i}/{n}");
                assert!(s.to > s.from, "{i}/{n} is empty");
                next = s.to;
            }
            assert_eq!(next, 1 << Stretch::of(split(0, n)).bits, "n={n}");
        }
        let s = Stretch::of(split(1, 4));
        assert_eq!((s.bits, s.from, s.to), (2, 1, 2));
        // Places 1 of 4 is the run of buckets whose low bits are 10.
        assert_eq!((s.first(), s.end()), (0b10, 0b01));
        assert!(s.holds(0b110) && !s.holds(0b01) && !s.holds(0));
        assert_eq!(Stretch::of(split(3, 4)).end(), 0);
        assert_eq!(Stretch::of(split(0, 3)).bits, 5);
    }

    #[test]
    fn parts_of_a_still_table_read_each_key_once_at_any_size_or_rehash() {
        let mut rng = StdRng::seed_from_u64(24);
        for round in 0..200 {
            let n = [1, 2, 3, 4, 5, 7, 16, 33][round % 8];
            let places = 1usize << Stretch::of(split(0, n)).bits;
            let len = rng.random_range(0..3000);
            let all = keys(&mut rng, len);
            let rehashing = round % 3 == 0;
            // A still table of any size; one caught mid-rehash (growing or
            // shrinking) of a bucket per place or more.
            let least = if rehashing { places } else { 1 };
            let size = least << rng.random_range(0..4);
            let mut dict = Dict::with(&all, size);
            if rehashing {
                dict.resize(least << rng.random_range(0..4));
                for _ in 0..rng.random_range(0..size) {
                    dict.rehash_step();
                }
            }
            // MATCH keeps some keys, or all.
            dict.matching = [1, 1, 3, 50][round % 4];
            let mut read = Vec::new();
            for i in 0..n {
                read.extend(walk(&mut dict, split(i, n), &mut |_| {}).0);
            }
            let matching: Vec<u64> = all
                .iter()
                .copied()
                .filter(|k| k % dict.matching == 0)
                .collect();
            once_each(
                &matching,
                read,
                &format!("round {round}: {n} parts of {size}"),
            );
        }
    }

    /// The parts of `n`, each walking its own copy of a table of `all`
    /// of `size` buckets that starts rehashing to `target` buckets at a
    /// random call: every key each read, sorted.
    fn walk_resizing(
        rng: &mut StdRng,
        all: &[u64],
        n: u16,
        size: usize,
        target: usize,
    ) -> Vec<u64> {
        let mut read = Vec::new();
        for i in 0..n {
            let mut dict = Dict::with(all, size);
            let start = rng.random_range(1..40);
            let mut calls = 0;
            let (keys, _) = walk(&mut dict, split(i, n), &mut |d| {
                calls += 1;
                if calls == start {
                    d.resize(target);
                }
                for _ in 0..3 {
                    d.rehash_step();
                }
            });
            read.extend(keys);
        }
        read.sort_unstable();
        read
    }

    #[test]
    fn parts_read_each_key_once_while_the_table_grows_under_them() {
        let mut rng = StdRng::seed_from_u64(2024);
        for round in 0..200 {
            let n = [2, 3, 4, 16][round % 4];
            let places = 1 << Stretch::of(split(0, n)).bits;
            let len = rng.random_range(0..4000);
            let all = keys(&mut rng, len);
            // At least a bucket per place, before, during and after.
            let size = places << rng.random_range(0..3);
            let target = size << rng.random_range(1..3);
            let read = walk_resizing(&mut rng, &all, n, size, target);
            once_each(
                &all,
                read,
                &format!("round {round}: {n} parts, {size} to {target}"),
            );
        }
    }

    #[test]
    fn parts_miss_no_key_while_the_table_shrinks_to_a_bucket_per_place() {
        let mut rng = StdRng::seed_from_u64(4202);
        for round in 0..200 {
            let n = [2, 3, 4, 16][round % 4];
            let places = 1 << Stretch::of(split(0, n)).bits;
            let len = rng.random_range(0..4000);
            let all = keys(&mut rng, len);
            let target = places << rng.random_range(0..2);
            let size = target << rng.random_range(1..3);
            let mut read = walk_resizing(&mut rng, &all, n, size, target);
            // SCAN may return a key twice when the table shrinks.
            read.dedup();
            once_each(
                &all,
                read,
                &format!("round {round}: {n} parts, {size} to {target}"),
            );
        }
    }

    #[test]
    fn a_part_reads_its_share_in_few_calls() {
        let mut rng = StdRng::seed_from_u64(7);
        let all = keys(&mut rng, 50_000);
        let mut dict = Dict::with(&all, 65536);
        let (whole, whole_calls) = walk(&mut dict, split(0, 1), &mut |_| {});
        assert_eq!(whole.len(), all.len());
        for i in 0..16 {
            let (read, calls) = walk(&mut dict, split(i, 16), &mut |_| {});
            let share = all.len() / 16;
            assert!(
                read.len().abs_diff(share) < share / 10,
                "part {i}: {}",
                read.len()
            );
            assert!(calls < whole_calls / 16 + 10, "part {i}: {calls} calls");
        }
    }
}
