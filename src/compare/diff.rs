//! What differs between a key of the source and the same name in the
//! target, and how a difference is told: a line of text, or a JSON object.

use base64::Engine;
use serde_json::{Value, json};

use super::digest::Digest;
use super::keyed::Seen;

/// The kinds of difference, in the order the account lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffKind {
    /// In the source, not in the target.
    Missing,
    /// In the target, not in the source.
    Extra,
    /// Of another type in the target.
    Type,
    /// Of the same type, holding another value.
    Value,
    /// The same value, expiring at another time (beyond the tolerance), or
    /// expiring on one side only.
    Ttl,
    /// The same hash, expiring at the same time, whose fields' expiries
    /// (Redis 7.4) differ.
    FieldTtl,
}

impl DiffKind {
    /// Every kind, in order.
    pub const ALL: [DiffKind; 6] = [
        DiffKind::Missing,
        DiffKind::Extra,
        DiffKind::Type,
        DiffKind::Value,
        DiffKind::Ttl,
        DiffKind::FieldTtl,
    ];

    /// The name JSON gives it.
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Type => "type",
            DiffKind::Value => "value",
            DiffKind::Ttl => "ttl",
            DiffKind::FieldTtl => "field_ttl",
        }
    }

    /// How the text account says it.
    pub fn words(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing in the target",
            DiffKind::Extra => "extra in the target",
            DiffKind::Type => "of another type",
            DiffKind::Value => "value differs",
            DiffKind::Ttl => "TTL differs",
            DiffKind::FieldTtl => "field TTL differs",
        }
    }
}

/// One key that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Difference {
    pub db: u32,
    pub key: Vec<u8>,
    pub kind: DiffKind,
    pub source: Seen,
    pub target: Seen,
    /// What differs inside the key, when it was looked for.
    pub detail: Option<String>,
}

/// How `source` and `target` differ, if they do: expiries within
/// `tolerance_ms` of each other are the same.
pub(crate) fn judge(source: &Seen, target: &Seen, tolerance_ms: u64) -> Option<DiffKind> {
    match (source, target) {
        (Seen::Missing, Seen::Missing) => None,
        (Seen::Missing, _) => Some(DiffKind::Extra),
        (_, Seen::Missing) => Some(DiffKind::Missing),
        (Seen::Other(a), Seen::Other(b)) if a == b => None,
        (Seen::Key(a), Seen::Key(b)) if a.kind == b.kind => {
            if !a.same_value(b) {
                Some(DiffKind::Value)
            } else if !ttl_close(a.expire_at, b.expire_at, tolerance_ms) {
                Some(DiffKind::Ttl)
            } else if a.field_ttls != b.field_ttls {
                Some(DiffKind::FieldTtl)
            } else {
                None
            }
        }
        _ => Some(DiffKind::Type),
    }
}

/// Whether two expiries are the same within `tolerance_ms`: a key with no
/// expiry and one with an expiry always differ.
fn ttl_close(a: Option<i64>, b: Option<i64>, tolerance_ms: u64) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.abs_diff(b) <= tolerance_ms,
        _ => false,
    }
}

/// A key or element as JSON: a string when it is UTF-8, else
/// `{"base64": ...}`, as `--dump --format jsonl` writes them.
pub(crate) fn bin_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => json!(s),
        Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(b)}),
    }
}

/// One side's key as JSON: `null` when missing.
fn seen_json(seen: &Seen) -> Value {
    match seen {
        Seen::Missing => Value::Null,
        Seen::Other(t) => json!({"type": t}),
        Seen::Key(d) => json!({
            "type": d.kind.name(),
            "length": d.len,
            "expire_at_ms": d.expire_at,
        }),
    }
}

/// One side's key in words.
fn seen_words(seen: &Seen) -> String {
    match seen {
        Seen::Missing => "none".into(),
        Seen::Other(t) => t.clone(),
        Seen::Key(Digest {
            kind,
            len,
            expire_at,
            ..
        }) => {
            let unit = if *kind == crate::rebuild::Kind::String {
                "bytes"
            } else {
                "elements"
            };
            let ttl = match expire_at {
                Some(at) => format!(", expires at {at} ms"),
                None => ", no expiry".into(),
            };
            format!("{} of {len} {unit}{ttl}", kind.name())
        }
    }
}

impl Difference {
    /// The difference as one JSON object.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "db": self.db,
            "key": bin_json(&self.key),
            "diff": self.kind.name(),
            "source": seen_json(&self.source),
            "target": seen_json(&self.target),
            "detail": self.detail,
        })
    }

    /// The difference as a line of text (without `rload: `): the key
    /// quoted as redis-cli quotes it, and both sides.
    pub(crate) fn to_text(&self) -> String {
        let mut key = Vec::new();
        crate::resp::encode_inline(&mut key, &[&self.key]);
        let key = String::from_utf8_lossy(&key).trim_end().to_string();
        let detail = self
            .detail
            .as_ref()
            .map_or(String::new(), |d| format!(": {d}"));
        format!(
            "db{} {key}: {} (source: {}; target: {}){detail}",
            self.db,
            self.kind.words(),
            seen_words(&self.source),
            seen_words(&self.target)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rebuild::Kind;

    fn key(kind: Kind, hash: u64, expire_at: Option<i64>) -> Seen {
        Seen::Key(Digest {
            kind,
            len: 1,
            hash,
            meta: 0,
            expire_at,
            field_ttls: 0,
        })
    }

    #[test]
    fn tells_each_kind_of_difference() {
        let s = key(Kind::String, 1, None);
        assert_eq!(judge(&s, &s, 0), None);
        assert_eq!(judge(&s, &Seen::Missing, 0), Some(DiffKind::Missing));
        assert_eq!(judge(&Seen::Missing, &s, 0), Some(DiffKind::Extra));
        assert_eq!(
            judge(&s, &key(Kind::List, 1, None), 0),
            Some(DiffKind::Type)
        );
        assert_eq!(
            judge(&s, &key(Kind::String, 2, None), 0),
            Some(DiffKind::Value)
        );
        assert_eq!(
            judge(&s, &Seen::Other("MBbloom--".into()), 0),
            Some(DiffKind::Type)
        );
    }

    #[test]
    fn expiries_differ_beyond_the_tolerance_or_on_one_side_only() {
        let at = |e| key(Kind::Hash, 7, e);
        assert_eq!(judge(&at(Some(1000)), &at(Some(1900)), 1000), None);
        assert_eq!(
            judge(&at(Some(1000)), &at(Some(2001)), 1000),
            Some(DiffKind::Ttl)
        );
        assert_eq!(
            judge(&at(Some(1000)), &at(None), u64::MAX),
            Some(DiffKind::Ttl)
        );
        assert_eq!(judge(&at(None), &at(Some(5)), 1000), Some(DiffKind::Ttl));
    }

    #[test]
    fn a_hash_whose_fields_expire_otherwise_differs_after_its_own_expiry() {
        let fields = |f, e| match key(Kind::Hash, 7, e) {
            Seen::Key(d) => Seen::Key(Digest { field_ttls: f, ..d }),
            other => other,
        };
        assert_eq!(judge(&fields(3, None), &fields(3, None), 0), None);
        assert_eq!(
            judge(&fields(3, None), &fields(4, None), 0),
            Some(DiffKind::FieldTtl)
        );
        // The key's own expiry is told first.
        assert_eq!(
            judge(&fields(3, Some(1)), &fields(4, None), 0),
            Some(DiffKind::Ttl)
        );
    }

    #[test]
    fn binary_keys_are_base64_in_json_and_quoted_in_text() {
        let d = Difference {
            db: 0,
            key: vec![b'k', 0xff, b'\n'],
            kind: DiffKind::Missing,
            source: key(Kind::String, 1, None),
            target: Seen::Missing,
            detail: None,
        };
        assert_eq!(d.to_json()["key"]["base64"], "a/8K");
        assert!(
            d.to_text().starts_with("db0 \"k\\xff\\x0a\": missing"),
            "{}",
            d.to_text()
        );
    }
}
