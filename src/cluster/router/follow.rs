//! Following redirects, waiting for moved slots to drain, and settling at
//! the end of the load.
//!
//! A redirected command is resolved only when its final reply arrives, on
//! whichever master; until then it is in a pipe's window or here, and the
//! resume point stays before it. Each command is redirected at most
//! [`MAX_REDIRECTS`] times and retried at most [`MAX_RETRIES`] times; then
//! it is given up on, and its last reply is the error it counts as.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::super::redirect::{Redirect, RedirectKind};
use super::{MAX_RETRIES, POLL, Payload, Router};
use crate::command::{CmdMeta, Stopped, Watch};
use crate::pipe::SentCommand;
use crate::resp::encode_command;
use crate::sink::{Closing, Finished};

/// `MOVED` and `ASK` are followed this often per command. A slot map that
/// has not settled by then (two nodes that each say the other owns the
/// slot) will not: the command is given up on.
pub(super) const MAX_REDIRECTS: u32 = 16;

/// Above this many commands tracked, those untouched for [`STALE`] are
/// forgotten: they were answered long ago.
const TRACKED: usize = 10_000;
const STALE: Duration = Duration::from_secs(10);

/// How often each command has been redirected and retried.
#[derive(Default)]
pub(super) struct Attempts {
    by_seq: HashMap<u64, Tries>,
}

#[derive(Clone, Copy)]
struct Tries {
    redirects: u32,
    retries: u32,
    last: Instant,
}

impl Attempts {
    /// Counts one more redirect (or retry) of command `seq`, and returns
    /// the counts so far.
    fn note(&mut self, seq: u64, retry: bool) -> (u32, u32) {
        if self.by_seq.len() > TRACKED {
            self.by_seq.retain(|_, t| t.last.elapsed() < STALE);
        }
        let t = self.by_seq.entry(seq).or_insert(Tries {
            redirects: 0,
            retries: 0,
            last: Instant::now(),
        });
        if retry {
            t.retries += 1;
        } else {
            t.redirects += 1;
        }
        t.last = Instant::now();
        (t.redirects, t.retries)
    }

    fn forget(&mut self, seq: u64) {
        self.by_seq.remove(&seq);
    }
}

impl Router {
    /// Follows the redirects that have come back, and sends the retries
    /// whose wait is over, without waiting.
    pub(super) fn serve_inbox(&mut self) -> Result<(), Stopped> {
        while let Ok(r) = self.inbox.try_recv() {
            self.follow(r)?;
        }
        if !self.retry_queue.is_empty() && Instant::now() >= self.retry_at {
            for (from, cmds) in std::mem::take(&mut self.retry_queue) {
                if self.members[usize::from(from)].alive {
                    for c in &cmds {
                        self.send(from, Payload::Sent(c))?;
                    }
                } else {
                    self.resend(cmds, &[])?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn follow(&mut self, r: Redirect) -> Result<(), Stopped> {
        let from = r.from as u16;
        if let RedirectKind::Lost(reason) = r.kind {
            return self.fail_over(from, &reason);
        }
        let first = r.cmds[0].meta;
        let retry = matches!(r.kind, RedirectKind::Retry(_));
        let (redirects, retries) = self.attempts.note(first.seq, retry);
        if redirects > MAX_REDIRECTS || retries > MAX_RETRIES {
            let why = match &r.kind {
                RedirectKind::Retry(text) => {
                    format!("{text} (rload gave up after {MAX_RETRIES} retries)")
                }
                RedirectKind::Moved { slot, host, port }
                | RedirectKind::Ask { slot, host, port } => {
                    format!(
                        "MOVED {slot} {host}:{port} (rload gave up after {MAX_REDIRECTS} redirects of this command: the last was from {} to {host}:{port}, and the cluster's map of slot {slot} does not settle)",
                        self.members[usize::from(from)].pipe.shared().addr
                    )
                }
                RedirectKind::Lost(_) => unreachable!("handled above"),
            };
            self.give_up(&r, &why);
            return Ok(());
        }
        match r.kind {
            RedirectKind::Moved { slot, host, port } => {
                let to = self.member(host, port)?;
                let s = usize::from(slot);
                self.owner[s] = to;
                let (was, pushed) = self.last[s];
                if was == from && !self.resolved_up_to(was, pushed) {
                    self.draining.insert(slot, (was, pushed));
                }
                for c in &r.cmds {
                    self.send(to, Payload::Sent(c))?;
                }
                self.last[s] = (to, self.members[usize::from(to)].pipe.pushed());
            }
            RedirectKind::Ask { host, port, .. } => {
                // ASKING lets the next command in; in a transaction, each.
                let to = self.member(host, port)?;
                let mut bytes = Vec::new();
                encode_command(&mut bytes, &[&b"ASKING"[..]][..]);
                for c in &r.cmds {
                    let asking = SentCommand {
                        bytes: bytes.clone(),
                        meta: CmdMeta::own(Some(&c.meta)),
                        watch: Some(Watch::Internal),
                        covered: Vec::new(),
                    };
                    self.send(to, Payload::Sent(&asking))?;
                    self.send(to, Payload::Sent(c))?;
                }
            }
            RedirectKind::Retry(_) => {
                // One wait for the whole wave, not one per command: the
                // queue goes out, in order, when the latest backoff is over.
                let backoff = Duration::from_millis(25 << retries.min(6));
                self.retry_at = self.retry_at.max(Instant::now() + backoff);
                self.retry_queue.push((from, r.cmds));
            }
            RedirectKind::Lost(_) => unreachable!("handled above"),
        }
        Ok(())
    }

    /// Gives up on a redirected command (or transaction): its last reply,
    /// `why`, is the error it counts as (on every input line a merged
    /// command stands for), and it is done.
    fn give_up(&mut self, r: &Redirect, why: &str) {
        let first = r.cmds[0].meta;
        self.attempts.forget(first.seq);
        match r.cmds[0].covered.as_slice() {
            [] => self.report_error(first, why),
            covered => covered.iter().for_each(|m| self.report_error(*m, why)),
        }
        let commands: u64 = r.cmds.iter().map(|c| u64::from(c.meta.count)).sum();
        // A command's error counts for each input command it stands for; a
        // transaction's, once (redis-cli counts EXEC's one error reply).
        let errors = match r.cmds.as_slice() {
            [one] => u64::from(one.meta.count),
            _ => 1,
        };
        self.local.errors += errors;
        self.local.replies += commands;
        self.handles.meter.add_replies(commands, errors);
        self.local.acknowledged += commands;
    }

    pub(super) fn resolved_up_to(&self, member: u16, pushed: u64) -> bool {
        let m = &self.members[usize::from(member)];
        // A lost master's commands were all taken back and sent on.
        !m.alive || m.pipe.shared().resolved.load(Ordering::Acquire) >= pushed
    }

    /// Waits until the old owner of a moved slot has answered or redirected
    /// every command it was sent for the slot.
    pub(super) fn wait_drained(&mut self, slot: u16) -> Result<(), Stopped> {
        let Some(&(old, until)) = self.draining.get(&slot) else {
            return Ok(());
        };
        let since = Instant::now();
        while !self.resolved_up_to(old, until) {
            // What is buffered for the old owner must go out to come back.
            self.members[usize::from(old)].pipe.flush()?;
            match self.inbox.recv_timeout(POLL) {
                Ok(r) => self.follow(r)?,
                Err(RecvTimeoutError::Timeout) => {
                    if self.members[usize::from(old)]
                        .pipe
                        .shared()
                        .check_stall(since, self.config.pipe_timeout)
                    {
                        return Err(Stopped);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the router holds a sender"),
            }
        }
        // Its redirects were sent before it counted them resolved.
        self.serve_inbox()?;
        self.draining.remove(&slot);
        Ok(())
    }

    /// Waits until every command sent has been answered, redirects
    /// included, so the closing ECHOs can go out.
    pub(super) fn settle(&mut self) -> Result<(), Stopped> {
        let mut since = Instant::now();
        let mut progress = self.total_resolved();
        loop {
            self.serve_inbox()?;
            for m in self.members.iter_mut().filter(|m| m.alive) {
                m.pipe.flush()?;
            }
            let unsettled = self
                .members
                .iter()
                .position(|m| m.alive && !m.pipe.settled());
            if self.retry_queue.is_empty() && unsettled.is_none() {
                match self.inbox.try_recv() {
                    Ok(r) => self.follow(r)?,
                    Err(_) => return Ok(()),
                }
                continue;
            }
            if let Ok(r) = self.inbox.recv_timeout(POLL) {
                self.follow(r)?;
            }
            let now = self.total_resolved();
            if now != progress {
                (progress, since) = (now, Instant::now());
            } else if let Some(m) = unsettled
                && self.members[m]
                    .pipe
                    .shared()
                    .check_stall(since, self.config.pipe_timeout)
            {
                return Err(Stopped);
            }
        }
    }

    pub(super) fn total_resolved(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.pipe.shared().resolved.load(Ordering::Acquire))
            .sum()
    }

    /// Ends the load: settles, closes every pipe and waits for each.
    /// Returns each pipe's account, whether the closing ECHOs all went out,
    /// and what the router settled itself, with the oldest command it still
    /// held.
    pub(super) fn finish(mut self, closing: Closing) -> Finished {
        let settled = closing != Closing::Abandon && self.settle().is_ok();
        let mut closed = settled;
        for m in self.members.iter_mut().filter(|m| m.alive) {
            closed &= m.pipe.close();
        }
        if closed && closing == Closing::CloseAllSent {
            self.events.all_sent();
        }
        let members = std::mem::take(&mut self.members);
        let pipes = members
            .into_iter()
            .map(|m| {
                let shared = Arc::clone(m.pipe.shared());
                (shared, m.pipe.wait())
            })
            .collect();
        // Only now: until every pipe's reader has stopped, redirects can
        // still arrive.
        let mut local = std::mem::take(&mut self.local);
        local.pending = self.held_back();
        Finished {
            pipes,
            closed,
            local,
        }
    }

    /// The oldest command the router holds and has not sent on: redirects
    /// not yet followed, retries waiting, commands taken back from a lost
    /// master.
    fn held_back(&mut self) -> Option<u64> {
        let inbox = std::iter::from_fn(|| self.inbox.try_recv().ok())
            .flat_map(|r| r.cmds)
            .map(|c| c.meta.seq);
        let queued = self
            .retry_queue
            .iter()
            .flat_map(|(_, cmds)| cmds)
            .map(|c| c.meta.seq);
        let seqs: Vec<u64> = inbox.chain(queued).collect();
        seqs.into_iter().chain(self.stranded).min()
    }
}
