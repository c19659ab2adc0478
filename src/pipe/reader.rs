//! The reader thread: reads replies, scans them in batches, and moves the
//! window on. It owns the window; when it stops it hands the window back to
//! the writer, which may replay it on a new connection.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::thread;
use std::time::Duration;

use std::sync::atomic::Ordering;

use super::chunk::{Chunk, SentCommand};
use super::msg::{ReaderEnd, ReaderExit, WriterMsg};
use super::shared::{PipeStop, Shared};
use super::window::Window;
use crate::command::{CmdMeta, Watch};
use crate::conn::ReadHalf;
use crate::resp::{Batch, ReplyScanner};

/// Bytes read from the socket at a time. Replies are small next to their
/// commands (`+OK\r\n` answers a 30-byte SET), so this holds tens of
/// thousands of replies, and it is larger than the longest reply line the
/// scanner accepts, so a line always fits.
const READ_BUF: usize = 128 * 1024;

/// The most reply bytes the kernel gathers before waking the reader
/// (see [`ReadHalf::set_low_water`]): about 6,500 `+OK` replies, so a load
/// of a million commands wakes the reader a few hundred times, not a few
/// thousand.
const LOW_WATER_MAX: usize = 32 * 1024;

/// The longest replies that have arrived wait while the reader waits for
/// more: a server answering slowly is still read, and timed, promptly.
const LOW_WATER_POLL: Duration = Duration::from_millis(20);

pub(crate) struct Reader {
    pub sock: ReadHalf,
    pub window: Window,
    pub chunks: Receiver<Arc<Chunk>>,
    pub shared: Arc<Shared>,
    /// Where retired chunks go back to the producer's pool.
    pub free: Sender<Arc<Chunk>>,
    pub notify: Sender<WriterMsg>,
    /// A command of the open transaction was answered with a reply asking
    /// for a resend (this one), so the transaction goes again, whole, once
    /// its EXEC is answered.
    pub block_resend: Option<Vec<u8>>,
    /// The server refused rload's own MULTI, and the user was told.
    pub multi_refused: bool,
}

impl Reader {
    pub(crate) fn spawn(self) {
        thread::Builder::new()
            .name("rload-reader".into())
            .spawn(move || self.run())
            .expect("spawning the reader thread");
    }

    fn run(mut self) {
        let mut scanner = ReplyScanner::new();
        let end = self.read_replies(&mut scanner);
        if end.is_some() {
            // Wake a writer blocked on the socket.
            self.shared.close_connection();
        }
        let exit = ReaderExit {
            window: self.window,
            chunks: self.chunks,
            end,
        };
        let _ = self.notify.send(WriterMsg::ReaderExit(Box::new(exit)));
    }

    fn read_replies(&mut self, scanner: &mut ReplyScanner) -> ReaderEnd {
        let mut buf = vec![0u8; READ_BUF];
        let (mut start, mut end) = (0, 0);
        // The low-water mark set on the socket; `None` once it cannot be.
        let mut low_water = Some(1);
        loop {
            match self.scan(scanner, &buf[start..end]) {
                Ok(used) => start += used,
                Err(stop) => return stop,
            }
            if start == end {
                (start, end) = (0, 0);
            } else if end == buf.len() {
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            }
            if let Some(current) = low_water {
                let want = self.low_water(!scanner.at_boundary() || start < end);
                if want != current {
                    low_water = match self.sock.set_low_water(want, LOW_WATER_POLL) {
                        Ok(true) => Some(want),
                        Ok(false) | Err(_) => None,
                    };
                }
            }
            match self.sock.read(&mut buf[end..]) {
                Ok(0) if scanner.at_boundary() => {
                    return Some(PipeStop::Lost("the server closed the connection".into()));
                }
                Ok(0) => {
                    return Some(PipeStop::Lost(
                        "the server closed the connection in the middle of a reply".into(),
                    ));
                }
                Ok(n) => end += n,
                // Interrupted, or the low-water poll passed with nothing read.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Some(PipeStop::Lost(e.to_string())),
            }
        }
    }

    /// The reply bytes to wait for before waking: half of those certain to
    /// come, so the reader wakes while the server still has work queued.
    /// Every awaited reply is at least 3 bytes (`+\r\n`); one already begun
    /// (`mid_reply`) may need only 1 more.
    fn low_water(&mut self, mid_reply: bool) -> usize {
        while let Ok(chunk) = self.chunks.try_recv() {
            self.window.push(chunk);
        }
        let certain = 3 * self.window.awaiting() as usize;
        let certain = if mid_reply {
            certain.saturating_sub(2)
        } else {
            certain
        };
        (certain / 2).clamp(1, LOW_WATER_MAX)
    }

    /// Scans buffered replies; returns the bytes used.
    fn scan(&mut self, scanner: &mut ReplyScanner, data: &[u8]) -> Result<usize, ReaderEnd> {
        let mut pos = 0;
        while pos < data.len() {
            let mut budget = self.window.budget();
            if budget == 0 {
                while let Ok(chunk) = self.chunks.try_recv() {
                    self.window.push(chunk);
                }
                budget = self.window.budget();
            }
            // With nothing awaiting a reply, only a push may arrive; a budget
            // of one lets the scanner read it, and a real reply is an error.
            let batch = scanner.scan(&data[pos..], budget.max(1));
            pos += batch.consumed;
            if batch.replies > 0 {
                if budget == 0 {
                    return Err(self.protocol("the server sent a reply to no command".into()));
                }
                self.on_replies(scanner, &batch)?;
            }
            // The replies before a protocol error are accounted for above.
            if let Some(e) = batch.error {
                return Err(self.protocol(e.to_string()));
            }
            if batch.replies == 0 && batch.consumed == 0 {
                break;
            }
        }
        Ok(pos)
    }

    fn on_replies(&mut self, scanner: &ReplyScanner, batch: &Batch) -> Result<(), ReaderEnd> {
        let last_type = match batch.last_type {
            // A null array (an EXEC that did not run) is a null.
            Some(b'*') if scanner.last_text() == b"-1" => b'_',
            Some(t) => t,
            None => unreachable!("a batch with replies has a last type"),
        };
        let error = batch.ended_in_error();
        self.shared.note_reply();
        if error && scanner.last_text().starts_with(b"ERR Protocol error") {
            return Err(self.refused_as_protocol_error(scanner, batch));
        }
        let handed_back = self.shared.link.is_some()
            && self.hand_back(scanner.last_text(), batch, last_type, error);
        let result = if handed_back {
            Ok(())
        } else {
            let acked = self.window.ack(batch.replies, last_type, false);
            // Reported before they are counted: a program that waits for
            // the count has had the events.
            if acked.errors > 0 {
                self.report_error(&acked.meta, scanner.last_text());
            }
            if self.window.in_own_transaction() {
                self.shared.add_held_counts(acked.replies, acked.errors);
            } else {
                self.shared.add_counts(acked.replies, acked.errors);
            }
            if acked.watch.is_some() {
                self.shared
                    .watching
                    .store(self.window.watching, Ordering::Release);
            }
            match acked.watch {
                Some(Watch::AtomicExec) => self.settle_atomic(scanner, last_type),
                Some(Watch::Atomic) if error && !self.multi_refused => {
                    self.multi_refused = true;
                    self.shared.events.notice(&format!(
                        "{} refused rload's MULTI ({}): merged commands meant to apply together run one by one, so a resume point among them may send some again",
                        self.shared.addr,
                        String::from_utf8_lossy(scanner.last_text())
                    ));
                }
                _ => {}
            }
            if acked.watch == Some(Watch::Sentinel) {
                self.check_sentinel(last_type, scanner.last_text())?;
                Err(None)
            } else {
                Ok(())
            }
        };
        // After any hand-back is on its way, so the router never sees a
        // command resolved before it is handed back.
        self.shared
            .resolved
            .fetch_add(batch.replies, Ordering::Release);
        self.window.retire(|c| drop(self.free.send(c)));
        result
    }

    /// Counts and reports the commands of rload's own transaction that
    /// failed, from the reply to its `EXEC`.
    fn settle_atomic(&mut self, scanner: &ReplyScanner, last_type: u8) {
        let (errors, reports) =
            self.window
                .settle_atomic(last_type, scanner.last_text(), scanner.element_errors());
        for (covered, text) in reports {
            for m in &covered {
                self.shared
                    .events
                    .error_reply(&self.shared.location(m), &text);
            }
        }
        self.shared.add_counts(0, errors);
        self.shared.release_held();
    }

    /// Reports an error reply on the input line of each command `meta`
    /// stands for.
    fn report_error(&self, meta: &CmdMeta, text: &[u8]) {
        let events = &self.shared.events;
        match self.window.last_acked_covered() {
            [] => events.error_reply(&self.shared.location(meta), text),
            covered => {
                for m in covered {
                    events.error_reply(&self.shared.location(m), text);
                }
            }
        }
    }

    /// The server answered the last command of `batch` with a protocol
    /// error, which it sends just before it closes the connection: that
    /// command was not run. The replies before it are accounted for; the
    /// pipe stops, and the account leaves that command unacknowledged.
    fn refused_as_protocol_error(&mut self, scanner: &ReplyScanner, batch: &Batch) -> ReaderEnd {
        let before = batch.replies - 1;
        if before > 0 {
            // Not the watched command (a batch ends at that), so its reply
            // type does not matter.
            let acked = self.window.ack(before, b'+', false);
            self.shared.add_counts(acked.replies, 0);
            self.shared.resolved.fetch_add(before, Ordering::Release);
        }
        let what = match self.window.next_awaiting() {
            Some(meta) => format!("command {} at {}", meta.seq, self.shared.location(&meta)),
            None => "a command".to_string(),
        };
        self.protocol(format!(
            "the server refused {what} and closed the connection: {}",
            String::from_utf8_lossy(scanner.last_text())
        ))
    }

    /// Hands a command whose reply asks for a resend (a cluster redirect)
    /// back to be sent elsewhere, or a whole transaction one of whose
    /// commands got such a reply. True when that took care of the batch.
    fn hand_back(&mut self, reply: &[u8], batch: &Batch, last_type: u8, error: bool) -> bool {
        let Some(link) = &self.shared.link else {
            return false;
        };
        let resend = error && link.to.wants_resend(reply);
        if !self.window.in_transaction() {
            if !resend {
                return false;
            }
            let acked = self.window.ack(batch.replies, last_type, true);
            self.shared.add_counts(acked.replies, 0);
            let cmd = self.window.last_acked();
            self.send_back(reply, vec![cmd]);
            return true;
        }
        // Inside a transaction the server aborts the whole of it at EXEC, so
        // the whole of it goes again: note the reply, uncounted, and wait.
        if resend {
            self.block_resend.get_or_insert_with(|| reply.to_vec());
            let acked = self.window.ack(batch.replies, last_type, true);
            self.shared.add_counts(acked.replies, 0);
            return true;
        }
        if self.block_resend.is_none()
            || !self
                .window
                .peek_watch(batch.replies)
                .is_some_and(|w| w.ends_block())
        {
            return false;
        }
        let reply = self.block_resend.take().expect("checked");
        match self.window.take_block(batch.replies) {
            Some((cmds, counted)) => {
                self.shared.sub_counts(counted.replies, counted.errors);
                self.send_back(&reply, cmds);
                true
            }
            None => {
                self.shared.events.notice(&format!(
                    "{}: a transaction's slot moved, but the transaction is too large to send again; the server's errors stand",
                    self.shared.addr
                ));
                false
            }
        }
    }

    fn send_back(&self, reply: &[u8], cmds: Vec<SentCommand>) {
        if let Some(link) = &self.shared.link {
            self.shared.handed_back.fetch_add(1, Ordering::Relaxed);
            link.to.resend(link.index, reply, cmds);
        }
    }

    /// Checks the reply to the closing ECHO. Replies are matched to commands
    /// by count, so the echoed random bytes are a check that the count is
    /// right. A user whose ACL forbids ECHO (or a server that renamed it) gets
    /// an error naming ECHO instead, which still marks the end.
    fn check_sentinel(&self, last_type: u8, text: &[u8]) -> Result<(), ReaderEnd> {
        if last_type == b'$' && text == self.shared.sentinel {
            return Ok(());
        }
        let refused = matches!(last_type, b'-' | b'!')
            && text.to_ascii_lowercase().windows(4).any(|w| w == b"echo");
        if refused {
            self.shared.events.notice(&format!(
                "{} refused rload's closing ECHO ({}); replies were matched to commands by count alone",
                self.shared.addr,
                String::from_utf8_lossy(text)
            ));
            return Ok(());
        }
        Err(self.protocol(
            "the reply to rload's closing ECHO is wrong, so replies and commands are out of step"
                .into(),
        ))
    }

    fn protocol(&self, why: String) -> ReaderEnd {
        self.shared.stop(PipeStop::Protocol(why.clone()));
        Some(PipeStop::Protocol(why))
    }
}
