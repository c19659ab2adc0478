//! The inputs commands come from: standard input, files, or bytes in memory.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use super::InputError;

/// An opened input: its reader, and the descriptor to wait on before a
/// read that may block, if it may.
pub(crate) type Opened = (Box<dyn Read + Send>, Option<RawFd>);

/// Whether `fd` is a regular file, whose reads never wait on a producer.
fn is_regular_file(fd: RawFd) -> bool {
    regular_file_size(fd).is_some()
}

/// The size of the regular file `fd` refers to, if it is one.
fn regular_file_size(fd: RawFd) -> Option<u64> {
    // SAFETY: `stat` is plain data, filled in by `fstat` on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `stat`; a bad `fd` only fails.
    let ok = unsafe { libc::fstat(fd, &mut st) == 0 };
    (ok && (st.st_mode & libc::S_IFMT) == libc::S_IFREG).then_some(st.st_size as u64)
}

/// Where commands come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Standard input, named `<stdin>` in messages (`-` on the command line).
    Stdin,
    /// A file, named by its path in messages.
    File(PathBuf),
    /// Bytes in memory, for embedding; `name` is used in messages.
    Bytes {
        /// The name to use in messages.
        name: String,
        /// The commands.
        data: bytes::Bytes,
    },
    /// Bytes a program produces as the load goes, for embedding; `name` is
    /// used in messages. It can be read once.
    Stream {
        /// The name to use in messages.
        name: String,
        /// The bytes.
        reader: SharedReader,
    },
}

/// A reader an [`Input::Stream`] hands over once, to the load that opens
/// it; two are equal when they are the same one.
#[derive(Clone)]
pub struct SharedReader(std::sync::Arc<std::sync::Mutex<Option<Box<dyn Read + Send>>>>);

impl SharedReader {
    /// Wraps `reader`.
    pub fn new(reader: impl Read + Send + 'static) -> Self {
        SharedReader(std::sync::Arc::new(std::sync::Mutex::new(Some(Box::new(
            reader,
        )))))
    }
}

impl std::fmt::Debug for SharedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedReader")
    }
}

impl PartialEq for SharedReader {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedReader {}

impl Input {
    /// The name messages use for this input.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
            Input::Bytes { name, .. } | Input::Stream { name, .. } => name.clone(),
        }
    }

    /// How the input is written on rload's command line.
    pub fn to_arg(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            other => other.name(),
        }
    }

    /// The input's size in bytes, as stored, when it is known: a regular
    /// file (standard input included, when it is redirected from one) or
    /// bytes in memory.
    pub(crate) fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => regular_file_size(libc::STDIN_FILENO),
            Input::File(path) => std::fs::metadata(path)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len()),
            Input::Bytes { data, .. } => Some(data.len() as u64),
            Input::Stream { .. } => None,
        }
    }

    /// Opens the input for reading. With the reader comes the descriptor
    /// to wait on before a read that may block (a pipe, a terminal), so the
    /// wait can be given up when the load is asked to stop; a regular file
    /// has none.
    pub(crate) fn open(&self) -> Result<Opened, InputError> {
        match self {
            Input::Stdin => {
                let fd = (!is_regular_file(libc::STDIN_FILENO)).then_some(libc::STDIN_FILENO);
                Ok((Box::new(io::stdin()), fd))
            }
            Input::Bytes { data, .. } => Ok((Box::new(io::Cursor::new(data.clone())), None)),
            Input::Stream { name, reader } => {
                let taken = reader.0.lock().map(|mut r| r.take()).ok().flatten();
                let reader = taken.ok_or_else(|| InputError::Open {
                    name: name.clone(),
                    source: io::Error::other("a stream can be read only once"),
                })?;
                Ok((reader, None))
            }
            Input::File(path) => {
                let name = self.name();
                let file = File::open(path).map_err(|source| InputError::Open {
                    name: name.clone(),
                    source,
                })?;
                let meta = file.metadata().map_err(|source| InputError::Open {
                    name: name.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    return Err(InputError::Directory { name });
                }
                let fd = (!meta.is_file()).then(|| file.as_raw_fd());
                Ok((Box::new(file), fd))
            }
        }
    }
}
