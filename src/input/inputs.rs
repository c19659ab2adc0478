//! Where the input's bytes come from: a list of inputs (files, standard
//! input, bytes in memory), read in order. Each is checked before the load
//! starts, opened when it is reached, and closed once read, so a load of
//! thousands of files holds one open at a time. A read that waits on a
//! producer (a pipe, a terminal) gives up when the load is asked to stop.
//!
//! Compressed input, gzip or zstd, is recognised by its first bytes (its
//! magic number), whatever its name, standard input included, and read
//! decompressed.
//!
//! This is only bytes: how they become commands is a
//! [`CommandSource`](super::CommandSource)'s business.

use std::io::{self, Read};
use std::os::fd::RawFd;

use super::InputError;
use super::sniff::{Expect, SNIFF_LEN, sniff};
use super::source::Input;
use crate::interrupt::Interrupt;
use crate::meter::Meter;

/// One input of the list.
enum Source {
    Unopened {
        input: Input,
        /// Its first bytes were looked at when the load began (a regular
        /// file); otherwise they are when they are read.
        sniffed: bool,
    },
    /// Opened, and possibly decompressed, as it is read; `unsniffed` until
    /// its first bytes are looked at.
    Open {
        reader: Box<dyn Read + Send>,
        unsniffed: bool,
    },
    Closed,
}

/// The first bytes of a gzip member and of a zstd frame.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// How long a read that may block waits before it looks whether the load
/// was asked to stop.
const INTERRUPT_POLL: libc::c_int = 100;

/// The inputs of a load, read one after another.
pub struct Inputs {
    names: Vec<String>,
    sources: Vec<Source>,
    current: usize,
    /// What the inputs are read as, for a look at their first bytes.
    expect: Expect,
    /// Asks a read that waits on a producer to give up.
    interrupt: Option<Interrupt>,
    /// Counts the bytes read.
    meter: Option<Meter>,
    /// The current input's first bytes, read ahead by [`Inputs::peek`] and
    /// not yet handed out: `peeked[peeked_at..]`.
    peeked: Vec<u8>,
    peeked_at: usize,
}

impl Inputs {
    /// [`Inputs::open_as`] commands.
    ///
    /// # Errors
    ///
    /// As [`Inputs::open_as`].
    pub fn open(inputs: &[Input]) -> Result<Self, InputError> {
        Self::open_as(inputs, Expect::Commands)
    }

    /// Checks that every input can be opened, and that each regular file
    /// (or bytes in memory) looks like what `expect` says, not an image or
    /// an archive, so that a missing or binary file stops the load before
    /// anything is sent; each is opened for reading only when it is
    /// reached. Standard input and pipes are looked at when they are read.
    ///
    /// # Errors
    ///
    /// The first input that cannot be opened or read, that is a directory,
    /// or that is not text rload can read ([`InputError::NotText`]).
    pub fn open_as(inputs: &[Input], expect: Expect) -> Result<Self, InputError> {
        let mut sources = Vec::with_capacity(inputs.len());
        for input in inputs {
            let sniffed = sniff_at_start(input, expect)?;
            sources.push(Source::Unopened {
                input: input.clone(),
                sniffed,
            });
        }
        Ok(Inputs {
            names: inputs.iter().map(Input::name).collect(),
            sources,
            current: 0,
            expect,
            interrupt: None,
            meter: None,
            peeked: Vec::new(),
            peeked_at: 0,
        })
    }

    /// Inputs already opened.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_readers(names: Vec<String>, readers: Vec<Box<dyn Read + Send>>) -> Self {
        Inputs {
            names,
            sources: readers
                .into_iter()
                .map(|r| Source::Open {
                    reader: Box::new(r),
                    unsniffed: false,
                })
                .collect(),
            current: 0,
            expect: Expect::Commands,
            interrupt: None,
            meter: None,
            peeked: Vec::new(),
            peeked_at: 0,
        }
    }

    /// Makes a read that waits on a producer give up with
    /// [`InputError::Interrupted`] once `interrupt` is requested, and counts
    /// the bytes read (as stored, before any decompression) in `meter`.
    pub fn watch(&mut self, interrupt: Interrupt, meter: Meter) {
        self.interrupt = Some(interrupt);
        self.meter = Some(meter);
    }

    /// The inputs' names, as messages give them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The index of the input being read.
    pub fn current(&self) -> u32 {
        self.current as u32
    }

    /// Moves on to the next input, closing the one read; false when there
    /// is none.
    pub fn next_input(&mut self) -> bool {
        if self.current + 1 >= self.sources.len() {
            return false;
        }
        self.sources[self.current] = Source::Closed;
        self.current += 1;
        (self.peeked, self.peeked_at) = (Vec::new(), 0);
        true
    }

    /// Reads from the current input (opening it first, if need be) into
    /// `buf`; `Ok(0)` at its end.
    ///
    /// # Errors
    ///
    /// The input cannot be opened or read, or the load was asked to stop
    /// while the read waited.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        if self.peeked_at < self.peeked.len() {
            let n = buf.len().min(self.peeked.len() - self.peeked_at);
            buf[..n].copy_from_slice(&self.peeked[self.peeked_at..self.peeked_at + n]);
            self.peeked_at += n;
            return Ok(n);
        }
        self.read_source(buf)
    }

    /// The current input's first `n` bytes (decompressed), or all of it if
    /// it is shorter, read ahead: the reads that follow still give them.
    ///
    /// # Errors
    ///
    /// As [`Inputs::read`].
    pub fn peek(&mut self, n: usize) -> Result<&[u8], InputError> {
        while self.peeked.len() < n {
            let mut chunk = vec![0u8; n - self.peeked.len()];
            match self.read_source(&mut chunk)? {
                0 => break,
                got => self.peeked.extend_from_slice(&chunk[..got]),
            }
        }
        Ok(&self.peeked[self.peeked_at..])
    }

    /// Reads ahead once more from the current input (what one read gives,
    /// at most `n` bytes); all read ahead so far. Nothing more at its end.
    ///
    /// # Errors
    ///
    /// As [`Inputs::read`].
    pub fn peek_once(&mut self, n: usize) -> Result<&[u8], InputError> {
        let mut chunk = vec![0u8; n];
        let got = self.read_source(&mut chunk)?;
        self.peeked.extend_from_slice(&chunk[..got]);
        Ok(&self.peeked[self.peeked_at..])
    }

    fn read_source(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        let name = &self.names[self.current];
        let source = &mut self.sources[self.current];
        if let Source::Unopened { input, sniffed } = source {
            let (raw, fd) = input.open()?;
            let waiting = Waiting {
                inner: raw,
                fd,
                interrupt: self.interrupt.clone(),
                meter: self.meter.clone(),
            };
            let opened = decompressed(waiting).map_err(|e| read_error(name, e))?;
            *source = Source::Open {
                reader: opened,
                unsniffed: !*sniffed,
            };
        }
        let Source::Open { reader, unsniffed } = source else {
            unreachable!("the current input is open until the next is reached");
        };
        loop {
            match reader.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(name, e)),
                Ok(n) if n > 0 && *unsniffed => {
                    // The first chunk, before any of it is sent.
                    *unsniffed = false;
                    if let Some(looks) = sniff(&buf[..n.min(SNIFF_LEN)], self.expect) {
                        let name = name.clone();
                        return Err(InputError::NotText { name, looks });
                    }
                    return Ok(n);
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}

/// Looks at the first bytes of `input` when the load begins, if it is a
/// regular file (or bytes in memory): true if it did. Standard input, and
/// a pipe or device named as a file, are looked at when they are read,
/// since reading them here would take their bytes.
fn sniff_at_start(input: &Input, expect: Expect) -> Result<bool, InputError> {
    // A stream is read once, by the load, as it comes.
    if matches!(input, Input::Stdin | Input::Stream { .. }) {
        return Ok(false);
    }
    let (raw, fd) = input.open()?;
    if fd.is_some() {
        return Ok(false);
    }
    // A read that fails here (a corrupt gzip stream) is left for the load
    // to meet at its place, after what comes before it: the bytes read so
    // far are looked at, and the first chunk again when it is read.
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let whole = decompressed(raw)
        .and_then(|r| r.take(SNIFF_LEN as u64).read_to_end(&mut head))
        .is_ok();
    match sniff(&head, expect) {
        Some(looks) => Err(InputError::NotText {
            name: input.name(),
            looks,
        }),
        None => Ok(whole),
    }
}

/// A failed read of input `name`: the wait a stop request cut short, or
/// the error as it is (a corrupt compressed stream included).
fn read_error(name: &str, e: io::Error) -> InputError {
    if e.get_ref().is_some_and(|inner| inner.is::<StopRequested>()) {
        return InputError::Interrupted;
    }
    InputError::Read {
        name: name.to_string(),
        source: e,
    }
}

/// `reader`, decompressed if its first bytes say it is gzip or zstd. The
/// first read's bytes (at least the magic's, up to [`SNIFF_LEN`]) come
/// back whole from the first read of what is returned, so that a look at
/// the first chunk sees more than the magic.
fn decompressed<R: Read + Send + 'static>(mut reader: R) -> io::Result<Box<dyn Read + Send>> {
    let mut head = vec![0u8; SNIFF_LEN];
    let mut got = 0;
    while got < ZSTD_MAGIC.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    let (gzip, zstd) = (head.starts_with(GZIP_MAGIC), head.starts_with(ZSTD_MAGIC));
    let whole = io::Cursor::new(head).chain(reader);
    Ok(if gzip {
        // Concatenated members (as `cat a.gz b.gz` makes) are one stream.
        Box::new(super::gzip::Members::new(io::BufReader::with_capacity(
            32 * 1024,
            whole,
        )))
    } else if zstd {
        Box::new(zstd::stream::read::Decoder::new(whole)?)
    } else {
        Box::new(whole)
    })
}

/// The error a read gives when a stop request cut its wait short.
#[derive(Debug, thiserror::Error)]
#[error("interrupted while waiting for input")]
struct StopRequested;

/// An input's own reader, which waits on a producer (when it has a
/// descriptor to wait on) in slices, so a stop request is noticed. It sits
/// under any decompression, so it waits only when more raw bytes are due.
struct Waiting {
    inner: Box<dyn Read + Send>,
    fd: Option<RawFd>,
    interrupt: Option<Interrupt>,
    meter: Option<Meter>,
}

impl Read for Waiting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let (Some(fd), Some(interrupt)) = (self.fd, &self.interrupt)
            && !wait_readable(fd, interrupt)
        {
            return Err(io::Error::other(StopRequested));
        }
        let n = self.inner.read(buf)?;
        if let Some(meter) = &self.meter {
            meter.add_bytes(n as u64);
        }
        Ok(n)
    }
}

/// Waits until `fd` has something to read (or its end); false if
/// `interrupt` was requested first.
fn wait_readable(fd: RawFd, interrupt: &Interrupt) -> bool {
    loop {
        if interrupt.requested().is_some() {
            return false;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid `pollfd`, for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, INTERRUPT_POLL) };
        let interrupted =
            ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted;
        if ready > 0 || (ready < 0 && !interrupted) {
            // Ready, closed, or an error the read will report.
            return true;
        }
    }
}
