//! The in-flight window: chunks sent but not yet fully answered.
//!
//! The reader thread owns it. Replies advance a cursor through the commands;
//! a chunk whose commands have all been answered is retired to the pool, and
//! the pool's fixed size is what bounds rload's memory when the server is
//! slower than the input.
//!
//! The window also keeps the *commit point*: the last command whose effect
//! is known to be applied. Outside a transaction that is simply the last
//! answered command; inside `MULTI` it stays before the `MULTI` until `EXEC`
//! or `DISCARD` is answered, because the server drops an open transaction
//! with the connection. After a lost connection, everything past the commit
//! point is what must be sent again.

use std::collections::VecDeque;
use std::sync::Arc;

use super::chunk::{Chunk, SentCommand};
use crate::command::{CmdMeta, Watch};

/// Chunks kept past the commit point for an open transaction's replay, at
/// most. A transaction larger than this cannot be replayed, but never
/// stalls the pipe.
const RETAIN_FOR_REPLAY: usize = 8;

/// What the window knows at the commit point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Commit {
    /// Commands committed on this pipe.
    pub count: u64,
    /// The last committed command.
    pub last: Option<CmdMeta>,
    /// The database in effect there.
    pub db: Option<u32>,
}

/// Replies and errors counted since the commit point, which a replay undoes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uncommitted {
    pub commands: u64,
    pub replies: u64,
    pub errors: u64,
}

/// Bytes to send again: each chunk from an offset to its end.
pub(crate) type Resend = Vec<(Arc<Chunk>, usize)>;

/// Commands that failed, each as the input commands it stands for, with
/// its error.
pub(crate) type Failed = Vec<(Vec<CmdMeta>, Vec<u8>)>;

/// An open transaction's `MULTI`: its chunk id, its index there, and itself.
type MultiAt = (u64, usize, CmdMeta);

#[derive(Default)]
pub(crate) struct Window {
    chunks: VecDeque<Arc<Chunk>>,
    /// Id of `chunks[0]`; ids go up by one per chunk.
    front_id: u64,
    /// The next command awaiting a reply, as a deque index and command index.
    cur: usize,
    next: usize,
    /// The transaction open at the reply cursor, if one is.
    block: Option<Block>,
    /// The last input `MULTI` the server refused (ACL): no transaction
    /// opened, and the commands after it ran one by one.
    pub(crate) refused_multi: Option<u64>,
    /// The server holds a `WATCH` of the input's, by its replies: `WATCH`
    /// sets it; `UNWATCH`, `RESET`, and an `EXEC` or `DISCARD` that ends a
    /// transaction end it (an `EXEC` without `MULTI` does not).
    pub(crate) watching: bool,
    pub(crate) commit: Commit,
    pub(crate) uncommitted: Uncommitted,
}

/// A transaction open at the reply cursor: the input's, or rload's own.
#[derive(Debug)]
struct Block {
    /// Its `MULTI`.
    multi: MultiAt,
    /// Its first chunk had to be retired (it spans more than
    /// [`RETAIN_FOR_REPLAY`] chunks): it cannot be replayed.
    replay_lost: bool,
    /// The database its `SELECT` switches to, once its `EXEC` is answered.
    db: Option<u32>,
    /// It is rload's own ([`Watch::Atomic`]): what its commands stand for.
    atomic: Option<AtomicBlock>,
}

impl Block {
    fn open(multi: MultiAt, atomic: Option<AtomicBlock>) -> Self {
        Block {
            multi,
            replay_lost: false,
            db: None,
            atomic,
        }
    }
}

/// rload's own open transaction, as its commands are answered (queued):
/// kept here, not read back from the chunks at its `EXEC`, which may have
/// gone back to the pool by then.
#[derive(Debug, Default)]
struct AtomicBlock {
    /// The input commands its commands stand for, one after another: no
    /// allocation per command.
    inputs: Vec<CmdMeta>,
    /// Where each command's inputs end in `inputs`.
    ends: Vec<usize>,
    /// Those refused when queued (by their index in `ends`, ascending).
    failed: Vec<usize>,
}

impl AtomicBlock {
    /// The input commands command `i` of the block stands for.
    fn command(&self, i: usize) -> Option<&[CmdMeta]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.inputs[start..end])
    }
}

/// What a batch of replies did: the command it ended on, and the replies
/// and errors it counts (per input command).
pub(crate) struct Acked {
    pub meta: CmdMeta,
    pub watch: Option<Watch>,
    /// Input commands answered: rload's own and a redirected last command
    /// are not.
    pub replies: u64,
    /// Input commands the last reply, an error, answered.
    pub errors: u64,
}

impl Window {
    pub(crate) fn push(&mut self, chunk: Arc<Chunk>) {
        self.chunks.push_back(chunk);
    }

    /// Commands in the window still awaiting their replies. Chunks the
    /// writer has handed over but the window has not taken are not counted.
    pub(crate) fn awaiting(&self) -> u64 {
        let held: usize = self
            .chunks
            .iter()
            .skip(self.cur)
            .map(|c| c.cmds.len())
            .sum();
        held.saturating_sub(self.next) as u64
    }

    /// How many replies may be taken before the reader must look at one: up
    /// to and including the next watched command, within one chunk. Zero
    /// when no sent command awaits a reply.
    pub(crate) fn budget(&mut self) -> u64 {
        while self.cur < self.chunks.len() && self.next == self.chunks[self.cur].cmds.len() {
            self.cur += 1;
            self.next = 0;
        }
        let Some(chunk) = self.chunks.get(self.cur) else {
            return 0;
        };
        let end = chunk
            .next_watched(self.next)
            .map_or(chunk.cmds.len(), |w| w + 1);
        (end - self.next) as u64
    }

    /// Records `n` replies (at most the budget). `last_type` is the type byte
    /// of the last one, which decides what a watched command did. With
    /// `redirected`, the last command was sent elsewhere (a cluster
    /// redirect): like rload's own commands, it is not counted here.
    ///
    /// Replies and errors count per input command: a span's reply counts
    /// for each command it stands for, and one of rload's own for none.
    pub(crate) fn ack(&mut self, n: u64, last_type: u8, redirected: bool) -> Acked {
        let chunk = Arc::clone(&self.chunks[self.cur]);
        let (first, last) = (self.next, self.next + n as usize - 1);
        self.next = last + 1;
        let meta = chunk.cmds[last];
        let answered_last = if redirected { 0 } else { u64::from(meta.count) };
        let acked = Acked {
            meta,
            watch: chunk.watch_at(last),
            replies: chunk.inputs(first, last) + answered_last,
            errors: if matches!(last_type, b'-' | b'!') {
                answered_last
            } else {
                0
            },
        };
        self.uncommitted.commands += acked.replies;
        self.uncommitted.replies += acked.replies;
        self.uncommitted.errors += acked.errors;
        if acked.watch == Some(Watch::Atomic) && !redirected {
            if self.block.is_none() {
                self.commit_before(&chunk, last);
                if last_type == b'+' {
                    let multi = (self.front_id + self.cur as u64, last, meta);
                    self.block = Some(Block::open(multi, Some(AtomicBlock::default())));
                }
            }
            return acked;
        }
        if let Some(block) = self.block.as_mut().and_then(|b| b.atomic.as_mut()) {
            for i in first..=last {
                if !chunk.cmds[i].is_own() {
                    match chunk.covered(i) {
                        [] => block.inputs.push(chunk.cmds[i]),
                        covered => block.inputs.extend_from_slice(covered),
                    }
                    block.ends.push(block.inputs.len());
                }
            }
            if acked.errors > 0 {
                block.failed.push(block.ends.len() - 1);
            }
        }
        if redirected || meta.is_own() {
            if self.block.is_none() {
                self.commit_before(&chunk, last);
            }
            if matches!(acked.watch, Some(Watch::Abandon | Watch::AtomicExec))
                && self.block.is_some()
            {
                // rload's own DISCARD or EXEC ends the WATCH too.
                self.watching = false;
            }
            if acked.watch == Some(Watch::Abandon) {
                // The transaction was dropped: the commit point stays
                // before its MULTI, and nothing of it is left to replay.
                self.end_block();
                self.uncommitted = Uncommitted::default();
            }
            return acked;
        }
        let ok = last_type == b'+';
        self.follow_watch(acked.watch, ok);
        match acked.watch {
            Some(Watch::Multi) if ok && self.block.is_none() => {
                // Commands before the MULTI are done; the MULTI itself is not.
                let count = u64::from(meta.count);
                self.uncommitted.commands -= count;
                self.uncommitted.replies -= count;
                self.commit_before(&chunk, last);
                self.uncommitted = Uncommitted {
                    commands: count,
                    replies: count,
                    errors: 0,
                };
                let multi = (self.front_id + self.cur as u64, last, meta);
                self.block = Some(Block::open(multi, None));
                return acked;
            }
            Some(Watch::Exec) => {
                // An array: the block ran. An error (EXECABORT) or a null
                // (a WATCHed key changed): it did not.
                if last_type == b'*'
                    && let Some(block) = &self.block
                {
                    self.commit.db = block.db.or(self.commit.db);
                }
                self.end_block();
            }
            Some(Watch::Multi) if !ok && self.block.is_none() => {
                self.refused_multi = Some(meta.seq)
            }
            Some(Watch::Discard) => self.end_block(),
            Some(Watch::Reset) => {
                self.end_block();
                if ok {
                    self.commit.db = Some(0);
                }
            }
            // Queued: it takes effect if the EXEC runs the block.
            Some(Watch::Select(db)) if ok => match &mut self.block {
                Some(block) => block.db = Some(db),
                None => self.commit.db = Some(db),
            },
            _ => {}
        }
        if self.block.is_none() {
            self.commit_through(Some(chunk.last_input(last)));
        }
        acked
    }

    /// Follows the input's `WATCH` by the reply to `watch` (`ok`: not an
    /// error), before the reply ends any transaction.
    fn follow_watch(&mut self, watch: Option<Watch>, ok: bool) {
        match watch {
            Some(Watch::Keys) if ok => self.watching = true,
            Some(Watch::Unwatch | Watch::Reset) if ok => self.watching = false,
            // Whatever the reply (run, aborted, EXECABORT): the
            // transaction is over, and its WATCH with it.
            Some(Watch::Exec | Watch::Discard) if self.block.is_some() => self.watching = false,
            _ => {}
        }
    }

    /// Commits what was answered before command `last` of `chunk`, which
    /// itself is not (yet) done.
    fn commit_before(&mut self, chunk: &Chunk, last: usize) {
        let before = (0..last).rev().find(|&i| !chunk.cmds[i].is_own());
        self.commit_through(before.map(|i| chunk.last_input(i)));
    }

    fn end_block(&mut self) {
        self.block = None;
    }

    /// Settles rload's own transaction, whose `EXEC` the last `ack` ended
    /// on, from that reply: `last_type`, its text, and the errors among
    /// its elements. A command of the block that failed counts an error for
    /// each input command it stands for: when the block ran, those whose
    /// element is an error; when it did not (`EXECABORT`), every one not
    /// already counted as failed when it was queued. Commits the block, and
    /// returns the errors it added and what to report: the input commands
    /// of each failed command, and the error.
    pub(crate) fn settle_atomic(
        &mut self,
        last_type: u8,
        text: &[u8],
        element_errors: &[(u32, Vec<u8>)],
    ) -> (u64, Failed) {
        let Some(block) = self.block.as_mut().and_then(|b| b.atomic.take()) else {
            // Its MULTI was refused: the commands ran, and were counted,
            // one by one.
            return (0, Vec::new());
        };
        let ran = last_type == b'*';
        // A null (`*-1`, `_`) has no error text: say what it means.
        const ABORTED: &[u8] = b"rload's transaction was aborted: its EXEC returned null (a WATCHed key changed), so none of it was applied";
        let text = if last_type == b'_' { ABORTED } else { text };
        let mut reports = Vec::new();
        if ran {
            for (j, error) in element_errors {
                if let Some(covered) = block.command(*j as usize) {
                    reports.push((covered.to_vec(), error.clone()));
                }
            }
        } else {
            for i in 0..block.ends.len() {
                if block.failed.binary_search(&i).is_err() {
                    let covered = block.command(i).expect("in range");
                    reports.push((covered.to_vec(), text.to_vec()));
                }
            }
        }
        let errors: u64 = reports.iter().map(|(c, _)| c.len() as u64).sum();
        self.uncommitted.errors += errors;
        let last = block.inputs.iter().max_by_key(|m| m.seq).copied();
        self.end_block();
        self.commit_through(last);
        (errors, reports)
    }

    /// The command the last `ack` ended on, as it was sent.
    pub(crate) fn last_acked(&self) -> SentCommand {
        self.chunks[self.cur].sent(self.next - 1)
    }

    /// The input commands the command the last `ack` ended on stands for,
    /// when it is a span.
    pub(crate) fn last_acked_covered(&self) -> &[CmdMeta] {
        self.chunks[self.cur].covered(self.next - 1)
    }

    /// The watch of the command the next `n` replies end on.
    pub(crate) fn peek_watch(&self, n: u64) -> Option<Watch> {
        self.chunks
            .get(self.cur)?
            .watch_at(self.next + n as usize - 1)
    }

    /// Ends the open transaction without committing it, taking its commands,
    /// from its MULTI through the command the next `n` replies end on (in
    /// cluster mode, to send them all again elsewhere). Returns them and what
    /// was counted for them; `None` if its start is no longer held.
    pub(crate) fn take_block(&mut self, n: u64) -> Option<(Vec<SentCommand>, Uncommitted)> {
        let block = self.block.as_ref()?;
        if block.replay_lost {
            return None;
        }
        let (id, idx, _) = block.multi;
        let (first, last, last_i) = (
            (id - self.front_id) as usize,
            self.cur,
            self.next + n as usize - 1,
        );
        let mut cmds = Vec::new();
        for k in first..=last {
            let chunk = &self.chunks[k];
            let from = if k == first { idx } else { 0 };
            let to = if k == last {
                last_i
            } else {
                chunk.cmds.len() - 1
            };
            cmds.extend((from..=to).map(|i| chunk.sent(i)));
        }
        self.next = last_i + 1;
        self.end_block();
        Some((cmds, std::mem::take(&mut self.uncommitted)))
    }

    /// Whether a transaction is open at the reply cursor.
    pub(crate) fn in_transaction(&self) -> bool {
        self.block.is_some()
    }

    /// Whether the transaction open at the reply cursor is rload's own
    /// (its commands settle at its `EXEC`).
    pub(crate) fn in_own_transaction(&self) -> bool {
        self.block.as_ref().is_some_and(|b| b.atomic.is_some())
    }

    /// Commits everything answered so far; `last`, if known, is the last
    /// input command among it.
    fn commit_through(&mut self, last: Option<CmdMeta>) {
        if self.uncommitted.commands > 0
            && let Some(last) = last
        {
            self.commit.last = Some(last);
        }
        self.commit.count += self.uncommitted.commands;
        self.uncommitted = Uncommitted::default();
    }

    /// Retires answered chunks from the front, handing them to `retire`.
    pub(crate) fn retire(&mut self, mut retire: impl FnMut(Arc<Chunk>)) {
        while !self.chunks.is_empty() && (self.cur > 0 || self.next == self.chunks[0].cmds.len()) {
            // Held while the open transaction has spanned fewer chunks than
            // that, however far ahead the writer is.
            if let Some(block) = &mut self.block
                && block.multi.0 <= self.front_id
            {
                if self.cur < RETAIN_FOR_REPLAY {
                    return;
                }
                block.replay_lost = true;
            }
            let chunk = self.chunks.pop_front().expect("checked non-empty");
            self.front_id += 1;
            if self.cur > 0 {
                self.cur -= 1;
            } else {
                self.next = 0;
            }
            retire(chunk);
        }
    }

    /// The next command awaiting its reply, if it is in the window.
    pub(crate) fn next_awaiting(&mut self) -> Option<CmdMeta> {
        self.budget();
        self.chunks.get(self.cur)?.cmds.get(self.next).copied()
    }

    /// The lowest-numbered input command sent but not committed, if any
    /// (rload's own, such as `ASKING`, are passed over). Not always the
    /// first in the window: in a cluster, a redirected command comes back
    /// into a window after newer ones.
    pub(crate) fn first_pending(&self) -> Option<CmdMeta> {
        let (cur, next) = match &self.block {
            Some(Block {
                multi: (id, i, _), ..
            }) => ((id - self.front_id) as usize, *i),
            None => (self.cur, self.next),
        };
        self.chunks
            .iter()
            .skip(cur)
            .enumerate()
            .flat_map(|(k, chunk)| chunk.cmds[if k == 0 { next } else { 0 }..].iter())
            .filter(|m| !m.is_own())
            .min_by_key(|m| m.seq)
            .copied()
    }

    /// Takes every command past the commit point out of the window, in
    /// order, for the router to send elsewhere (rload's own are left out),
    /// and what was counted for them. `None` when the commit point is no
    /// longer held.
    pub(crate) fn hand_back(&mut self) -> Option<(Vec<SentCommand>, Uncommitted)> {
        let (resend, undone) = self.rewind()?;
        let mut cmds = Vec::new();
        for (chunk, from) in &resend {
            for i in 0..chunk.cmds.len() {
                if chunk.start_of(i) >= *from && !chunk.cmds[i].is_own() {
                    cmds.push(chunk.sent(i));
                }
            }
        }
        // Nothing past the commit point is this window's any more.
        self.chunks.truncate(self.cur + 1);
        self.next = self.chunks.get(self.cur).map_or(0, |c| c.cmds.len());
        Some((cmds, undone))
    }

    /// Winds the window back to the commit point for a replay on a new
    /// connection, and returns the bytes to re-send, in order, plus what the
    /// rewind un-counted. `None` when the commit point is no longer held.
    pub(crate) fn rewind(&mut self) -> Option<(Resend, Uncommitted)> {
        if self.block.as_ref().is_some_and(|b| b.replay_lost) {
            return None;
        }
        let (cur, next) = match self.block.take() {
            Some(Block {
                multi: (id, i, _), ..
            }) => ((id - self.front_id) as usize, i),
            None => (self.cur, self.next),
        };
        self.cur = cur;
        self.next = next;
        let undone = std::mem::take(&mut self.uncommitted);
        let mut resend = Vec::new();
        for (k, chunk) in self.chunks.iter().enumerate().skip(cur) {
            let from = if k == cur { chunk.start_of(next) } else { 0 };
            if from < chunk.bytes.len() {
                resend.push((Arc::clone(chunk), from));
            }
        }
        Some((resend, undone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Window {
        fn ack_counted(&mut self, n: u64, last_type: u8) -> Acked {
            self.ack(n, last_type, false)
        }
    }

    fn chunk(first_seq: u64, n: usize, watched: &[(u32, Watch)]) -> Arc<Chunk> {
        let mut c = Chunk::new();
        for k in 0..n {
            let seq = first_seq + k as u64;
            let watch = watched.iter().find(|w| w.0 as usize == k).map(|w| w.1);
            let cmd = format!("*1\r\n$1\r\n{}\r\n", seq % 10);
            let pos = crate::input::Position {
                source: 0,
                line: seq,
                offset: 0,
            };
            let meta = match watch {
                Some(Watch::Sentinel | Watch::Internal | Watch::Abandon) => CmdMeta::own(None),
                _ => CmdMeta::input(seq, pos),
            };
            c.push_encoded(cmd.as_bytes(), meta, watch);
        }
        Arc::new(c)
    }

    #[test]
    fn budgets_stop_at_watched_commands_and_chunk_ends() {
        let mut w = Window::default();
        assert_eq!(w.budget(), 0);
        w.push(chunk(1, 5, &[(2, Watch::Select(3))]));
        w.push(chunk(6, 4, &[]));
        assert_eq!(w.budget(), 3);
        let a = w.ack_counted(3, b'+');
        assert_eq!((a.meta.seq, a.watch), (3, Some(Watch::Select(3))));
        assert_eq!(w.commit.db, Some(3));
        assert_eq!(w.budget(), 2);
        w.ack_counted(2, b'+');
        assert_eq!(w.budget(), 4);
    }

    #[test]
    fn retires_answered_chunks_only() {
        let mut w = Window::default();
        w.push(chunk(1, 3, &[]));
        w.push(chunk(4, 3, &[]));
        assert_eq!(w.awaiting(), 6);
        w.budget();
        w.ack_counted(2, b'+');
        assert_eq!(w.awaiting(), 4);
        let mut retired = 0;
        w.retire(|_| retired += 1);
        assert_eq!(retired, 0);
        w.ack_counted(1, b'+');
        assert_eq!(w.awaiting(), 3);
        w.retire(|_| retired += 1);
        assert_eq!(retired, 1);
        assert_eq!(w.awaiting(), 3);
        assert_eq!(w.first_pending().map(|m| m.seq), Some(4));
        assert_eq!(w.commit.count, 3);
        w.budget();
        w.ack_counted(3, b'+');
        assert_eq!(w.awaiting(), 0);
    }

    #[test]
    fn a_transaction_commits_only_when_it_ends() {
        let mut w = Window::default();
        w.push(chunk(1, 6, &[(1, Watch::Multi), (4, Watch::Exec)]));
        assert_eq!(w.budget(), 2);
        w.ack_counted(2, b'+');
        assert_eq!((w.commit.count, w.commit.last.map(|m| m.seq)), (1, Some(1)));
        w.budget();
        w.ack_counted(3, b'*');
        assert_eq!((w.commit.count, w.commit.last.map(|m| m.seq)), (5, Some(5)));
    }

    #[test]
    fn rewinds_to_the_multi_of_an_open_transaction() {
        let mut w = Window::default();
        w.push(chunk(1, 6, &[(1, Watch::Multi), (4, Watch::Exec)]));
        w.budget();
        w.ack_counted(2, b'+');
        w.budget();
        w.ack_counted(2, b'+'); // two QUEUED
        assert_eq!(w.first_pending().map(|m| m.seq), Some(2));
        let (resend, undone) = w.rewind().unwrap();
        assert_eq!(
            undone,
            Uncommitted {
                commands: 3,
                replies: 3,
                errors: 0
            }
        );
        assert_eq!(resend.len(), 1);
        assert_eq!(
            &resend[0].0.bytes[resend[0].1..resend[0].1 + 8],
            b"*1\r\n$1\r\n"
        );
        assert_eq!(resend[0].0.bytes.len() - resend[0].1, 5 * 11);
        assert_eq!(w.budget(), 1, "the MULTI is watched again");
    }

    /// A window holding a transaction two chunks larger than what is kept
    /// for a replay: its `MULTI` first, its `EXEC` at `exec` of the last
    /// chunk (of two commands each).
    fn a_large_transaction(exec: u32) -> Window {
        let mut w = Window::default();
        let chunks = RETAIN_FOR_REPLAY as u64 + 2;
        for k in 0..chunks {
            let watched: &[(u32, Watch)] = match k {
                0 => &[(0, Watch::Multi)],
                k if k == chunks - 1 => &[(exec, Watch::Exec)],
                _ => &[],
            };
            w.push(chunk(1 + 2 * k, 2, watched));
        }
        w
    }

    /// Takes the replies up to the one `stop` says to stop before, retiring
    /// chunks as the reader does.
    fn answer_until(w: &mut Window, mut stop: impl FnMut(&mut Window, u64) -> bool) {
        loop {
            let n = w.budget();
            if stop(w, n) {
                return;
            }
            let last = if w.peek_watch(n) == Some(Watch::Exec) {
                b'*'
            } else {
                b'+'
            };
            w.ack_counted(n, last);
            w.retire(|_| {});
        }
    }

    #[test]
    fn a_transaction_too_large_to_replay_stops_only_its_own_replay() {
        let mut w = a_large_transaction(1);
        // Every reply up to the EXEC's: the block is still open.
        answer_until(&mut w, |w, n| w.peek_watch(n) == Some(Watch::Exec));
        assert!(w.in_transaction());
        assert!(w.rewind().is_none(), "its start is gone: no replay");
    }

    #[test]
    fn a_replay_after_a_large_transaction_ended_is_not_refused() {
        let mut w = a_large_transaction(0);
        // The replies through the EXEC; the last command awaits its own.
        answer_until(&mut w, |w, n| {
            n == 1 && w.peek_watch(n).is_none() && !w.in_transaction()
        });
        assert_eq!(w.awaiting(), 1);
        let (resend, undone) = w.rewind().expect("the block is over: the rest replays");
        assert_eq!(undone.commands, 0);
        assert_eq!(resend.len(), 1);
    }

    #[test]
    fn a_select_in_a_transaction_takes_effect_only_if_the_exec_runs_it() {
        let block = [(0, Watch::Multi), (1, Watch::Select(3)), (2, Watch::Exec)];
        for (exec_reply, db) in [(b'*', Some(3)), (b'_', None), (b'-', None)] {
            let mut w = Window::default();
            w.push(chunk(1, 3, &block));
            for (n, reply) in [(1, b'+'), (1, b'+'), (1, exec_reply)] {
                w.budget();
                w.ack_counted(n, reply);
            }
            assert_eq!(w.commit.db, db, "EXEC answered with {}", exec_reply as char);
            assert_eq!(w.commit.count, 3);
        }
    }

    #[test]
    fn the_watch_follows_the_replies_not_the_input() {
        let mut w = Window::default();
        // WATCH, EXEC (no MULTI: refused, the WATCH stays), UNWATCH,
        // WATCH, MULTI, EXEC (ends it), WATCH (refused by an ACL).
        let watched = [
            (0, Watch::Keys),
            (1, Watch::Exec),
            (2, Watch::Unwatch),
            (3, Watch::Keys),
            (4, Watch::Multi),
            (5, Watch::Exec),
            (6, Watch::Keys),
        ];
        w.push(chunk(1, 7, &watched));
        let mut step = |reply: u8| {
            w.budget();
            w.ack_counted(1, reply);
            w.watching
        };
        assert!(step(b'+'), "WATCH");
        assert!(step(b'-'), "EXEC without MULTI ends nothing");
        assert!(!step(b'+'), "UNWATCH");
        assert!(step(b'+'), "WATCH");
        assert!(step(b'+'), "MULTI");
        assert!(!step(b'_'), "EXEC, aborted by the WATCH, ends it");
        assert!(!step(b'-'), "a refused WATCH holds nothing");
    }

    #[test]
    fn rloads_own_discard_commits_nothing_of_the_transaction() {
        let mut w = Window::default();
        w.push(chunk(1, 4, &[(1, Watch::Multi), (3, Watch::Abandon)]));
        w.budget();
        w.ack_counted(2, b'+');
        w.budget();
        let a = w.ack_counted(2, b'+');
        assert_eq!(a.watch, Some(Watch::Abandon));
        assert_eq!((w.commit.count, w.commit.last.map(|m| m.seq)), (1, Some(1)));
        assert!(!w.in_transaction());
        assert_eq!(w.first_pending(), None);
    }

    #[test]
    fn a_block_applied_together_commits_whole_and_counts_its_failed_elements() {
        let at = |seq| CmdMeta::input(seq, crate::input::Position::default());
        // MULTI, then spans for inputs {1, 3}, {2, 4} and {5}, then EXEC.
        let block = || {
            let mut c = Chunk::new();
            let own = CmdMeta::own(None);
            c.push_encoded(b"*1\r\n$5\r\nMULTI\r\n", own, Some(Watch::Atomic));
            for seqs in [&[1, 3][..], &[2, 4], &[5]] {
                let covered: Vec<CmdMeta> = seqs.iter().map(|&s| at(s)).collect();
                let meta = CmdMeta {
                    count: seqs.len() as u32,
                    ..covered[0]
                };
                let covered = if seqs.len() > 1 { covered } else { Vec::new() };
                c.push_span(b"*1\r\n$1\r\nx\r\n", meta, &covered);
            }
            c.push_encoded(b"*1\r\n$4\r\nEXEC\r\n", own, Some(Watch::AtomicExec));
            Arc::new(c)
        };

        // It ran; the second command failed.
        let mut w = Window::default();
        w.push(block());
        assert_eq!(w.budget(), 1);
        w.ack_counted(1, b'+');
        assert!(w.in_transaction());
        assert_eq!(w.budget(), 4);
        let queued = w.ack_counted(4, b'*');
        assert_eq!((queued.replies, queued.watch), (5, Some(Watch::AtomicExec)));
        assert_eq!(w.commit.count, 0, "nothing commits before the EXEC");
        assert_eq!(w.first_pending().map(|m| m.seq), Some(1));
        let (errors, failed) = w.settle_atomic(b'*', b"", &[(1, b"WRONGTYPE".to_vec())]);
        assert_eq!(errors, 2);
        let lines: Vec<u64> = failed[0].0.iter().map(|m| m.seq).collect();
        assert_eq!(
            (lines, failed[0].1.as_slice()),
            (vec![2, 4], &b"WRONGTYPE"[..])
        );
        assert_eq!((w.commit.count, w.commit.last.map(|m| m.seq)), (5, Some(5)));
        assert!(!w.in_transaction());

        // Aborted: the first command failed when queued; the others fail
        // with the EXEC's error.
        let mut w = Window::default();
        w.push(block());
        w.ack_counted(1, b'+');
        assert_eq!(w.ack_counted(1, b'-').errors, 2);
        w.budget();
        w.ack_counted(3, b'-');
        let (errors, failed) = w.settle_atomic(b'-', b"EXECABORT", &[]);
        assert_eq!(errors, 3, "inputs 2, 4 and 5");
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|(_, text)| text == b"EXECABORT"));
        assert_eq!(w.commit.count, 5);

        // Aborted by a WATCH (a null): every command fails, with words
        // that say so, not the null's "-1".
        let mut w = Window::default();
        w.push(block());
        w.ack_counted(1, b'+');
        w.budget();
        w.ack_counted(4, b'_');
        let (errors, failed) = w.settle_atomic(b'_', b"-1", &[]);
        assert_eq!(errors, 5);
        assert!(
            failed
                .iter()
                .all(|(_, text)| text.starts_with(b"rload's transaction was aborted")),
            "{failed:?}"
        );

        // Lost before the EXEC: a replay sends the whole block again.
        let mut w = Window::default();
        w.push(block());
        w.ack_counted(1, b'+');
        w.ack_counted(2, b'+');
        let (resend, undone) = w.rewind().expect("held");
        assert_eq!(resend[0].1, 0, "from the MULTI");
        assert_eq!(undone.commands, 4, "the two commands QUEUED");
        assert_eq!(w.commit.count, 0);
    }

    #[test]
    fn a_span_counts_once_per_input_command_it_stands_for() {
        let mut c = Chunk::new();
        let at = |seq| CmdMeta::input(seq, crate::input::Position::default());
        c.push_encoded(b"*1\r\n$1\r\na\r\n", at(1), None);
        let covered: Vec<CmdMeta> = (2..=4).map(at).collect();
        c.push_sent(&SentCommand {
            bytes: b"*1\r\n$1\r\nb\r\n".to_vec(),
            meta: CmdMeta { count: 3, ..at(2) },
            watch: None,
            covered: covered.clone(),
        });
        c.push_encoded(b"*1\r\n$1\r\nc\r\n", at(5), None);
        let mut w = Window::default();
        w.push(Arc::new(c));
        assert_eq!(w.budget(), 3);
        let a = w.ack_counted(2, b'-');
        assert_eq!(
            (a.replies, a.errors),
            (4, 3),
            "the span's error counts thrice"
        );
        assert_eq!(w.last_acked_covered(), &covered[..]);
        assert_eq!(w.first_pending().map(|m| m.seq), Some(5));
        w.ack_counted(1, b'+');
        assert_eq!(w.commit.count, 5);
        assert_eq!(w.commit.last.map(|m| m.seq), Some(5));
    }

    #[test]
    fn the_first_pending_command_is_the_lowest_numbered_not_the_first_sent() {
        let mut w = Window::default();
        w.push(chunk(10, 2, &[]));
        // A redirected command, sent again after newer ones.
        w.push(chunk(3, 1, &[]));
        w.budget();
        w.ack_counted(1, b'+');
        assert_eq!(w.first_pending().map(|m| m.seq), Some(3));
    }

    #[test]
    fn the_sentinel_is_not_counted() {
        let mut w = Window::default();
        w.push(chunk(1, 3, &[(2, Watch::Sentinel)]));
        w.budget();
        let a = w.ack_counted(3, b'$');
        assert_eq!(a.watch, Some(Watch::Sentinel));
        assert_eq!(w.commit.count, 2);
        assert_eq!(w.uncommitted, Uncommitted::default());
    }
}
