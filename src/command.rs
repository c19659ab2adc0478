//! The data path's vocabulary, shared by every sink: what a command sent
//! stands for ([`CmdMeta`]), whose replies change what must be tracked
//! ([`Watch`]: `SELECT`, `MULTI`, `EXEC`...), and a sink that stopped
//! ([`Stopped`]). And what rload must know about a command before sending
//! it: its [`Watch`], and whether it would break the one-reply-per-command
//! rhythm a pipe relies on.

use crate::input::{Args, Position};

/// Commands whose replies change what the reader must track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watch {
    /// `SELECT n`: the database for a replay.
    Select(u32),
    /// `MULTI`: commands up to `EXEC` or `DISCARD` apply together or not at all.
    Multi,
    /// `EXEC`: the transaction is over, and applied if its reply is an
    /// array.
    Exec,
    /// `DISCARD`: the transaction is over, and dropped.
    Discard,
    /// rload's own `DISCARD` of a transaction the input left open: the
    /// transaction is over and was not applied, so it is not committed.
    Abandon,
    /// `RESET`: no transaction, no `WATCH`, database 0.
    Reset,
    /// `WATCH key...`: a later `EXEC` runs only if no such key changed, so
    /// rload applies nothing together while the server holds it.
    Keys,
    /// `UNWATCH`.
    Unwatch,
    /// rload's own closing `ECHO`.
    Sentinel,
    /// Another command rload adds for itself, such as `ASKING`.
    Internal,
    /// rload's own `MULTI`, before merged commands that must apply
    /// together (see `coalesce`): they stand for input commands that are
    /// not consecutive, so only all of them, or none, keeps the resume
    /// point exact.
    Atomic,
    /// rload's own `EXEC` that ends such a block. Its reply, an array,
    /// says which of the block's commands failed.
    AtomicExec,
}

impl Watch {
    /// Whether the command ends a transaction (`EXEC`, `DISCARD`, `RESET`,
    /// or rload's own `DISCARD`).
    pub(crate) fn ends_block(self) -> bool {
        matches!(
            self,
            Watch::Exec | Watch::Discard | Watch::Reset | Watch::Abandon
        )
    }
}

/// Which input commands a command sent stands for: one, several (a span
/// of merged commands), or none (one of rload's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CmdMeta {
    /// 1-based number of the (first) input command it stands for.
    pub seq: u64,
    /// How many input commands it stands for, numbered from `seq`: 1, or
    /// more for a span, or 0 for one of rload's own.
    pub count: u32,
    /// Index of the input the (first) command came from.
    pub source: u32,
    /// Line of that input it starts on.
    pub line: u64,
}

impl CmdMeta {
    /// Input command `seq`, at `pos`.
    pub(crate) fn input(seq: u64, pos: Position) -> Self {
        CmdMeta {
            seq,
            count: 1,
            source: pos.source,
            line: pos.line,
        }
    }

    /// One of rload's own commands, tied for messages to the input command
    /// at `at` (or to none).
    pub(crate) fn own(at: Option<&CmdMeta>) -> Self {
        CmdMeta {
            count: 0,
            ..at.copied().unwrap_or(CmdMeta {
                seq: 0,
                count: 0,
                source: 0,
                line: 0,
            })
        }
    }

    /// Whether rload added it: it stands for no input command.
    pub(crate) fn is_own(&self) -> bool {
        self.count == 0
    }

    /// Where its (first) input command starts, as far as messages need.
    pub(crate) fn position(&self) -> Position {
        Position {
            source: self.source,
            line: self.line,
            offset: 0,
        }
    }
}

/// A sink stopped early: it takes no more commands, and its `finish`
/// gives the account.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Classifies a command by its name.
///
/// # Errors
///
/// A message saying why the command cannot be sent through a pipe: the
/// subscribe family, `MONITOR`, `SYNC`, `PSYNC`, `CLIENT REPLY OFF|SKIP` and
/// `QUIT` make the server send more, fewer or no replies, or close the
/// connection, so replies could no longer be matched to commands.
///
/// A `SELECT` is watched only for a database the server has (below
/// `databases`): any other fails, and changes nothing. So are `MULTI`,
/// `EXEC`, `DISCARD` and `RESET` with arguments.
pub(crate) fn classify(args: &Args<'_>, databases: u32) -> Result<Option<Watch>, String> {
    let Some(name) = args.get(0) else {
        return Ok(None);
    };
    // Most commands are ruled out by their length alone.
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    // MULTI, EXEC, DISCARD and RESET take no arguments: with any, the
    // server refuses them, and they change nothing (inside a transaction,
    // they leave it open).
    let bare = args.len() == 1;
    Ok(match name.len() {
        4 if bare && is("EXEC") => Some(Watch::Exec),
        5 if bare && is("MULTI") => Some(Watch::Multi),
        5 if bare && is("RESET") => Some(Watch::Reset),
        6 if is("SELECT") => match args
            .get(1)
            .and_then(|db| std::str::from_utf8(db).ok()?.parse().ok())
        {
            Some(db) if args.len() == 2 && db < databases => Some(Watch::Select(db)),
            _ => None,
        },
        7 if bare && is("DISCARD") => Some(Watch::Discard),
        5 if args.len() > 1 && is("WATCH") => Some(Watch::Keys),
        7 if bare && is("UNWATCH") => Some(Watch::Unwatch),
        4 if is("QUIT") => {
            return Err("QUIT would close the connection before the load ends; remove it".into());
        }
        4 | 5 if is("SYNC") || is("PSYNC") => return Err(refusal(name)),
        7 if is("MONITOR") => return Err(refusal(name)),
        9..=12 if is_subscribe_family(name) => return Err(refusal(name)),
        6 if is("CLIENT") => {
            let sub = args.get(1).unwrap_or_default();
            let mode = args.get(2).unwrap_or_default();
            if sub.eq_ignore_ascii_case(b"REPLY")
                && (mode.eq_ignore_ascii_case(b"OFF") || mode.eq_ignore_ascii_case(b"SKIP"))
            {
                return Err(refusal(b"CLIENT REPLY OFF|SKIP"));
            }
            None
        }
        _ => None,
    })
}

fn is_subscribe_family(name: &[u8]) -> bool {
    [
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
    ]
    .iter()
    .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
}

fn refusal(name: &[u8]) -> String {
    format!(
        "{} cannot be sent through a pipe: it changes how the server replies, so replies could no longer be matched to commands",
        String::from_utf8_lossy(name).to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Input, InputReader};

    fn classify_line(line: &str) -> Result<Option<Watch>, String> {
        let mut r = InputReader::open(&[Input::Bytes {
            name: "t".into(),
            data: line.to_string().into(),
        }])
        .unwrap();
        let cmd = r.next_command().unwrap().unwrap();
        classify(&cmd.args, 16)
    }

    #[test]
    fn watches_commands_that_change_connection_state() {
        assert_eq!(classify_line("select 9"), Ok(Some(Watch::Select(9))));
        assert_eq!(classify_line("MULTI"), Ok(Some(Watch::Multi)));
        assert_eq!(classify_line("exec"), Ok(Some(Watch::Exec)));
        assert_eq!(classify_line("Discard"), Ok(Some(Watch::Discard)));
        assert_eq!(classify_line("RESET"), Ok(Some(Watch::Reset)));
        assert_eq!(classify_line("watch a b"), Ok(Some(Watch::Keys)));
        assert_eq!(classify_line("UNWATCH"), Ok(Some(Watch::Unwatch)));
    }

    #[test]
    fn leaves_ordinary_and_malformed_commands_alone() {
        assert_eq!(classify_line("SET k v"), Ok(None));
        assert_eq!(classify_line("SELECT x"), Ok(None));
        assert_eq!(classify_line("SELECT 1 2"), Ok(None));
        assert_eq!(classify_line("SELECT 16"), Ok(None), "no such database");
        assert_eq!(classify_line("CLIENT REPLY ON"), Ok(None));
        for line in [
            "MULTI now",
            "EXEC x",
            "DISCARD all",
            "RESET 1",
            "WATCH",
            "UNWATCH k",
        ] {
            assert_eq!(
                classify_line(line),
                Ok(None),
                "{line}: refused, it changes nothing"
            );
        }
    }

    #[test]
    fn refuses_commands_that_break_the_reply_stream() {
        for line in [
            "subscribe a",
            "PSUBSCRIBE a*",
            "sunsubscribe",
            "MONITOR",
            "sync",
            "PSYNC ? -1",
            "CLIENT reply off",
            "QUIT",
        ] {
            assert!(classify_line(line).is_err(), "{line}");
        }
        assert!(
            classify_line("monitor")
                .unwrap_err()
                .starts_with("MONITOR cannot be sent")
        );
    }
}
