//! Transactions in a cluster: a `MULTI` ... `EXEC` block is collected
//! whole, then sent as one unit to the master of its keys' slot; a block
//! whose keys span slots is one error, at its `MULTI`, and is not sent.

use super::{Payload, Route, Router};
use crate::command::{Stopped, Watch};
use crate::input::Args;
use crate::pipe::SentCommand;

/// A transaction being collected, to travel as one unit.
#[derive(Default)]
pub(super) struct Block {
    pub cmds: Vec<SentCommand>,
    slot: Option<u16>,
    cross: bool,
    everywhere: bool,
}

impl Router {
    /// Adds a command (its arguments `args`) to the open transaction; sends
    /// the transaction when the command ends it.
    pub(super) fn add_to_block(
        &mut self,
        args: &Args<'_>,
        cmd: SentCommand,
    ) -> Result<(), Stopped> {
        let route = self.route(args);
        let ends = cmd.watch.is_some_and(Watch::ends_block);
        let block = self.block.get_or_insert_with(Block::default);
        block.cmds.push(cmd);
        match route {
            Route::Slot(s) if block.slot.is_some_and(|b| b != s) => block.cross = true,
            Route::Slot(s) => block.slot = Some(s),
            Route::CrossSlot => block.cross = true,
            Route::Everywhere => block.everywhere = true,
            Route::Anywhere => {}
        }
        if ends {
            let block = self.block.take().expect("just added to");
            return self.send_block(block);
        }
        Ok(())
    }

    fn send_block(&mut self, block: Block) -> Result<(), Stopped> {
        let first = block.cmds[0].meta;
        if block.cross || (block.everywhere && block.slot.is_some()) {
            let why = "CROSSSLOT the keys of this MULTI block hash to different slots (found by rload; the block was not sent)";
            self.local_error(first, why);
            return Ok(());
        }
        let member = match block.slot {
            Some(s) => match self.member_for(s)? {
                Some(m) => m,
                None => {
                    self.local_error(first, &format!("CLUSTERDOWN hash slot {s} is not served by any master (found by rload; the block was not sent)"));
                    return Ok(());
                }
            },
            None => self.any_member(),
        };
        let targets: Vec<u16> = if block.everywhere {
            self.alive().collect()
        } else {
            vec![member]
        };
        for m in targets {
            for cmd in &block.cmds {
                self.send(m, Payload::Sent(cmd))?;
            }
        }
        if let Some(s) = block.slot {
            self.last[usize::from(s)] = (member, self.members[usize::from(member)].pipe.pushed());
        }
        Ok(())
    }
}
