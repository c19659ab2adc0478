//! A load fed from code: commands ([`Loader`]) or records rendered by
//! templates ([`RecordLoader`]), connected before the first is sent, run on
//! threads of their own, and finished for the same [`Summary`] the binary
//! prints.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{Config, Handles};
use crate::error::Error;
use crate::input::fed::{self, Closed, Feed};
use crate::input::{CommandSource, Input, Location, SharedReader};
use crate::load::{Destination, Run, Target};
use crate::meter::Meter;
use crate::records::{Format, RecordError, RecordOptions, RecordSource};
use crate::report::{Events, Summary};

/// The thread a load runs on, its handles, and its account when it ends.
struct Running {
    thread: Option<JoinHandle<Result<Summary, Error>>>,
    handles: Handles,
}

impl Running {
    /// Connects as `config` says, then runs the load of `source` on a
    /// thread of its own.
    fn start<S: CommandSource + Send + 'static>(
        config: &Config,
        mut source: S,
        events: Arc<dyn Events>,
    ) -> Result<Self, Error> {
        // Its own handles: its meter counts this load alone.
        let handles = Handles::default();
        let run = Run {
            config,
            handles: &handles,
            to: Destination::Server,
            events,
            started: Instant::now(),
        };
        let names: Arc<[String]> = source.names().into();
        let target = Target::connect(&run, &names)?;
        let (config, events, mine) = (config.clone(), run.events, handles.clone());
        let thread = std::thread::Builder::new()
            .name("rload-load".into())
            .spawn(move || {
                source.watch(mine.interrupt.clone(), mine.meter.clone());
                let run = Run {
                    config: &config,
                    handles: &mine,
                    to: Destination::Server,
                    events,
                    started: run.started,
                };
                run.load_into(&mut source, target)
            })
            .map_err(|e| Error::Config(format!("cannot start the load's thread: {e}")))?;
        Ok(Running {
            thread: Some(thread),
            handles,
        })
    }

    fn finish(&mut self) -> Result<Summary, Error> {
        match self.thread.take().expect("finished once").join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

/// A load of commands sent one by one from code.
pub struct Loader {
    feed: Feed,
    running: Running,
    answered: Answered,
}

/// How [`Loader::flush`] knows that the server has answered every command
/// sent: the load's meter counts replies as they arrive, in input commands
/// (a merged command counts for each it stands for); the commands answered
/// without being sent (skipped as invalid, refused by rload itself in a
/// cluster) are counted from the events, and those passed over to reach
/// the resume point from the meter.
struct Answered {
    meter: Meter,
    unsent: Arc<AtomicU64>,
}

impl Answered {
    fn count(&self) -> u64 {
        self.meter.replies() + self.meter.skipped() + self.unsent.load(Ordering::Acquire)
    }
}

/// The program's events, passed on, and the commands answered without
/// being sent counted on the way.
struct Counting {
    inner: Arc<dyn Events>,
    unsent: Arc<AtomicU64>,
}

/// How rload's own error for a command it did not send ends (a cluster's
/// `CROSSSLOT` or `CLUSTERDOWN` found before sending).
const NOT_SENT: &[u8] = b"(found by rload;";

impl Events for Counting {
    fn error_reply(&self, at: &Location, text: &[u8]) {
        if memchr::memmem::find(text, NOT_SENT).is_some() {
            self.unsent.fetch_add(1, Ordering::Release);
        }
        self.inner.error_reply(at, text);
    }
    fn all_sent(&self) {
        self.inner.all_sent();
    }
    fn last_reply(&self) {
        self.inner.last_reply();
    }
    fn invalid_command(&self, at: &Location, why: &str) {
        self.unsent.fetch_add(1, Ordering::Release);
        self.inner.invalid_command(at, why);
    }
    fn notice(&self, text: &str) {
        self.inner.notice(text);
    }
}

/// How long [`Loader::flush`] sleeps between looks at first, and at most:
/// short enough that a flush of a few commands on a local server returns
/// in well under a millisecond after the last reply, long enough that a
/// long wait costs no CPU to speak of.
const FLUSH_POLL_FIRST: Duration = Duration::from_micros(20);
const FLUSH_POLL_MAX: Duration = Duration::from_millis(2);

impl Loader {
    /// Connects to the server (or cluster) `config` names, and starts a
    /// load that takes the commands [`send`](Loader::send) gives it.
    ///
    /// # Errors
    ///
    /// The server cannot be reached, logged in to, or selected.
    pub fn start(config: &Config, events: Arc<dyn Events>) -> Result<Self, Error> {
        let (feed, source) = fed::channel("<commands>");
        let unsent = Arc::new(AtomicU64::new(0));
        let events = Arc::new(Counting {
            inner: events,
            unsent: Arc::clone(&unsent),
        });
        let running = Running::start(config, source, events)?;
        let answered = Answered {
            meter: running.handles.meter.clone(),
            unsent,
        };
        Ok(Loader {
            feed,
            running,
            answered,
        })
    }

    /// Sends one command: its arguments, the command name first. It waits
    /// while the load is behind.
    ///
    /// # Errors
    ///
    /// [`Closed`]: the load has stopped (a lost connection, `--max-errors`,
    /// an interrupt); [`Loader::finish`] gives its account.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), Closed> {
        self.feed.send(args)
    }

    /// Commands sent so far.
    pub fn sent(&self) -> u64 {
        self.feed.sent()
    }

    /// The load's interrupt, to stop it early (it drains what is in
    /// flight, and its account says so), and its meter.
    pub fn handles(&self) -> &Handles {
        &self.running.handles
    }

    /// Commands the server has answered so far (error replies included),
    /// counted as [`flush`](Loader::flush) counts them.
    pub fn answered(&self) -> u64 {
        self.answered.count()
    }

    /// Hands every command sent so far to the load, and returns once the
    /// server has answered all of them (or rload has, for a command it
    /// skipped or refused), with the number answered. The load goes on:
    /// this is a barrier, not an end. The program's [`Events`] have had
    /// every error reply by then.
    ///
    /// # Errors
    ///
    /// [`Closed`]: the load stopped before the server answered everything
    /// (a lost connection, `--max-errors`, a timeout);
    /// [`Loader::finish`] gives its account.
    pub fn flush(&mut self) -> Result<u64, Closed> {
        self.feed.flush()?;
        let target = self.feed.sent();
        let mut pause = FLUSH_POLL_FIRST;
        loop {
            let answered = self.answered.count();
            if answered >= target {
                return Ok(answered);
            }
            if self.running.ended() {
                return Err(Closed);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(FLUSH_POLL_MAX);
        }
    }

    /// Ends the input, waits for the server to answer everything, and
    /// gives the account.
    ///
    /// # Errors
    ///
    /// A failure before anything was sent.
    pub fn finish(mut self) -> Result<Summary, Error> {
        let _ = self.feed.close();
        self.running.finish()
    }
}

/// Bytes of JSON lines handed to the load per message, and messages in
/// flight: about a megabyte held at most.
const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 16;

/// A load of records, each rendered by templates into commands, exactly as
/// `rload --pipe --format jsonl --template ...` renders them.
pub struct RecordLoader {
    tx: Option<SyncSender<Vec<u8>>>,
    chunk: Vec<u8>,
    sent: u64,
    running: Running,
}

impl RecordLoader {
    /// Connects, and starts a load whose records are rendered by
    /// `templates` (`HSET user:{id} {*}`, `{tags[]}`, `{a.b}`, `{x?}`).
    ///
    /// # Errors
    ///
    /// A template that does not parse; the server cannot be reached.
    pub fn start(
        config: &Config,
        templates: &[String],
        events: Arc<dyn Events>,
    ) -> Result<Self, Error> {
        if templates.is_empty() {
            return Err(Error::Config("records need at least one template".into()));
        }
        let (tx, rx) = mpsc::sync_channel(CHUNKS);
        let input = Input::Stream {
            name: "<records>".into(),
            reader: SharedReader::new(Chunks {
                rx,
                chunk: Vec::new(),
                at: 0,
            }),
        };
        let options = RecordOptions {
            format: Format::Jsonl,
            templates: templates.to_vec(),
            header: true,
            delimiter: None,
            tsv_quotes: false,
        };
        let source = RecordSource::open(&[input], &options).map_err(|e| match e {
            RecordError::Input(e) => Error::Input(e),
            other => Error::Config(other.to_string()),
        })?;
        let running = Running::start(config, source, events)?;
        Ok(RecordLoader {
            tx: Some(tx),
            chunk: Vec::with_capacity(CHUNK),
            sent: 0,
            running,
        })
    }

    /// Sends one record: a JSON object, as text (one line: no raw line
    /// break inside; JSON escapes its own).
    ///
    /// # Errors
    ///
    /// [`Closed`]: the load has stopped; [`RecordLoader::finish`] says why.
    pub fn send_json(&mut self, object: &[u8]) -> Result<(), Closed> {
        self.chunk.extend_from_slice(object);
        self.chunk.push(b'\n');
        self.sent += 1;
        if self.chunk.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Closed> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.tx
            .as_ref()
            .ok_or(Closed)?
            .send(chunk)
            .map_err(|_| Closed)
    }

    /// Records sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The load's interrupt and meter; see [`Loader::handles`].
    pub fn handles(&self) -> &Handles {
        &self.running.handles
    }

    /// Ends the input, waits for the server to answer everything, and
    /// gives the account.
    ///
    /// # Errors
    ///
    /// A failure before anything was sent.
    pub fn finish(mut self) -> Result<Summary, Error> {
        let _ = self.flush();
        self.tx = None;
        self.running.finish()
    }
}

/// The load's side of a [`RecordLoader`]: the chunks it sends, read as one
/// stream of bytes, ending when the loader is done.
struct Chunks {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.chunk, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
