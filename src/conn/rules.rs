//! What `--coalesce` may merge for the load's user, asked of the server
//! before the load starts.
//!
//! A merged command must fail for all its parts or for none, so that each
//! input command gets the reply it would have got alone. Commands on one
//! key merged into the same command do: an ACL allows or refuses a command
//! by its name and its keys, and a key's type is the same for every part.
//! Two merges do not: `MSET` stands for `SET`s on many keys (an ACL may
//! allow some keys and not others, or allow `SET` and not `MSET`), and a
//! batch applied together in rload's own `MULTI` is refused whole
//! (`EXECABORT`) if one of its commands is. Sending the parts again once
//! the server has refused the whole would not do: the commands after it
//! are already in flight, and some may be on the same keys, whose order
//! would change. So these two are used only for a user the server says may
//! run every command on every key (`ACL GETUSER` shows `+@all` and `~*`),
//! and `MSET` only where the server has it (not renamed away).

use super::Connection;
use crate::error::ConnectError;
use crate::resp::Value;

/// The merges that may fail in part, and whether they may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MergeRules {
    /// Plain `SET`s on different keys into `MSET`.
    pub mset: bool,
    /// Batches that must apply together, inside rload's own `MULTI`.
    pub together: bool,
}

impl MergeRules {
    /// Every merge: for a user who may run anything on any key.
    pub(crate) const ALL: MergeRules = MergeRules {
        mset: true,
        together: true,
    };

    /// Only merges that fail whole or not at all.
    pub(crate) const WHOLE: MergeRules = MergeRules {
        mset: false,
        together: false,
    };

    /// Asks the server on `conn` what the load's `user` (`None`: the
    /// default user) may run.
    ///
    /// # Errors
    ///
    /// A failure of the connection (an error reply is not one).
    pub(crate) fn read(conn: &mut Connection, user: Option<&str>) -> Result<Self, ConnectError> {
        let name = user.unwrap_or("default");
        let reply = conn.call("ACL GETUSER", &[b"ACL", b"GETUSER", name.as_bytes()])?;
        let unrestricted = match &reply {
            // A server without ACLs (before Redis 6) has no user to limit.
            Value::Error(e) if e.to_ascii_lowercase().contains("unknown command") => true,
            // Not allowed to ask: limited, as far as rload can tell.
            Value::Error(_) | Value::Null => false,
            _ => is_unrestricted(reply),
        };
        if !unrestricted {
            return Ok(MergeRules::WHOLE);
        }
        // `COMMAND INFO` gives a null for a command the server lacks.
        let info = conn.call("COMMAND INFO", &[b"COMMAND", b"INFO", b"MSET"])?;
        let mset = info
            .into_items()
            .and_then(|items| items.into_iter().next())
            .is_some_and(|v| v != Value::Null);
        Ok(MergeRules {
            mset,
            together: true,
        })
    }
}

/// Whether an `ACL GETUSER` reply shows a user who may run every command
/// on every key: commands `+@all` with nothing taken away, keys `~*` (or,
/// before Redis 7, the pattern `*`), and no selectors adding rules.
fn is_unrestricted(reply: Value) -> bool {
    let Some(items) = reply.into_items() else {
        return false;
    };
    let field = |name: &str| {
        items
            .chunks(2)
            .find(|kv| kv[0].as_bytes() == Some(name.as_bytes()))
            .map(|kv| &kv[1])
    };
    let text = |v: &Value| {
        v.as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let commands = field("commands").and_then(text);
    let keys = match field("keys") {
        Some(Value::Array(patterns)) => patterns
            .iter()
            .map(|p| text(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" "),
        Some(v) => text(v).unwrap_or_default(),
        None => String::new(),
    };
    let selectors = match field("selectors") {
        Some(Value::Array(s)) => s.is_empty(),
        Some(_) => false,
        None => true,
    };
    commands.as_deref() == Some("+@all") && matches!(keys.as_str(), "~*" | "*") && selectors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(commands: &str, keys: Value, selectors: Vec<Value>) -> Value {
        let bulk = |s: &str| Value::Bulk(s.as_bytes().to_vec());
        Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on")]),
            bulk("commands"),
            bulk(commands),
            bulk("keys"),
            keys,
            bulk("selectors"),
            Value::Array(selectors),
        ])
    }

    #[test]
    fn only_a_user_allowed_everything_everywhere_is_unrestricted() {
        let keys = |k: &str| Value::Bulk(k.as_bytes().to_vec());
        assert!(is_unrestricted(user("+@all", keys("~*"), vec![])));
        // Redis 6 gives the patterns as an array.
        assert!(is_unrestricted(user(
            "+@all",
            Value::Array(vec![keys("*")]),
            vec![]
        )));
        assert!(!is_unrestricted(user("+@all", keys("~allowed:*"), vec![])));
        assert!(!is_unrestricted(user("+@all -mset", keys("~*"), vec![])));
        assert!(!is_unrestricted(user("+@all -multi", keys("~*"), vec![])));
        assert!(!is_unrestricted(user("+@all", keys("%R~*"), vec![])));
        assert!(!is_unrestricted(user("+@all", keys("~*"), vec![keys("x")])));
        assert!(!is_unrestricted(Value::Error("NOPERM".into())));
    }
}
