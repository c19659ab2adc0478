//! The router as the load's sink: commands in, routed to the masters, and
//! one account out.

use std::sync::atomic::Ordering;

use super::{Payload, Route, Router};
use crate::command::{CmdMeta, Stopped, Watch};
use crate::input::{ArgBuf, Command, frame_args};
use crate::pipe::SentCommand;
use crate::sink::{Closing, Finished, Sink};

impl Sink for Router {
    fn push(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.serve_inbox()?;
        self.route_and_send(&cmd.args, Payload::Command(cmd, meta, watch), None)
    }

    /// A command alone for a slot goes on as it is; anything else (in a
    /// transaction, to every master) is copied as usual.
    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.serve_inbox()?;
        let mut buf = ArgBuf::default();
        let args = frame_args(&bytes, &mut buf).expect("rload encoded it");
        if let Route::Slot(s) = self.route(&args)
            && self.block.is_none()
            && watch != Some(Watch::Multi)
            && let Some(member) = self.member_for(s)?
        {
            let pipe = &mut self.members[usize::from(member)].pipe;
            pipe.push_owned(bytes, meta, watch)?;
            self.last[usize::from(s)] = (member, pipe.pushed());
            return Ok(());
        }
        let sent = SentCommand {
            bytes: bytes.clone(),
            meta,
            watch,
            covered: Vec::new(),
        };
        self.route_and_send(&args, Payload::Sent(&sent), None)
    }

    fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped> {
        self.serve_inbox()?;
        let mut buf = ArgBuf::default();
        let args = frame_args(bytes, &mut buf).expect("rload encoded it");
        let sent = SentCommand {
            bytes: bytes.to_vec(),
            meta,
            watch: None,
            covered: covered.to_vec(),
        };
        self.route_and_send(&args, Payload::Sent(&sent), None)
    }

    /// A transaction is only sent once complete: an unfinished one is
    /// simply never sent.
    fn abandon_transaction(&mut self, _multi: CmdMeta) -> Result<(), Stopped> {
        self.block = None;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        self.serve_inbox()?;
        for m in self.members.iter_mut().filter(|m| m.alive) {
            m.pipe.flush()?;
        }
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.local.errors
            + self
                .members
                .iter()
                .map(|m| m.pipe.shared().errors.load(Ordering::Relaxed))
                .sum::<u64>()
    }

    fn finish(self: Box<Self>, closing: Closing) -> Finished {
        (*self).finish(closing)
    }
}
