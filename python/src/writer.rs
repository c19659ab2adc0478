//! `Writer`: a load fed one command (or record) at a time, with `flush`,
//! a barrier that returns once the server has answered everything sent
//! so far, and `close`.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rload::Config;

use crate::errors::Error;
use crate::load::{Commands, Records};
use crate::options::to_config;
use crate::summary::Summary;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a [`Writer`] writes into.
enum Open {
    Commands(Commands),
    /// A records load, started at the first record after each flush.
    Records(Option<Records>),
}

struct State {
    open: Option<Open>,
    /// The account of what is done: earlier parts of a records load, and
    /// a final account once closed.
    done: Summary,
    /// Commands (records) sent, over every part.
    sent: u64,
}

/// A load fed one command at a time: `send`, `send_many`, `flush`, `close`.
#[pyclass(module = "rload")]
pub struct Writer {
    config: Config,
    templates: Option<Vec<String>>,
    state: Mutex<State>,
}

fn closed_error() -> PyErr {
    Error::new_err("the writer is closed (or its load stopped: close() gives the account)")
}

impl Writer {
    fn with_open<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Open, &mut u64, Python<'_>) -> PyResult<R>,
    ) -> PyResult<R> {
        let mut state = lock(&self.state);
        let State { open, sent, .. } = &mut *state;
        let open = open.as_mut().ok_or_else(closed_error)?;
        f(open, sent, py)
    }

    fn push(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> PyResult<()> {
        self.with_open(py, |open, sent, py| {
            match open {
                Open::Commands(c) => {
                    if c.closed {
                        return Err(closed_error());
                    }
                    c.push(py, *sent, item)?;
                }
                Open::Records(r) => {
                    if r.is_none() {
                        let templates = self.templates.as_deref().unwrap_or_default();
                        let mut records = Records::start(py, &self.config, templates)?;
                        records.first = *sent;
                        *r = Some(records);
                    }
                    let records = r.as_mut().expect("started");
                    if records.closed {
                        return Err(closed_error());
                    }
                    records.push(py, *sent, item)?;
                }
            }
            *sent += 1;
            Ok(())
        })
    }
}

#[pymethods]
impl Writer {
    #[new]
    #[pyo3(signature = (*, templates = None, **options))]
    fn new(
        py: Python<'_>,
        templates: Option<Vec<String>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = to_config(options)?;
        let open = match &templates {
            None => Open::Commands(Commands::start(py, &config)?),
            Some(t) if t.is_empty() => {
                return Err(crate::errors::config(
                    "templates: give at least one template",
                ));
            }
            // Connect now, so that a bad server or template fails here.
            Some(t) => Open::Records(Some(Records::start(py, &config, t)?)),
        };
        Ok(Writer {
            config,
            templates,
            state: Mutex::new(State {
                open: Some(open),
                done: Summary::default(),
                sent: 0,
            }),
        })
    }

    /// Sends one command (`send("SET", "k", "v")`), or, with templates,
    /// one record (`send({"id": 1})`).
    #[pyo3(signature = (*args))]
    fn send(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        if self.templates.is_some() {
            if args.len() != 1 {
                return Err(PyTypeError::new_err(
                    "a records writer sends one record at a time: send(record)",
                ));
            }
            return self.push(py, &args.get_item(0)?);
        }
        self.push(py, args.as_any())
    }

    /// Sends every command (or record) of `items`.
    fn send_many(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<()> {
        for item in items.try_iter()? {
            self.push(py, &item?)?;
        }
        Ok(())
    }

    /// Commands (records) sent so far.
    #[getter]
    fn sent(&self) -> u64 {
        lock(&self.state).sent
    }

    /// Returns once the server has answered everything sent so far, with
    /// the account so far. A load that stopped is closed, and its final
    /// account returned (its `stop` says why).
    fn flush(&self, py: Python<'_>) -> PyResult<Summary> {
        let mut state = lock(&self.state);
        let State { open, done, sent } = &mut *state;
        let Some(o) = open.as_mut() else {
            return Ok(done.clone());
        };
        match o {
            Open::Commands(c) => {
                c.send_batch(py);
                let loader = &mut c.loader;
                let answered = py.detach(|| loader.flush());
                match answered {
                    Ok(answered) => {
                        let (errors, dropped) = c.collect.take();
                        let mut part = Summary {
                            sent: *sent,
                            replies: answered,
                            acknowledged: answered,
                            resume_from: answered,
                            all_sent: true,
                            ..Summary::default()
                        };
                        part.errors = errors
                            .into_iter()
                            .map(|(index, reply)| crate::summary::CommandError { index, reply })
                            .collect();
                        part.errors_not_kept = dropped;
                        part.error_count = (part.errors.len() as u64) + dropped;
                        // The errors are handed out once: keep them in the
                        // running account too.
                        done.errors.extend(part.errors.iter().cloned());
                        done.error_count += part.error_count;
                        part.errors = done.errors.clone();
                        part.error_count = done.error_count;
                        Ok(part)
                    }
                    Err(_) => {
                        let Some(Open::Commands(c)) = open.take() else {
                            unreachable!("matched")
                        };
                        let summary = c.finish(py)?;
                        *done = summary;
                        Ok(done.clone())
                    }
                }
            }
            Open::Records(r) => {
                if let Some(records) = r.take() {
                    let offset = records.first;
                    let part = records.finish(py)?;
                    let stopped = part.stop.is_some();
                    done.add(part, offset);
                    if stopped {
                        *open = None;
                    }
                }
                Ok(done.clone())
            }
        }
    }

    /// Ends the load: waits for every reply, and gives the final account.
    fn close(&self, py: Python<'_>) -> PyResult<Summary> {
        let mut state = lock(&self.state);
        let State { open, done, .. } = &mut *state;
        match open.take() {
            None => {}
            Some(Open::Commands(c)) => {
                let kept = std::mem::take(&mut done.errors);
                let mut summary = c.finish(py)?;
                if !kept.is_empty() {
                    let mut all = kept;
                    all.extend(summary.errors);
                    all.sort_by_key(|e| e.index);
                    summary.errors = all;
                }
                *done = summary;
            }
            Some(Open::Records(Some(records))) => {
                let offset = records.first;
                let part = records.finish(py)?;
                done.add(part, offset);
            }
            Some(Open::Records(None)) => {}
        }
        Ok(done.clone())
    }

    /// The final account, once closed; `None` before.
    #[getter]
    fn summary(&self) -> Option<Summary> {
        let state = lock(&self.state);
        state.open.is_none().then(|| state.done.clone())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the writer (draining what was sent), whether or not the
    /// block raised; the account is then `summary`.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = lock(&self.state);
        let what = if self.templates.is_some() {
            "records"
        } else {
            "commands"
        };
        let open = if state.open.is_some() {
            "open"
        } else {
            "closed"
        };
        // The server's address only: never a password.
        format!(
            "<rload.Writer {open} {what} to {} sent={}>",
            self.config.server.addr(),
            state.sent
        )
    }
}
