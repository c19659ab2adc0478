//! The writer thread: sends each chunk to the reader's window, then writes it
//! to the socket. It owns the connection's life: when the reader stops, the
//! writer either ends the pipe with an exact account or, with reconnects
//! allowed, opens a new connection and replays what was not committed.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use super::chunk::Chunk;
use super::msg::{ReaderExit, WriterMsg};
use super::reader::Reader;
use super::shared::{PipeStop, Shared, WAIT_SLICE};
use super::window::{Commit, Window};
use crate::command::CmdMeta;
use crate::config::ServerConfig;
use crate::conn::{self, Closer, Connection, ReadHalf, WriteHalf};
use crate::report::count;

/// How a pipe ended: why (if early), and exactly what the server committed.
#[derive(Clone, Debug)]
pub(crate) struct PipeOutcome {
    pub stop: Option<PipeStop>,
    pub commit: Commit,
    /// The oldest command sent but not committed.
    pub first_pending: Option<CmdMeta>,
    pub replies: u64,
    pub errors: u64,
    /// The last input `MULTI` the server refused, which opened nothing.
    pub refused_multi: Option<u64>,
}

/// Reconnect settings for a pipe.
#[derive(Clone, Debug)]
pub(crate) struct Reconnect {
    pub server: ServerConfig,
    pub attempts: u32,
}

pub(crate) struct Writer {
    pub rx: Receiver<WriterMsg>,
    /// For readers to report back on.
    pub tx: Sender<WriterMsg>,
    pub sock: WriteHalf,
    pub to_reader: Sender<Arc<Chunk>>,
    pub shared: Arc<Shared>,
    pub free: Sender<Arc<Chunk>>,
    pub timeout: Option<Duration>,
    pub reconnect: Option<Reconnect>,
    /// The socket failed: chunks still go to the window, but not the wire.
    pub broken: bool,
}

impl Writer {
    /// Sends chunks until the producer says it is done ([`WriterMsg::Finish`])
    /// and the reader has stopped, then gives the account. Once the
    /// connection is gone for good, chunks still arriving are only added to
    /// the window, so the account covers every command the producer pushed.
    pub(crate) fn run(mut self) -> PipeOutcome {
        let mut ended: Option<(ReaderExit, Option<PipeStop>)> = None;
        let mut finishing = false;
        loop {
            if finishing && let Some((exit, stop)) = ended.take() {
                return self.outcome(exit.window, stop);
            }
            let Ok(msg) = self.rx.recv() else {
                unreachable!("the writer holds a sender of its own channel");
            };
            match msg {
                WriterMsg::Chunk(chunk) => match &mut ended {
                    Some((exit, _)) => exit.window.push(Arc::new(chunk)),
                    None => self.send(Arc::new(chunk)),
                },
                WriterMsg::Finish => finishing = true,
                WriterMsg::HandBack(reply) => {
                    let cmds = ended.as_mut().and_then(|(exit, _)| {
                        let (cmds, undone) = exit.window.hand_back()?;
                        self.shared.sub_counts(undone.replies, undone.errors);
                        Some(cmds)
                    });
                    let _ = reply.send(cmds);
                }
                WriterMsg::ReaderExit(exit) => ended = self.reader_ended(*exit),
            }
        }
    }

    /// The reader stopped: `None` if a new connection carries on, else the
    /// window (holding every chunk sent) and why the pipe stopped, if early.
    fn reader_ended(&mut self, mut exit: ReaderExit) -> Option<(ReaderExit, Option<PipeStop>)> {
        // A stop decided elsewhere (a timeout) is the reason the reader saw
        // the connection close.
        let stop = exit
            .end
            .clone()
            .map(|end| self.shared.take_stop().unwrap_or(end));
        if let Some(PipeStop::Lost(reason)) = &stop
            && self.reconnect.is_some()
            && let Some(link) = &self.shared.link
            && link.to.lost(link.index, reason)
        {
            // Whoever it is linked to (a cluster's router) takes back what
            // this pipe holds, to send it elsewhere.
            self.shared.orphan();
            while let Ok(c) = exit.chunks.try_recv() {
                exit.window.push(c);
            }
            return Some((exit, None));
        }
        if let Some(stop) = &stop {
            if self.try_reconnect(stop, &mut exit) {
                return None;
            }
            // A producer waiting for room in the pool gives up.
            self.shared.stop(stop.clone());
        }
        while let Ok(c) = exit.chunks.try_recv() {
            exit.window.push(c);
        }
        Some((exit, stop))
    }

    fn send(&mut self, chunk: Arc<Chunk>) {
        // The reader must know of a command before its reply can arrive.
        let _ = self.to_reader.send(Arc::clone(&chunk));
        if !self.broken && self.write_all(&chunk.bytes).is_err() {
            self.broken = true;
            self.shared.close_connection();
        }
    }

    /// Writes all of `buf`, giving up when the pipe stops or the server has
    /// neither read nor replied for the pipe timeout.
    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let mut since = Instant::now();
        while !buf.is_empty() {
            match self.sock.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    buf = &buf[n..];
                    since = Instant::now();
                }
                Err(e) => self.retry_or_fail(e, since)?,
            }
        }
        // Under TLS, encrypted records may still be queued.
        loop {
            match self.sock.flush() {
                Ok(()) => return Ok(()),
                Err(e) => self.retry_or_fail(e, since)?,
            }
        }
    }

    /// After a failed write: `Ok` to try again (the write timed out, but the
    /// pipe is neither stopped nor stalled past the pipe timeout), or the
    /// error to give up with.
    fn retry_or_fail(&self, e: io::Error, since: Instant) -> io::Result<()> {
        match e.kind() {
            io::ErrorKind::Interrupted => Ok(()),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                if !self.shared.check_stall(since, self.timeout) =>
            {
                Ok(())
            }
            _ => Err(e),
        }
    }

    fn outcome(&self, window: Window, stop: Option<PipeStop>) -> PipeOutcome {
        let (replies, errors) = self.shared.counts();
        PipeOutcome {
            // A stop that came after the reader's (a timeout while the
            // producer waited) still counts.
            stop: stop.or_else(|| self.shared.take_stop()),
            first_pending: window.first_pending(),
            commit: window.commit,
            replies,
            errors,
            refused_multi: window.refused_multi,
        }
    }

    /// Reconnects and replays everything past the commit point, if allowed;
    /// false leaves `exit` as it was, for the account.
    fn try_reconnect(&mut self, stop: &PipeStop, exit: &mut ReaderExit) -> bool {
        let Some(mut rc) = self.reconnect.clone() else {
            return false;
        };
        if !matches!(stop, PipeStop::Lost(_)) || rc.attempts == 0 {
            return false;
        }
        while let Ok(c) = exit.chunks.try_recv() {
            exit.window.push(c);
        }
        if let Some(db) = exit.window.commit.db {
            rc.server.db = db;
        }
        self.shared.set_reconnecting(true);
        let conn = self.connect_with_backoff(&mut rc, stop);
        self.shared.set_reconnecting(false);
        let Some(conn) = conn else {
            return false;
        };
        let halves = match conn
            .split()
            .and_then(|h| h.1.set_write_timeout(Some(WAIT_SLICE)).map(|()| h))
        {
            Ok(h) => h,
            Err(e) => {
                self.shared.events.notice(&format!(
                    "reconnected to {} but could not restart: {e}",
                    self.shared.addr
                ));
                return false;
            }
        };
        let Some((resend, undone)) = exit.window.rewind() else {
            self.shared.events.notice(&format!(
                "cannot replay at {}: the connection was lost inside a transaction too large to keep",
                self.shared.addr
            ));
            return false;
        };
        self.shared.sub_counts(undone.replies, undone.errors);
        let commands: usize = resend
            .iter()
            .map(|(c, from)| c.ends.iter().filter(|&&end| end as usize > *from).count())
            .sum();
        self.restart(halves, std::mem::take(&mut exit.window));
        self.reconnect = Some(rc);
        self.shared.events.notice(&format!(
            "reconnected to {}; re-sending {} the server had not acknowledged",
            self.shared.addr,
            count(commands as u64, "command")
        ));
        for (chunk, from) in resend {
            if self.write_all(&chunk.bytes[from..]).is_err() {
                self.broken = true;
                self.shared.close_connection();
                break;
            }
        }
        true
    }

    /// Tries to connect again, waiting 100 ms, then twice as long after
    /// each failure, up to 5 s, for at most `rc.attempts` attempts in all.
    fn connect_with_backoff(&self, rc: &mut Reconnect, stop: &PipeStop) -> Option<Connection> {
        let why = match stop {
            PipeStop::Lost(r) => r.as_str(),
            _ => "",
        };
        let events = &self.shared.events;
        events.notice(&format!(
            "connection to {} lost ({why}); reconnecting, at most {} more",
            self.shared.addr,
            count(u64::from(rc.attempts), "time")
        ));
        let mut delay = Duration::from_millis(100);
        while rc.attempts > 0 && self.shared.interrupt.requested().is_none() {
            rc.attempts -= 1;
            thread::sleep(delay);
            match conn::connect(&rc.server) {
                Ok(c) => return Some(c),
                Err(e) => events.notice(&format!(
                    "reconnect failed: {}; {} left",
                    crate::error::chain(&e),
                    count(u64::from(rc.attempts), "attempt")
                )),
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        None
    }

    /// Puts a new connection and a new reader under the window.
    fn restart(&mut self, (read, write, closer): (ReadHalf, WriteHalf, Closer), window: Window) {
        self.shared.set_closer(closer);
        let (to_reader, chunks) = mpsc::channel();
        Reader {
            sock: read,
            window,
            chunks,
            shared: Arc::clone(&self.shared),
            free: self.free.clone(),
            notify: self.tx.clone(),
            block_resend: None,
            multi_refused: false,
        }
        .spawn();
        self.sock = write;
        self.to_reader = to_reader;
        self.broken = false;
    }
}
