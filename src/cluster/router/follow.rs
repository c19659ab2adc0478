//! Following redirects, waiting for moved slots to drain, and settling at
//! the end of the load.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::{MAX_RETRIES, POLL, Payload, Router};
use crate::pipe::{CmdMeta, PipeOutcome, PipeStop, Redirect, RedirectKind, Shared, Stopped, Watch};
use crate::resp::encode_command;

impl Router {
    /// Follows the redirects that have come back, and sends the retries
    /// whose wait is over, without waiting.
    pub(super) fn serve_inbox(&mut self) -> Result<(), Stopped> {
        while let Ok(r) = self.inbox.try_recv() {
            self.follow(r)?;
        }
        if !self.retry_queue.is_empty() && Instant::now() >= self.retry_at {
            for (from, cmds) in std::mem::take(&mut self.retry_queue) {
                for c in &cmds {
                    self.send(from, Payload::Bytes(&c.bytes), c.meta, c.watch)?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn follow(&mut self, r: Redirect) -> Result<(), Stopped> {
        let first = r.cmds[0].meta;
        match r.kind {
            RedirectKind::Moved { slot, host, port } => {
                let to = self.member(host, port)?;
                let s = usize::from(slot);
                self.owner[s] = to;
                let (was, pushed) = self.last[s];
                if usize::from(was) == r.from && !self.resolved_up_to(was, pushed) {
                    self.draining.insert(slot, (was, pushed));
                }
                for c in &r.cmds {
                    self.send(to, Payload::Bytes(&c.bytes), c.meta, c.watch)?;
                }
                self.last[s] = (to, self.members[usize::from(to)].pipe.pushed());
            }
            RedirectKind::Ask { host, port, .. } => {
                // ASKING lets the next command in; in a transaction, each.
                let to = self.member(host, port)?;
                let mut asking = Vec::new();
                encode_command(&mut asking, &[&b"ASKING"[..]][..]);
                for c in &r.cmds {
                    self.send(
                        to,
                        Payload::Bytes(&asking),
                        CmdMeta { seq: 0, ..c.meta },
                        Some(Watch::Internal),
                    )?;
                    self.send(to, Payload::Bytes(&c.bytes), c.meta, c.watch)?;
                }
            }
            RedirectKind::Retry(text) => {
                let tries = self.retries.entry(first.seq).or_insert(0);
                *tries += 1;
                if *tries > MAX_RETRIES {
                    self.retries.remove(&first.seq);
                    let why = format!("{text} (gave up after {MAX_RETRIES} retries)");
                    self.local_error(first, &why);
                    return Ok(());
                }
                // One wait for the whole wave, not one per command: the
                // queue goes out, in order, when the latest backoff is over.
                let backoff = Duration::from_millis(25 << (*tries).min(6));
                self.retry_at = self.retry_at.max(Instant::now() + backoff);
                self.retry_queue.push((r.from as u16, r.cmds));
            }
        }
        Ok(())
    }

    pub(super) fn resolved_up_to(&self, member: u16, pushed: u64) -> bool {
        self.members[usize::from(member)]
            .pipe
            .shared()
            .resolved
            .load(Ordering::Acquire)
            >= pushed
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
            for m in &mut self.members {
                m.pipe.flush()?;
            }
            if self.retry_queue.is_empty() && self.members.iter().all(|m| m.pipe.settled()) {
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
            } else if let Some(m) = self.members.iter().find(|m| !m.pipe.settled())
                && m.pipe.shared().check_stall(since, self.config.pipe_timeout)
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

    /// Ends the load: settles, closes every pipe and waits for each. Returns
    /// each pipe's account, and whether the closing ECHOs all went out.
    pub(crate) fn finish(mut self, go_on: bool) -> (Vec<(Arc<Shared>, PipeOutcome)>, bool) {
        let settled = go_on && self.settle().is_ok();
        let mut closed = settled;
        for m in &mut self.members {
            closed &= m.pipe.close();
        }
        let outcomes = self
            .members
            .into_iter()
            .map(|m| {
                let shared = Arc::clone(m.pipe.shared());
                (shared, m.pipe.wait())
            })
            .collect();
        (outcomes, closed)
    }

    /// The stop to report when the router itself could not go on.
    pub(crate) fn failure_stop(&self) -> Option<PipeStop> {
        self.failure
            .as_ref()
            .map(|e| PipeStop::Lost(crate::error::chain(e)))
    }
}
