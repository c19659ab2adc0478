//! Python commands into bytes, at the edge: a command is a sequence (a
//! tuple or list, or any iterable) of `str` (UTF-8), `bytes`, `bytearray`,
//! `int` (decimal) or `float` (Python's shortest `repr`, which reads back
//! as the same number). Commands are gathered into a [`Batch`] with the
//! GIL held, then handed to the load with it released.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Commands per hand-over to the load: the GIL is released once per
/// batch, not per command, and rload's own feed batches as many.
pub const BATCH: usize = 1024;

/// Commands as one buffer of bytes, each argument's end and each
/// command's last argument.
#[derive(Default)]
pub struct Batch {
    data: Vec<u8>,
    arg_ends: Vec<usize>,
    cmd_ends: Vec<usize>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.cmd_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmd_ends.is_empty()
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.arg_ends.clear();
        self.cmd_ends.clear();
    }

    /// Calls `send` with each command's arguments, in order, until it
    /// fails; gives how many were sent.
    pub fn each<E>(
        &self,
        mut send: impl FnMut(&[&[u8]]) -> Result<(), E>,
    ) -> (usize, Result<(), E>) {
        let mut args: Vec<&[u8]> = Vec::with_capacity(8);
        let (mut arg, mut start) = (0, 0);
        for (i, &end) in self.cmd_ends.iter().enumerate() {
            args.clear();
            while arg < end {
                let stop = self.arg_ends[arg];
                args.push(&self.data[start..stop]);
                start = stop;
                arg += 1;
            }
            if let Err(e) = send(&args) {
                return (i, Err(e));
            }
        }
        (self.len(), Ok(()))
    }

    /// Adds one argument.
    fn push_arg(&mut self, index: u64, at: usize, arg: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(b) = arg.cast::<PyBytes>() {
            self.data.extend_from_slice(b.as_bytes());
        } else if let Ok(s) = arg.cast::<PyString>() {
            self.data.extend_from_slice(s.to_cow()?.as_bytes());
        } else if arg.is_instance_of::<PyBool>() {
            return Err(bad_arg(index, at, arg, "a bool (give 1 or 0, or a str)"));
        } else if arg.is_instance_of::<PyInt>() {
            match arg.extract::<i64>() {
                Ok(n) => self
                    .data
                    .extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                Err(_) => self.data.extend_from_slice(arg.str()?.to_cow()?.as_bytes()),
            }
        } else if arg.is_instance_of::<PyFloat>() {
            self.data
                .extend_from_slice(arg.repr()?.to_cow()?.as_bytes());
        } else if let Ok(b) = arg.cast::<PyByteArray>() {
            self.data.extend_from_slice(&b.to_vec());
        } else {
            let kind = type_name(arg);
            return Err(bad_arg(index, at, arg, &format!("a {kind}")));
        }
        self.arg_ends.push(self.data.len());
        Ok(())
    }

    /// Adds command number `index` (from 0, for messages).
    pub fn push(&mut self, index: u64, command: &Bound<'_, PyAny>) -> PyResult<()> {
        let (data, args) = (self.data.len(), self.arg_ends.len());
        let pushed = self.push_args(index, command);
        if pushed.is_err() {
            self.data.truncate(data);
            self.arg_ends.truncate(args);
            return pushed;
        }
        if self.arg_ends.len() == args {
            return Err(PyTypeError::new_err(format!(
                "command {index} is empty: a command needs a name"
            )));
        }
        self.cmd_ends.push(self.arg_ends.len());
        Ok(())
    }

    fn push_args(&mut self, index: u64, command: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(t) = command.cast::<PyTuple>() {
            for (at, a) in t.iter().enumerate() {
                self.push_arg(index, at, &a)?;
            }
        } else if let Ok(l) = command.cast::<PyList>() {
            for (at, a) in l.iter().enumerate() {
                self.push_arg(index, at, &a)?;
            }
        } else if command.is_instance_of::<PyString>() || command.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(format!(
                "command {index} is a {}, not a sequence of arguments: give (\"SET\", \"key\", \"value\"), not \"SET key value\"",
                type_name(command)
            )));
        } else {
            let items = command.try_iter().map_err(|_| {
                PyTypeError::new_err(format!(
                    "command {index} is a {}: give a sequence of arguments (str, bytes, int, float)",
                    type_name(command)
                ))
            })?;
            for (at, a) in items.enumerate() {
                self.push_arg(index, at, &a?)?;
            }
        }
        Ok(())
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

fn bad_arg(index: u64, at: usize, _arg: &Bound<'_, PyAny>, what: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "command {index}, argument {at} is {what}: give str, bytes, int or float"
    ))
}
