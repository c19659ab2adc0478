//! Commands fed from code: a load's source that an embedding program
//! pushes commands into (argument lists), in batches through a bounded
//! channel. A producer faster than the server waits on the channel, so
//! memory stays flat (back-pressure). A command's position is its index:
//! line N is the N-th command fed, so an error names the command, not a
//! place in a file.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use super::args::{Args, Span};
use super::{Command, CommandSource, InputError, InvalidKind, Location, Next, Position};
use crate::interrupt::Interrupt;
use crate::meter::Meter;

/// Commands per batch, and bytes: a batch goes through the channel when
/// either is reached, so a channel message carries enough to be worth the
/// hand-over, and little enough that [`CHANNEL`] batches bound memory.
const BATCH_COMMANDS: usize = 1024;
const BATCH_BYTES: usize = 256 * 1024;

/// Batches in flight between the producer and the load: with
/// [`BATCH_BYTES`], about a megabyte held at most.
const CHANNEL: usize = 4;

/// How often a load waiting for commands looks at its interrupt and its
/// connections.
const POLL: Duration = Duration::from_millis(100);

/// Commands, laid out as one buffer of bytes and the spans of each
/// command's arguments.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    spans: Vec<Span>,
    /// Each command's end in `spans`.
    ends: Vec<usize>,
}

impl Batch {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        for a in args {
            let start = self.data.len();
            self.data.extend_from_slice(a.as_ref());
            self.spans.push(Span::scratch(start, self.data.len()));
        }
        self.ends.push(self.spans.len());
    }

    fn full(&self) -> bool {
        self.len() >= BATCH_COMMANDS || self.data.len() >= BATCH_BYTES
    }
}

/// The producer's end: where an embedding program sends commands.
pub struct Feed {
    tx: Option<SyncSender<Batch>>,
    batch: Batch,
    sent: u64,
}

/// The load behind a [`Feed`] has stopped (its account says why): nothing
/// more can be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the load has stopped: finish it for its account")]
pub struct Closed;

impl Feed {
    /// Sends one command: its arguments, the command name first. It may
    /// wait while the load is behind.
    ///
    /// # Errors
    ///
    /// [`Closed`]: the load has stopped.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), Closed> {
        self.batch.push(args);
        self.sent += 1;
        if self.batch.full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands what is batched to the load now.
    ///
    /// # Errors
    ///
    /// [`Closed`]: the load has stopped.
    pub fn flush(&mut self) -> Result<(), Closed> {
        if self.batch.len() == 0 {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let tx = self.tx.as_ref().ok_or(Closed)?;
        tx.send(batch).map_err(|_| Closed)
    }

    /// Commands sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Hands on what is batched and ends the input: the load finishes once
    /// the server has answered everything.
    ///
    /// # Errors
    ///
    /// [`Closed`]: the load had stopped before the last batch.
    pub fn close(&mut self) -> Result<(), Closed> {
        let flushed = self.flush();
        self.tx = None;
        flushed
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The load's end: a [`CommandSource`] of the commands fed.
pub struct FedSource {
    rx: Receiver<Batch>,
    batch: Batch,
    /// The next command of `batch` to lend.
    next: usize,
    /// Commands lent so far, over all batches.
    seq: u64,
    ended: bool,
    names: Vec<String>,
    max_bulk: u64,
    interrupt: Option<Interrupt>,
}

/// A feed and the source it fills; `name` is what messages call the
/// commands (`<commands>:42` is the 42nd).
pub fn channel(name: &str) -> (Feed, FedSource) {
    let (tx, rx) = mpsc::sync_channel(CHANNEL);
    let feed = Feed {
        tx: Some(tx),
        batch: Batch::default(),
        sent: 0,
    };
    let source = FedSource {
        rx,
        batch: Batch::default(),
        next: 0,
        seq: 0,
        ended: false,
        names: vec![name.to_string()],
        max_bulk: crate::resp::MAX_BULK_LEN,
        interrupt: None,
    };
    (feed, source)
}

impl FedSource {
    fn invalid(&self, pos: Position, kind: InvalidKind) -> InputError {
        InputError::Invalid {
            at: Location::new(&self.names, pos),
            kind,
        }
    }

    /// Why the command that ends at `end` in `spans` cannot be sent, if it
    /// cannot.
    fn refusal(&self, start: usize, end: usize) -> Option<InvalidKind> {
        if start == end {
            return Some(InvalidKind::Refused("a command needs a name".into()));
        }
        let spans = &self.batch.spans[start..end];
        let args = Args::new(&[], &self.batch.data, spans);
        (0..args.len())
            .find(|&i| args.len_of(i) as u64 > self.max_bulk)
            .map(|i| InvalidKind::ArgTooLong {
                index: i + 1,
                len: args.len_of(i) as u64,
                max: self.max_bulk,
            })
    }
}

impl CommandSource for FedSource {
    fn next_buffered(&mut self) -> Result<Next<'_>, InputError> {
        if self.next == self.batch.len() {
            return Ok(if self.ended {
                Next::End
            } else {
                Next::NeedInput
            });
        }
        let i = self.next;
        self.next += 1;
        self.seq += 1;
        let start = if i == 0 { 0 } else { self.batch.ends[i - 1] };
        let end = self.batch.ends[i];
        let pos = Position {
            source: 0,
            line: self.seq,
            offset: self.seq - 1,
        };
        if let Some(kind) = self.refusal(start, end) {
            return Err(self.invalid(pos, kind));
        }
        Ok(Next::Command(Command {
            pos,
            args: Args::new(&[], &self.batch.data, &self.batch.spans[start..end]),
            resp: None,
            takeable: false,
        }))
    }

    fn read_more(&mut self) -> Result<(), InputError> {
        match self.rx.recv_timeout(POLL) {
            Ok(batch) => (self.batch, self.next) = (batch, 0),
            Err(RecvTimeoutError::Disconnected) => self.ended = true,
            // Back to the load with nothing new, so that it looks at its
            // connections while the program sends nothing: one lost then
            // ends the load now, not at the next command (a program
            // waiting on the replies, as `Loader::flush` does, would wait
            // forever).
            Err(RecvTimeoutError::Timeout) => {
                if self
                    .interrupt
                    .as_ref()
                    .is_some_and(|i| i.requested().is_some())
                {
                    self.ended = true;
                }
            }
        }
        Ok(())
    }

    fn take_last(&mut self) -> Vec<u8> {
        unreachable!("fed commands are never takeable")
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn set_max_bulk(&mut self, max: u64) {
        self.max_bulk = max;
    }

    fn watch(&mut self, interrupt: Interrupt, _meter: Meter) {
        self.interrupt = Some(interrupt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command's line and arguments, or the error in its place.
    type Drained = Result<(u64, Vec<Vec<u8>>), String>;

    fn drain(source: &mut FedSource) -> Vec<Drained> {
        let mut out = Vec::new();
        loop {
            match source.next_buffered() {
                Ok(Next::Command(c)) => out.push(Ok((
                    c.pos.line,
                    c.args.iter().map(<[u8]>::to_vec).collect(),
                ))),
                Ok(Next::NeedInput) => source.read_more().unwrap(),
                Ok(Next::End) => return out,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
    }

    #[test]
    fn commands_come_out_in_order_numbered_by_their_index() {
        let (mut feed, mut source) = channel("<commands>");
        let producer = std::thread::spawn(move || {
            for i in 0..5000u32 {
                feed.send(&[b"SET".to_vec(), format!("k{i}").into_bytes(), vec![0u8; 3]])
                    .unwrap();
            }
            feed.send::<&[u8]>(&[]).unwrap();
        });
        let got = drain(&mut source);
        producer.join().unwrap();
        assert_eq!(got.len(), 5001);
        for (i, c) in got[..5000].iter().enumerate() {
            let (line, args) = c.as_ref().unwrap();
            assert_eq!(*line, i as u64 + 1);
            assert_eq!(args[1], format!("k{i}").into_bytes());
            assert_eq!(args[2], [0, 0, 0]);
        }
        let empty = got[5000].as_ref().unwrap_err();
        assert!(empty.starts_with("<commands>:5001:"), "{empty}");
    }

    #[test]
    fn a_stopped_load_closes_the_feed() {
        let (mut feed, source) = channel("<commands>");
        drop(source);
        feed.send(&[b"PING"]).unwrap();
        assert_eq!(feed.flush(), Err(Closed));
    }
}
