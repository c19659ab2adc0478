//! Loads from Python: [`load`] (an iterable of commands), [`load_records`]
//! (an iterable of dicts rendered by templates) and [`Writer`] (commands
//! or records sent one by one, with a `flush` barrier). Python values are
//! turned into bytes with the GIL held, a batch at a time; the engine's
//! threads do the I/O, and every wait on them (a full queue, a flush, the
//! end) releases the GIL.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use rload::Config;
use rload::api::{Loader, RecordLoader};

use crate::args::{BATCH, Batch};
use crate::errors::{Error, to_py};
use crate::options::to_config;
use crate::summary::{Collect, Summary};

/// Bytes of JSON records gathered before the GIL is released to hand
/// them over.
const RECORD_BATCH_BYTES: usize = 256 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A load of commands, and what it collects.
struct Commands {
    loader: Loader,
    collect: Arc<Collect>,
    batch: Batch,
    /// The load stopped: nothing more goes in.
    closed: bool,
}

impl Commands {
    fn start(py: Python<'_>, config: &Config) -> PyResult<Self> {
        let collect = Arc::new(Collect::default());
        let events = Arc::clone(&collect) as Arc<dyn rload::Events>;
        let loader = py.detach(|| Loader::start(config, events)).map_err(to_py)?;
        Ok(Commands {
            loader,
            collect,
            batch: Batch::default(),
            closed: false,
        })
    }

    /// Hands the batch to the load, the GIL released (the load may be
    /// behind, and then this waits).
    fn send_batch(&mut self, py: Python<'_>) {
        if self.batch.is_empty() {
            return;
        }
        let (loader, batch) = (&mut self.loader, &self.batch);
        let (_, sent) = py.detach(|| batch.each(|args| loader.send(args)));
        self.closed |= sent.is_err();
        self.batch.clear();
    }

    fn push(&mut self, py: Python<'_>, index: u64, command: &Bound<'_, PyAny>) -> PyResult<()> {
        self.batch.push(index, command)?;
        if self.batch.len() >= BATCH {
            self.send_batch(py);
        }
        Ok(())
    }

    fn finish(mut self, py: Python<'_>) -> PyResult<Summary> {
        self.send_batch(py);
        let (loader, collect) = (self.loader, self.collect);
        let summary = py.detach(|| loader.finish()).map_err(to_py)?;
        Ok(Summary::finished(&summary, &collect))
    }
}

/// Loads `commands` into the server `options` name, and gives the account.
#[pyfunction]
#[pyo3(signature = (commands, /, **options))]
pub fn load(
    py: Python<'_>,
    commands: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Summary> {
    let config = to_config(options)?;
    let items = commands.try_iter().map_err(|_| {
        PyTypeError::new_err("commands: give an iterable of commands, each a sequence of arguments")
    })?;
    let mut load = Commands::start(py, &config)?;
    let mut failed = None;
    for (index, item) in items.enumerate() {
        let pushed = item.and_then(|c| load.push(py, index as u64, &c));
        if let Err(e) = pushed {
            failed = Some(e);
            break;
        }
        if load.closed {
            break;
        }
        if index % (BATCH * 64) == 0
            && let Err(e) = py.check_signals()
        {
            failed = Some(e);
            break;
        }
    }
    // What was sent is drained and accounted for even when the input
    // failed; then the input's exception is raised.
    let summary = load.finish(py)?;
    match failed {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// `json.dumps`, compact, for records that are not JSON text already.
fn dumps<'py>(py: Python<'py>) -> PyResult<&'py Bound<'py, PyAny>> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let json = py.import("json")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("separators", (",", ":"))?;
        kwargs.set_item("ensure_ascii", false)?;
        let partial = py.import("functools")?.getattr("partial")?;
        Ok(partial
            .call((json.getattr("dumps")?,), Some(&kwargs))?
            .unbind())
    })?;
    Ok(f.bind(py))
}

/// A record as one line of JSON: a dict (or anything `json.dumps` takes)
/// serialised, or JSON text given as `str` or `bytes`.
fn record_json(
    py: Python<'_>,
    index: u64,
    record: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    if let Ok(b) = record.cast::<PyBytes>() {
        out.extend_from_slice(b.as_bytes());
    } else if let Ok(s) = record.cast::<PyString>() {
        out.extend_from_slice(s.to_cow()?.as_bytes());
    } else {
        let text = dumps(py)?.call1((record,)).map_err(|e| {
            PyTypeError::new_err(format!("record {index} is not JSON-serialisable: {e}"))
        })?;
        out.extend_from_slice(text.cast::<PyString>()?.to_cow()?.as_bytes());
    }
    Ok(())
}

/// A load of records, and what it collects.
struct Records {
    loader: RecordLoader,
    collect: Arc<Collect>,
    /// Records as JSON lines, not yet handed over.
    lines: Vec<u8>,
    ends: Vec<usize>,
    closed: bool,
    /// The index of its first record, among all a writer sent.
    first: u64,
}

impl Records {
    fn start(py: Python<'_>, config: &Config, templates: &[String]) -> PyResult<Self> {
        let collect = Arc::new(Collect::default());
        let events = Arc::clone(&collect) as Arc<dyn rload::Events>;
        let loader = py
            .detach(|| RecordLoader::start(config, templates, events))
            .map_err(to_py)?;
        Ok(Records {
            loader,
            collect,
            lines: Vec::new(),
            ends: Vec::new(),
            closed: false,
            first: 0,
        })
    }

    fn send_lines(&mut self, py: Python<'_>) {
        let (loader, lines, ends) = (&mut self.loader, &self.lines, &self.ends);
        let sent = py.detach(|| {
            let mut start = 0;
            for &end in ends {
                loader.send_json(&lines[start..end])?;
                start = end;
            }
            Ok::<_, rload::api::Closed>(())
        });
        self.closed |= sent.is_err();
        self.lines.clear();
        self.ends.clear();
    }

    fn push(&mut self, py: Python<'_>, index: u64, record: &Bound<'_, PyAny>) -> PyResult<()> {
        record_json(py, index, record, &mut self.lines)?;
        self.ends.push(self.lines.len());
        if self.lines.len() >= RECORD_BATCH_BYTES {
            self.send_lines(py);
        }
        Ok(())
    }

    fn finish(mut self, py: Python<'_>) -> PyResult<Summary> {
        self.send_lines(py);
        let (loader, collect) = (self.loader, self.collect);
        let summary = py.detach(|| loader.finish()).map_err(to_py)?;
        Ok(Summary::finished(&summary, &collect))
    }
}

/// Loads `records`, each rendered by `templates`, and gives the account.
#[pyfunction]
#[pyo3(signature = (records, /, templates, **options))]
pub fn load_records(
    py: Python<'_>,
    records: &Bound<'_, PyAny>,
    templates: Vec<String>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Summary> {
    let config = to_config(options)?;
    let items = records
        .try_iter()
        .map_err(|_| PyTypeError::new_err("records: give an iterable of dicts"))?;
    let mut load = Records::start(py, &config, &templates)?;
    let mut failed = None;
    for (index, item) in items.enumerate() {
        if let Err(e) = item.and_then(|r| load.push(py, index as u64, &r)) {
            failed = Some(e);
            break;
        }
        if load.closed {
            break;
        }
    }
    let summary = load.finish(py)?;
    match failed {
        Some(e) => Err(e),
        None => Ok(summary),
    }
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

/// Checks connection and load options without connecting: a Beam
/// transform refuses bad ones when the pipeline is built, not on a worker.
#[pyfunction]
#[pyo3(signature = (**options))]
pub fn _check_options(options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    to_config(options).map(drop)
}
