//! Loads from Python: [`load`] (an iterable of commands) and
//! [`load_records`] (an iterable of dicts rendered by templates), and the
//! loads a `Writer` feeds. Python values are
//! turned into bytes with the GIL held, a batch at a time; the engine's
//! threads do the I/O, and every wait on them (a full queue, a flush, the
//! end) releases the GIL.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};
use rload::Config;
use rload::api::{Loader, RecordLoader};

use crate::args::{BATCH, Batch};
use crate::errors::to_py;
use crate::options::to_config;
use crate::summary::{Collect, Summary};

/// Bytes of JSON records gathered before the GIL is released to hand
/// them over.
const RECORD_BATCH_BYTES: usize = 256 * 1024;

/// A load of commands, and what it collects.
pub(crate) struct Commands {
    pub(crate) loader: Loader,
    pub(crate) collect: Arc<Collect>,
    batch: Batch,
    /// The load stopped: nothing more goes in.
    pub(crate) closed: bool,
}

impl Commands {
    pub(crate) fn start(py: Python<'_>, config: &Config) -> PyResult<Self> {
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
    pub(crate) fn send_batch(&mut self, py: Python<'_>) {
        if self.batch.is_empty() {
            return;
        }
        let (loader, batch) = (&mut self.loader, &self.batch);
        let (_, sent) = py.detach(|| batch.each(|args| loader.send(args)));
        self.closed |= sent.is_err();
        self.batch.clear();
    }

    pub(crate) fn push(
        &mut self,
        py: Python<'_>,
        index: u64,
        command: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.batch.push(index, command)?;
        if self.batch.len() >= BATCH {
            self.send_batch(py);
        }
        Ok(())
    }

    pub(crate) fn finish(mut self, py: Python<'_>) -> PyResult<Summary> {
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
pub(crate) struct Records {
    pub(crate) loader: RecordLoader,
    pub(crate) collect: Arc<Collect>,
    /// Records as JSON lines, not yet handed over.
    lines: Vec<u8>,
    ends: Vec<usize>,
    pub(crate) closed: bool,
    /// The index of its first record, among all a writer sent.
    pub(crate) first: u64,
}

impl Records {
    pub(crate) fn start(py: Python<'_>, config: &Config, templates: &[String]) -> PyResult<Self> {
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

    pub(crate) fn push(
        &mut self,
        py: Python<'_>,
        index: u64,
        record: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        record_json(py, index, record, &mut self.lines)?;
        self.ends.push(self.lines.len());
        if self.lines.len() >= RECORD_BATCH_BYTES {
            self.send_lines(py);
        }
        Ok(())
    }

    pub(crate) fn finish(mut self, py: Python<'_>) -> PyResult<Summary> {
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

/// Checks connection and load options without connecting: a Beam
/// transform refuses bad ones when the pipeline is built, not on a worker.
#[pyfunction]
#[pyo3(signature = (**options))]
pub fn _check_options(options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    to_config(options).map(drop)
}
