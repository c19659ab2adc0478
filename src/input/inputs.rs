//! Where the input's bytes come from: a list of inputs (files, standard
//! input, bytes in memory), read in order. Each is checked before the load
//! starts, opened when it is reached, and closed once read, so a load of
//! thousands of files holds one open at a time. A read that waits on a
//! producer (a pipe, a terminal) gives up when the load is asked to stop.
//!
//! This is only bytes: how they become commands is a
//! [`CommandSource`](super::CommandSource)'s business.

use std::io::{self, Read};
use std::os::fd::RawFd;

use super::InputError;
use super::source::{Input, Opened};
use crate::interrupt::Interrupt;

/// One input of the list.
enum Source {
    Unopened(Input),
    Open(Opened),
    Closed,
}

/// How long a read that may block waits before it looks whether the load
/// was asked to stop.
const INTERRUPT_POLL: libc::c_int = 100;

/// The inputs of a load, read one after another.
pub struct Inputs {
    names: Vec<String>,
    sources: Vec<Source>,
    current: usize,
    /// Asks a read that waits on a producer to give up.
    interrupt: Option<Interrupt>,
}

impl Inputs {
    /// Checks that every input can be opened, so that a missing file stops
    /// the load before anything is sent; each is opened for reading only
    /// when it is reached.
    ///
    /// # Errors
    ///
    /// The first input that cannot be opened, or that is a directory.
    pub fn open(inputs: &[Input]) -> Result<Self, InputError> {
        for input in inputs {
            input.check()?;
        }
        let names = inputs.iter().map(Input::name).collect();
        let sources = inputs.iter().cloned().map(Source::Unopened).collect();
        Ok(Inputs {
            names,
            sources,
            current: 0,
            interrupt: None,
        })
    }

    /// Inputs already opened.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_readers(names: Vec<String>, readers: Vec<Box<dyn Read + Send>>) -> Self {
        Inputs {
            names,
            sources: readers
                .into_iter()
                .map(|r| Source::Open((r, None)))
                .collect(),
            current: 0,
            interrupt: None,
        }
    }

    /// Makes a read that waits on a producer give up with
    /// [`InputError::Interrupted`] once `interrupt` is requested.
    pub fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.interrupt = Some(interrupt);
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
        let source = &mut self.sources[self.current];
        if let Source::Unopened(input) = source {
            *source = Source::Open(input.open()?);
        }
        let Source::Open((reader, fd)) = source else {
            unreachable!("the current input is open until the next is reached");
        };
        if let (Some(fd), Some(interrupt)) = (*fd, &self.interrupt) {
            wait_readable(fd, interrupt)?;
        }
        loop {
            match reader.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let name = self.names[self.current].clone();
                    return Err(InputError::Read { name, source });
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}

/// Waits until `fd` has something to read (or its end), giving up when
/// `interrupt` is requested.
fn wait_readable(fd: RawFd, interrupt: &Interrupt) -> Result<(), InputError> {
    loop {
        if interrupt.requested().is_some() {
            return Err(InputError::Interrupted);
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
            return Ok(());
        }
    }
}
