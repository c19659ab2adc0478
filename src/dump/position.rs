//! Where a dump is, as a `--cursor` value, so that one cut short can go on
//! from there:
//!
//! - one server, one database (`-n`): the `SCAN` cursor, `40960`;
//! - one server, every database: the database and its cursor,
//!   `2:40960` (the databases after it follow);
//! - a cluster: the master being read, its cursor and the slots it was
//!   reading, then the other slots whose keys are still to be written,
//!   `10.0.0.5:7001@40960+5461-10922/10923-16383` (or only `/10923-16383`
//!   when it stopped between masters).

use crate::error::Error;
pub(crate) use crate::filter::SlotSet;

/// A position to go on from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// One server: the database (when every one is dumped) and the cursor.
    Server { db: Option<u32>, cursor: Vec<u8> },
    /// A cluster: the master being read, its cursor, and the slots it
    /// was reading; and the other slots still to be written.
    Cluster {
        at: Option<(String, Vec<u8>, SlotSet)>,
        left: SlotSet,
    },
    /// An RDB file: the keys read whole, which going on passes over.
    Keys(u64),
    /// A snapshot: it cannot be gone on with (the next is another
    /// instant); the dump is taken again.
    Again,
}

impl Position {
    /// Reads a `--cursor` value.
    ///
    /// # Errors
    ///
    /// A value no dump prints.
    pub(crate) fn parse(text: &str, cluster: bool) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "--cursor {text}: give the value a dump cut short printed"
            ))
        };
        let cursor = |c: &str| c.parse::<u64>().map(|_| c.as_bytes().to_vec());
        if let Some((head, left)) = text.rsplit_once('/') {
            if !cluster {
                return Err(Error::Config(format!(
                    "--cursor {text} is a cluster's: give -c"
                )));
            }
            let left = SlotSet::parse(left).ok_or_else(bad)?;
            if head.is_empty() {
                return Ok(Position::Cluster { at: None, left });
            }
            let (addr, rest) = head.rsplit_once('@').ok_or_else(bad)?;
            let (c, current) = rest.split_once('+').ok_or_else(bad)?;
            let current = SlotSet::parse(current).ok_or_else(bad)?;
            let at = (addr.to_string(), cursor(c).map_err(|_| bad())?, current);
            return Ok(Position::Cluster { at: Some(at), left });
        }
        if cluster {
            return Err(Error::Config(format!(
                "--cursor {text} is not a cluster's: a cluster dump prints HOST:PORT@CURSOR+SLOTS/SLOTS"
            )));
        }
        let (db, c) = match text.split_once(':') {
            Some((db, c)) => (Some(db.parse().map_err(|_| bad())?), c),
            None => (None, text),
        };
        Ok(Position::Server {
            db,
            cursor: cursor(c).map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Server { db, cursor } => {
                let c = String::from_utf8_lossy(cursor);
                match db {
                    Some(db) => write!(f, "{db}:{c}"),
                    None => write!(f, "{c}"),
                }
            }
            Position::Cluster { at, left } => {
                if let Some((addr, cursor, current)) = at {
                    let c = String::from_utf8_lossy(cursor);
                    write!(f, "{addr}@{c}+{}", current.ranges())?;
                }
                write!(f, "/{}", left.ranges())
            }
            Position::Keys(n) => write!(f, "keys:{n}"),
            Position::Again => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str, cluster: bool) {
        let p = Position::parse(text, cluster).unwrap();
        assert_eq!(p.to_string(), text);
    }

    #[test]
    fn every_position_reads_back_as_it_was_printed() {
        round_trip("40960", false);
        round_trip("2:40960", false);
        round_trip("127.0.0.1:7001@40960+0-5460/5461-16383", true);
        round_trip("127.0.0.1:7001@0+0-5460,7000/16383", true);
        round_trip("[::1]:7001@12+3-4/", true);
        round_trip("/0-16383", true);
    }

    #[test]
    fn a_cursor_of_the_other_kind_or_malformed_is_refused() {
        assert!(Position::parse("127.0.0.1:7001@5+1/2", false).is_err());
        assert!(Position::parse("5", true).is_err());
        for bad in [
            "x",
            "2:x",
            "a:5",
            "h:1@x+1/",
            "h:1@5+9-3/",
            "h:1@5+1/16384",
            "h:1@5/1",
        ] {
            let cluster = bad.contains('/');
            assert!(Position::parse(bad, cluster).is_err(), "{bad}");
        }
    }

    #[test]
    fn slot_sets_count_and_print_their_ranges() {
        let mut s = SlotSet::none();
        for slot in [0, 1, 2, 10, 16383] {
            s.insert(slot);
        }
        assert_eq!(s.len(), 5);
        assert_eq!(s.ranges(), "0-2,10,16383");
        s.remove(1);
        assert_eq!(s.ranges(), "0,2,10,16383");
        assert_eq!(SlotSet::all().len(), crate::cluster::SLOTS);
    }
}
