//! A chunk: a run of encoded commands written to the socket in one go, with
//! what is needed to account for each command after it is sent.
//!
//! Chunks are the unit of the in-flight window. The bytes stay in the chunk
//! until every command in it has been answered, so an unanswered command can
//! be re-sent (after a reconnect, or to another cluster node) straight from
//! here, and an error reply can name the input line it belongs to.
//!
//! A command in a chunk usually stands for one input command. It may stand
//! for several (a *span*: commands merged into one), whose reply then counts
//! for each of them, or for none (one of rload's own, such as the closing
//! `ECHO`), whose reply is not counted.

use crate::command::{CmdMeta, Watch};
use crate::input::Command;
use crate::resp::encode_command;

/// A chunk is handed to the writer once it holds this many bytes: large
/// writes keep the syscall cost per command negligible, and 256 KiB is still
/// small enough that sixteen of them bound the window to a few MiB.
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;

/// A command as it was sent: its bytes and what it stands for, to send
/// again elsewhere.
#[derive(Clone, Debug)]
pub(crate) struct SentCommand {
    pub bytes: Vec<u8>,
    pub meta: CmdMeta,
    pub watch: Option<Watch>,
    /// For a span, each input command it stands for.
    pub covered: Vec<CmdMeta>,
}

/// Encoded commands and their metadata, in send order.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    pub cmds: Vec<CmdMeta>,
    /// Where each command's bytes end in `bytes`, by index into `cmds`.
    pub ends: Vec<u32>,
    /// Indices into `cmds` of commands the reader must watch, ascending.
    pub watched: Vec<(u32, Watch)>,
    /// For each span, by index into `cmds`, the input commands it stands
    /// for, ascending.
    covered: Vec<(u32, Vec<CmdMeta>)>,
    /// Whether some command stands for other than one input command, so
    /// input commands must be counted one command at a time.
    irregular: bool,
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
        self.ends.clear();
        self.watched.clear();
        self.covered.clear();
        self.irregular = false;
        if self.bytes.capacity() > 4 * CHUNK_BYTES {
            self.bytes = Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.bytes.len() >= CHUNK_BYTES
    }

    /// Appends a framed command, passing RESP input through byte for byte.
    pub(crate) fn push_command(&mut self, cmd: &Command<'_>, meta: CmdMeta, watch: Option<Watch>) {
        match cmd.resp {
            Some(frame) => self.bytes.extend_from_slice(frame),
            None => encode_command(&mut self.bytes, &cmd.args),
        }
        self.finish_push(meta, watch);
    }

    /// Appends an already encoded command.
    pub(crate) fn push_encoded(&mut self, bytes: &[u8], meta: CmdMeta, watch: Option<Watch>) {
        self.bytes.extend_from_slice(bytes);
        self.finish_push(meta, watch);
    }

    /// Appends a command sent before, span and all.
    pub(crate) fn push_sent(&mut self, sent: &SentCommand) {
        self.push_covering(&sent.bytes, sent.meta, sent.watch, &sent.covered);
    }

    /// Appends an encoded command that stands for the input commands
    /// `covered` (none: for `meta` alone, or for none if it is rload's own).
    pub(crate) fn push_span(&mut self, bytes: &[u8], meta: CmdMeta, covered: &[CmdMeta]) {
        self.push_covering(bytes, meta, None, covered);
    }

    fn push_covering(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        watch: Option<Watch>,
        covered: &[CmdMeta],
    ) {
        if !covered.is_empty() {
            self.covered
                .push((self.cmds.len() as u32, covered.to_vec()));
        }
        self.push_encoded(bytes, meta, watch);
    }

    /// Makes `bytes`, one encoded command, the whole of this empty chunk.
    pub(crate) fn push_owned(&mut self, bytes: Vec<u8>, meta: CmdMeta, watch: Option<Watch>) {
        debug_assert!(self.cmds.is_empty());
        self.bytes = bytes;
        self.finish_push(meta, watch);
    }

    #[inline]
    fn finish_push(&mut self, meta: CmdMeta, watch: Option<Watch>) {
        let end = u32::try_from(self.bytes.len()).expect("a chunk stays far below 4 GiB");
        self.ends.push(end);
        if let Some(w) = watch {
            self.watched.push((self.cmds.len() as u32, w));
        }
        self.irregular |= meta.count != 1;
        self.cmds.push(meta);
    }

    /// Byte offset where command `i` starts.
    pub(crate) fn start_of(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.ends[i - 1] as usize }
    }

    /// The encoded bytes of command `i`.
    pub(crate) fn command_bytes(&self, i: usize) -> &[u8] {
        &self.bytes[self.start_of(i)..self.ends[i] as usize]
    }

    /// Command `i` as it was sent, to send again.
    pub(crate) fn sent(&self, i: usize) -> SentCommand {
        SentCommand {
            bytes: self.command_bytes(i).to_vec(),
            meta: self.cmds[i],
            watch: self.watch_at(i),
            covered: self.covered(i).to_vec(),
        }
    }

    /// The last input command command `i` stands for: itself, or the last
    /// of a span's.
    pub(crate) fn last_input(&self, i: usize) -> CmdMeta {
        self.covered(i).last().copied().unwrap_or(self.cmds[i])
    }

    /// The input commands span `i` stands for; empty for any other.
    pub(crate) fn covered(&self, i: usize) -> &[CmdMeta] {
        if self.cmds[i].count <= 1 {
            return &[];
        }
        self.covered
            .binary_search_by_key(&(i as u32), |(j, _)| *j)
            .map_or(&[], |k| &self.covered[k].1)
    }

    /// The input commands commands `from..to` stand for.
    #[inline]
    pub(crate) fn inputs(&self, from: usize, to: usize) -> u64 {
        if self.irregular {
            self.cmds[from..to].iter().map(|m| u64::from(m.count)).sum()
        } else {
            (to - from) as u64
        }
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
