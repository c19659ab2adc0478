//! The inputs commands come from: standard input, files, or bytes in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::error::InputError;

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
}

impl Input {
    /// The name messages use for this input.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
            Input::Bytes { name, .. } => name.clone(),
        }
    }

    /// How the input is written on rload's command line.
    pub fn to_arg(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            other => other.name(),
        }
    }

    /// Checks that the input can be opened for reading, without keeping
    /// it open.
    pub(crate) fn check(&self) -> Result<(), InputError> {
        match self {
            Input::File(_) => self.open().map(drop),
            Input::Stdin | Input::Bytes { .. } => Ok(()),
        }
    }

    pub(crate) fn open(&self) -> Result<Box<dyn Read + Send>, InputError> {
        match self {
            Input::Stdin => Ok(Box::new(io::stdin())),
            Input::Bytes { data, .. } => Ok(Box::new(io::Cursor::new(data.clone()))),
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
                Ok(Box::new(file))
            }
        }
    }
}
