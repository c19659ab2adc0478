//! The cluster's layout: which master owns each slot, from `CLUSTER SLOTS`.

use crate::resp::Value;
use crate::slot::SLOTS;

/// No master owns the slot.
pub(crate) const UNOWNED: u16 = u16::MAX;

/// The masters and the slot map.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Topology {
    /// Master addresses, as `host:port`.
    pub masters: Vec<(String, u16)>,
    /// For each slot, its master's index in `masters`, or [`UNOWNED`].
    pub owner: Vec<u16>,
}

impl Topology {
    /// Reads the reply to `CLUSTER SLOTS`; an empty host means the node
    /// that answered, `seed_host`.
    ///
    /// # Errors
    ///
    /// A reply that does not describe slot ranges.
    pub(crate) fn from_slots(reply: Value, seed_host: &str) -> Result<Self, String> {
        let bad = || "CLUSTER SLOTS returned something rload cannot read".to_string();
        let mut topo = Topology {
            masters: Vec::new(),
            owner: vec![UNOWNED; SLOTS],
        };
        for range in reply.into_items().ok_or_else(bad)? {
            let fields = range.into_items().ok_or_else(bad)?;
            let (Some(start), Some(end)) = (
                fields.first().and_then(Value::as_int),
                fields.get(1).and_then(Value::as_int),
            ) else {
                return Err(bad());
            };
            let master = fields
                .get(2)
                .cloned()
                .and_then(Value::into_items)
                .ok_or_else(bad)?;
            let host = match master.first().and_then(Value::as_bytes) {
                Some(h) if !h.is_empty() && h != b"?" => String::from_utf8_lossy(h).into_owned(),
                _ => seed_host.to_string(),
            };
            let port = master
                .get(1)
                .and_then(Value::as_int)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(bad)?;
            let index = topo.index_of(host, port);
            let valid = |s: i64| (0..SLOTS as i64).contains(&s);
            if !valid(start) || !valid(end) || start > end {
                return Err(bad());
            }
            for slot in start..=end {
                topo.owner[slot as usize] = index;
            }
        }
        if topo.masters.is_empty() {
            return Err("the cluster has no slots assigned".into());
        }
        Ok(topo)
    }

    /// The index of the master at `host:port`, adding it if new.
    pub(crate) fn index_of(&mut self, host: String, port: u16) -> u16 {
        match self
            .masters
            .iter()
            .position(|(h, p)| *h == host && *p == port)
        {
            Some(i) => i as u16,
            None => {
                self.masters.push((host, port));
                (self.masters.len() - 1) as u16
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::parse_value;

    #[test]
    fn reads_ranges_and_masters() {
        let raw = b"*3\r\n\
            *3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n\
            *4\r\n:5461\r\n:10922\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nid\r\n\
            *3\r\n:10923\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n";
        let (v, _) = parse_value(raw).unwrap().unwrap();
        let t = Topology::from_slots(v, "seed.example").unwrap();
        assert_eq!(
            t.masters,
            [
                ("127.0.0.1".to_string(), 7000),
                ("seed.example".to_string(), 7001)
            ]
        );
        assert_eq!(
            (t.owner[0], t.owner[5460], t.owner[5461], t.owner[16383]),
            (0, 0, 1, 0)
        );
    }

    #[test]
    fn leaves_gaps_unowned_and_rejects_nonsense() {
        let raw = b"*1\r\n*3\r\n:0\r\n:99\r\n*2\r\n$1\r\nh\r\n:1\r\n";
        let (v, _) = parse_value(raw).unwrap().unwrap();
        let t = Topology::from_slots(v, "s").unwrap();
        assert_eq!((t.owner[99], t.owner[100]), (0, UNOWNED));
        let (v, _) = parse_value(b"*1\r\n*3\r\n:9\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n")
            .unwrap()
            .unwrap();
        assert!(Topology::from_slots(v, "s").is_err());
        let (v, _) = parse_value(b"*0\r\n").unwrap().unwrap();
        assert!(
            Topology::from_slots(v, "s")
                .unwrap_err()
                .contains("no slots")
        );
    }
}
