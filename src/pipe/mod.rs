//! One connection's engine: the producer fills chunks, a writer thread sends
//! them, a reader thread scans the replies, and a bounded window of chunks in
//! flight sits between them.
//!
//! ```text
//! producer --Chunk--> writer --Arc<Chunk>--> reader (window)
//!    ^                  |                       |
//!    |                  +----> socket ----------+ replies
//!    +------- retired chunks (the pool) --------+
//! ```
//!
//! The pool holds [`POOL_CHUNKS`] chunks. A producer that gets ahead of the
//! server waits for the reader to retire one, so memory stays bounded however
//! slow the server is, and that wait is where a silent server is timed out.

mod chunk;
mod msg;
mod reader;
mod shared;
mod window;
mod writer;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) use chunk::SentCommand;
pub(crate) use shared::{HandBack, PipeStop, Shared};
pub(crate) use writer::{PipeOutcome, Reconnect};

use chunk::Chunk;
use msg::WriterMsg;
use reader::Reader;
use shared::WAIT_SLICE;
use window::Window;
use writer::Writer;

use crate::command::{CmdMeta, Stopped, Watch};
use crate::config::{Config, ServerConfig};
use crate::conn::Connection;
use crate::input::Command;

/// Chunks in the pool: with [`chunk::CHUNK_BYTES`] each, at most 4 MiB of
/// commands are in flight. That is far more than the server needs to stay
/// busy on a local link, and little enough to keep rload's footprint small.
pub(crate) const POOL_CHUNKS: usize = 16;

/// Settings of one pipe.
#[derive(Clone, Debug)]
pub(crate) struct PipeOptions {
    pub timeout: Option<Duration>,
    pub reconnect: Option<Reconnect>,
}

impl PipeOptions {
    /// The settings `config` asks for, for a pipe to `server`.
    pub(crate) fn new(config: &Config, server: &ServerConfig) -> Self {
        let reconnect = (config.reconnect > 0).then(|| Reconnect {
            server: server.clone(),
            attempts: config.reconnect,
        });
        PipeOptions {
            timeout: config.pipe_timeout,
            reconnect,
        }
    }
}

/// The producer's end of a pipe.
pub(crate) struct Pipe {
    shared: Arc<Shared>,
    to_writer: Sender<WriterMsg>,
    free: Receiver<Arc<Chunk>>,
    chunk: Option<Chunk>,
    allocated: usize,
    done: Receiver<PipeOutcome>,
    timeout: Option<Duration>,
    /// Commands pushed, rload's own included (compare `Shared::resolved`).
    pushed: u64,
}

impl Pipe {
    /// Starts the reader and writer threads on a connected connection.
    pub(crate) fn start(
        conn: Connection,
        shared: Arc<Shared>,
        opts: PipeOptions,
    ) -> std::io::Result<Pipe> {
        let (read, write, closer) = conn.split()?;
        write.set_write_timeout(Some(WAIT_SLICE))?;
        shared.set_closer(closer);
        let (to_writer, writer_rx) = mpsc::channel();
        let (free_tx, free) = mpsc::channel();
        let (to_reader, chunks) = mpsc::channel();
        Reader {
            sock: read,
            window: Window::default(),
            chunks,
            shared: Arc::clone(&shared),
            free: free_tx.clone(),
            notify: to_writer.clone(),
            block_resend: None,
            multi_refused: false,
        }
        .spawn();
        let writer = Writer {
            rx: writer_rx,
            tx: to_writer.clone(),
            sock: write,
            to_reader,
            shared: Arc::clone(&shared),
            free: free_tx,
            timeout: opts.timeout,
            reconnect: opts.reconnect,
            broken: false,
        };
        let (done_tx, done) = mpsc::channel();
        thread::Builder::new()
            .name("rload-writer".into())
            .spawn(move || drop(done_tx.send(writer.run())))?;
        Ok(Pipe {
            shared,
            to_writer,
            free,
            chunk: None,
            allocated: 0,
            done,
            timeout: opts.timeout,
            pushed: 0,
        })
    }

    /// Appends a command, handing the chunk to the writer when it is full.
    pub(crate) fn push(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.chunk()?.push_command(cmd, meta, watch);
        self.pushed += 1;
        self.flush_if_full()
    }

    /// Appends an already encoded command.
    pub(crate) fn push_encoded(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.chunk()?.push_encoded(bytes, meta, watch);
        self.pushed += 1;
        self.flush_if_full()
    }

    /// Appends an encoded command that stands for the input commands
    /// `covered` (none: for `meta` alone).
    pub(crate) fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped> {
        self.chunk()?.push_span(bytes, meta, covered);
        self.pushed += 1;
        self.flush_if_full()
    }

    /// Appends a command sent before (elsewhere), span and all.
    pub(crate) fn push_sent(&mut self, sent: &SentCommand) -> Result<(), Stopped> {
        self.chunk()?.push_sent(sent);
        self.pushed += 1;
        self.flush_if_full()
    }

    /// Appends a command that comes as its own bytes (a huge one, taken out
    /// of the input): they become a chunk of their own, not a copy.
    pub(crate) fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.flush()?;
        let mut chunk = self.take_free()?;
        chunk.push_owned(bytes, meta, watch);
        self.pushed += 1;
        self.to_writer
            .send(WriterMsg::Chunk(chunk))
            .map_err(|_| Stopped)
    }

    /// Commands pushed so far, rload's own included.
    pub(crate) fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Whether every command pushed so far has been answered (or redirected).
    pub(crate) fn settled(&self) -> bool {
        self.shared
            .resolved
            .load(std::sync::atomic::Ordering::Acquire)
            >= self.pushed
    }

    /// Whether the server holds a `WATCH` of the input's, once every
    /// command pushed so far is answered: waits for that (a WATCH in the
    /// input is rare; this is asked only after one).
    pub(crate) fn watching(&mut self) -> Result<bool, Stopped> {
        use std::sync::atomic::Ordering;
        self.flush()?;
        let (mut since, mut progress) = (Instant::now(), 0);
        while !self.settled() {
            let now = self.shared.resolved.load(Ordering::Acquire);
            if now != progress {
                (progress, since) = (now, Instant::now());
            } else if self.shared.check_stall(since, self.timeout) {
                return Err(Stopped);
            }
            thread::sleep(Duration::from_micros(200));
        }
        Ok(self.shared.watching.load(Ordering::Acquire))
    }

    /// The pipe's shared state: counters, address, stop reason.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn flush_if_full(&mut self) -> Result<(), Stopped> {
        if self.chunk.as_ref().is_some_and(Chunk::is_full) {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Hands whatever is buffered to the writer.
    pub(crate) fn flush(&mut self) -> Result<(), Stopped> {
        match self.chunk.take() {
            Some(c) if !c.cmds.is_empty() => self
                .to_writer
                .send(WriterMsg::Chunk(c))
                .map_err(|_| Stopped),
            other => {
                self.chunk = other;
                // Nothing to hand over: a pipe stopped for good (its
                // reconnects, if any, spent) says so, as a push would.
                if self.shared.stopped() {
                    Err(Stopped)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The chunk being filled, taking one from the pool if needed.
    fn chunk(&mut self) -> Result<&mut Chunk, Stopped> {
        if self.chunk.is_none() {
            let c = self.take_free()?;
            self.chunk = Some(c);
        }
        Ok(self.chunk.as_mut().expect("just filled"))
    }

    /// A chunk from the pool: a retired one, a new one while the pool is not
    /// full, or else the next one the reader retires.
    fn take_free(&mut self) -> Result<Chunk, Stopped> {
        if let Ok(c) = self.free.try_recv() {
            return Ok(recycle(c));
        }
        if self.allocated < POOL_CHUNKS || self.shared.orphaned() {
            self.allocated += 1;
            return Ok(Chunk::new());
        }
        let since = Instant::now();
        loop {
            match self.free.recv_timeout(WAIT_SLICE) {
                Ok(c) => return Ok(recycle(c)),
                Err(RecvTimeoutError::Disconnected) => return Err(Stopped),
                Err(RecvTimeoutError::Timeout) if self.shared.orphaned() => {
                    self.allocated += 1;
                    return Ok(Chunk::new());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.shared.check_stall(since, self.timeout) {
                        return Err(Stopped);
                    }
                }
            }
        }
    }

    /// Takes back, in order, every command an orphaned pipe holds that its
    /// server did not acknowledge, buffered ones included; `None` if a
    /// transaction too large to keep was among them.
    pub(crate) fn take_back(&mut self) -> Option<Vec<SentCommand>> {
        let _ = self.flush();
        let (reply, back) = mpsc::channel();
        self.to_writer.send(WriterMsg::HandBack(reply)).ok()?;
        back.recv().ok()?
    }

    /// Sends the closing ECHO (unless the pipe already stopped) and waits for
    /// the pipe to end, timing out a silent server.
    pub(crate) fn finish(mut self, send_sentinel: bool, on_sent: impl FnOnce()) -> PipeOutcome {
        if send_sentinel && self.close() {
            on_sent();
        }
        self.wait()
    }

    /// Sends the closing ECHO; false if the pipe has stopped. What is
    /// buffered goes to the writer either way, to be sent or accounted for.
    pub(crate) fn close(&mut self) -> bool {
        let pushed = self.push_sentinel().is_ok();
        self.flush().is_ok() && pushed
    }

    /// Waits for the pipe to end, timing out a silent server.
    pub(crate) fn wait(mut self) -> PipeOutcome {
        let _ = self.flush();
        let _ = self.to_writer.send(WriterMsg::Finish);
        let since = Instant::now();
        loop {
            match self.done.recv_timeout(WAIT_SLICE) {
                Ok(outcome) => return outcome,
                Err(RecvTimeoutError::Timeout) => {
                    self.shared.check_stall(since, self.timeout);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the writer thread died without an outcome")
                }
            }
        }
    }

    fn push_sentinel(&mut self) -> Result<(), Stopped> {
        let mut echo = Vec::with_capacity(40);
        crate::resp::encode_command(&mut echo, &[&b"ECHO"[..], &self.shared.sentinel[..]][..]);
        self.push_encoded(&echo, CmdMeta::own(None), Some(Watch::Sentinel))
    }
}

/// Readies a retired chunk for reuse; if the writer still holds it (a reply
/// can outrun the end of its write), a fresh chunk takes its place.
fn recycle(c: Arc<Chunk>) -> Chunk {
    match Arc::try_unwrap(c) {
        Ok(mut c) => {
            c.reset();
            c
        }
        Err(_) => Chunk::new(),
    }
}
