//! A chunk: a run of encoded commands written to the socket in one go, with
//! what is needed to account for each command after it is sent.
//!
//! Chunks are the unit of the in-flight window. The bytes stay in the chunk
//! until every command in it has been answered, so an unanswered command can
//! be re-sent (after a reconnect, or to another cluster node) straight from
//! here, and an error reply can name the input line it belongs to.

use crate::input::Command;
use crate::resp::encode_command;

/// A chunk is handed to the writer once it holds this many bytes: large
/// writes keep the syscall cost per command negligible, and 256 KiB is still
/// small enough that sixteen of them bound the window to a few MiB.
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;

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
    /// transaction is over and was not applied, so it is not committed, and
    /// the `DISCARD`'s reply is not counted.
    Abandon,
    /// `RESET`: no transaction, database 0.
    Reset,
    /// rload's own closing `ECHO`.
    Sentinel,
    /// A command rload adds for itself, such as `ASKING`: its reply is not
    /// counted.
    Internal,
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

/// Where one command came from, and where its bytes end in the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CmdMeta {
    /// 1-based number of the command in the whole input.
    pub seq: u64,
    /// Line of the input the command starts on.
    pub line: u64,
    /// Index of the input it came from.
    pub source: u32,
    /// Offset just past the command's last byte in [`Chunk::bytes`].
    pub end: u32,
}

/// Encoded commands and their metadata, in send order.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    pub cmds: Vec<CmdMeta>,
    /// Indices into `cmds` of commands the reader must watch, ascending.
    pub watched: Vec<(u32, Watch)>,
}

impl Chunk {
    pub(crate) fn new() -> Self {
        Chunk {
            bytes: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            ..Chunk::default()
        }
    }

    /// Empties the chunk for reuse, giving back memory a huge command took.
    pub(crate) fn reset(&mut self) {
        self.bytes.clear();
        self.cmds.clear();
        self.watched.clear();
        if self.bytes.capacity() > 4 * CHUNK_BYTES {
            self.bytes = Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.bytes.len() >= CHUNK_BYTES
    }

    /// Appends a framed command, passing RESP input through byte for byte.
    pub(crate) fn push_command(&mut self, cmd: &Command<'_>, seq: u64, watch: Option<Watch>) {
        match cmd.resp {
            Some(frame) => self.bytes.extend_from_slice(frame),
            None => encode_command(&mut self.bytes, &cmd.args),
        }
        self.finish_push(seq, cmd.pos.line, cmd.pos.source, watch);
    }

    /// Makes `bytes`, one encoded command, the whole of this empty chunk.
    pub(crate) fn push_owned(&mut self, bytes: Vec<u8>, meta: CmdMeta, watch: Option<Watch>) {
        debug_assert!(self.cmds.is_empty());
        self.bytes = bytes;
        self.finish_push(meta.seq, meta.line, meta.source, watch);
    }

    /// Appends an already encoded command.
    pub(crate) fn push_encoded(&mut self, bytes: &[u8], meta: CmdMeta, watch: Option<Watch>) {
        self.bytes.extend_from_slice(bytes);
        self.finish_push(meta.seq, meta.line, meta.source, watch);
    }

    #[inline]
    fn finish_push(&mut self, seq: u64, line: u64, source: u32, watch: Option<Watch>) {
        let end = u32::try_from(self.bytes.len()).expect("a chunk stays far below 4 GiB");
        if let Some(w) = watch {
            self.watched.push((self.cmds.len() as u32, w));
        }
        self.cmds.push(CmdMeta {
            seq,
            line,
            source,
            end,
        });
    }

    /// Byte offset where command `i` starts.
    pub(crate) fn start_of(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.cmds[i - 1].end as usize
        }
    }

    /// The encoded bytes of command `i`.
    pub(crate) fn command_bytes(&self, i: usize) -> &[u8] {
        &self.bytes[self.start_of(i)..self.cmds[i].end as usize]
    }

    /// The watched command at index `i`, if any.
    pub(crate) fn watch_at(&self, i: usize) -> Option<Watch> {
        self.watched
            .binary_search_by_key(&(i as u32), |&(j, _)| j)
            .ok()
            .map(|k| self.watched[k].1)
    }

    /// The first watched index at or after `i`.
    pub(crate) fn next_watched(&self, i: usize) -> Option<usize> {
        let k = self.watched.partition_point(|&(j, _)| (j as usize) < i);
        self.watched.get(k).map(|&(j, _)| j as usize)
    }
}
