//! `dump`: the keys of a server or cluster as Python values, in the shape
//! of `rload --dump --format jsonl` (`key`, `type`, `value`,
//! `expire_at_ms`, and `db` when databases are selected). The engine's
//! thread reads ahead (big keys in windows); each `next` waits with the
//! GIL released.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use rload::api::{Key, KeyValue, Keys};
use rload::dump::{DumpOptions, Split};

use crate::errors::{DumpError, config, to_py};
use crate::options::to_config;

/// Bytes as Python: `bytes`, or with `decode` a `str` when they are
/// valid UTF-8 (as JSON lines write a string, else base64).
fn text<'py>(py: Python<'py>, b: &[u8], decode: bool) -> Bound<'py, PyAny> {
    if decode && let Ok(s) = std::str::from_utf8(b) {
        return PyString::new(py, s).into_any();
    }
    PyBytes::new(py, b).into_any()
}

fn pairs<'py>(
    py: Python<'py>,
    items: &[(Vec<u8>, Vec<u8>)],
    decode: bool,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (a, b) in items {
        list.append(PyTuple::new(
            py,
            [text(py, a, decode), text(py, b, decode)],
        )?)?;
    }
    Ok(list)
}

fn value<'py>(py: Python<'py>, v: &KeyValue, decode: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        KeyValue::String(s) => text(py, s, decode),
        KeyValue::List(items) | KeyValue::Set(items) => {
            PyList::new(py, items.iter().map(|i| text(py, i, decode)))?.into_any()
        }
        KeyValue::Hash(items) => pairs(py, items, decode)?.into_any(),
        KeyValue::Zset(items) => {
            let list = PyList::empty(py);
            for (m, s) in items {
                list.append((text(py, m, decode), *s))?;
            }
            list.into_any()
        }
        KeyValue::Stream(s) => {
            let d = PyDict::new(py);
            let entries = PyList::empty(py);
            for (id, fields) in &s.entries {
                entries.append((text(py, id, decode), pairs(py, fields, decode)?))?;
            }
            d.set_item("entries", entries)?;
            d.set_item("last_id", text(py, &s.last_id, decode))?;
            let groups = PyList::empty(py);
            for (name, last) in &s.groups {
                let g = PyDict::new(py);
                g.set_item("name", text(py, name, decode))?;
                g.set_item("last_delivered_id", text(py, last, decode))?;
                groups.append(g)?;
            }
            d.set_item("groups", groups)?;
            d.set_item("entries_added", s.entries_added)?;
            d.set_item(
                "max_deleted_id",
                s.max_deleted_id.as_ref().map(|m| text(py, m, decode)),
            )?;
            d.into_any()
        }
        _ => py.None().into_bound(py),
    })
}

fn key_dict<'py>(py: Python<'py>, key: &Key, decode: bool) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    if let Some(db) = key.db {
        d.set_item("db", db)?;
    }
    d.set_item("key", text(py, &key.key, decode))?;
    d.set_item("type", key.value.type_name())?;
    d.set_item("value", value(py, &key.value, decode)?)?;
    d.set_item("expire_at_ms", key.expire_at_ms)?;
    if !key.field_expire_at_ms.is_empty() {
        let fields = PyList::empty(py);
        for (field, at) in &key.field_expire_at_ms {
            fields.append((text(py, field, decode), *at))?;
        }
        d.set_item("field_expire_at_ms", fields)?;
    }
    Ok(d)
}

/// The keys of a dump, as they are read.
#[pyclass(module = "rload")]
pub struct KeyIterator {
    keys: Mutex<Option<Keys>>,
    decode: bool,
    /// Keys read, and the masters (or server) read from, once done.
    #[pyo3(get)]
    keys_read: u64,
    #[pyo3(get)]
    nodes: Vec<String>,
}

#[pymethods]
impl KeyIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut guard = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let Some(keys) = guard.as_mut() else {
            return Err(PyStopIteration::new_err(()));
        };
        if let Some(key) = py.detach(|| keys.next()) {
            self.keys_read += 1;
            return key_dict(py, &key, self.decode);
        }
        let keys = guard.take().expect("checked");
        drop(guard);
        let summary = py.detach(|| keys.finish()).map_err(to_py)?;
        self.nodes = summary.nodes.clone();
        if let Some(stop) = &summary.stop {
            let mut text = format!("the dump stopped after {} keys: {stop}", summary.keys);
            if let Some(resume) = &summary.resume {
                text.push_str(&format!("; go on with cursor={resume:?}"));
            }
            return Err(DumpError::new_err(text));
        }
        Err(PyStopIteration::new_err(()))
    }

    /// Stops the dump (if it is not done) and lets its connection go.
    fn close(&mut self, py: Python<'_>) {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(keys) = keys {
            py.detach(|| drop(keys.finish()));
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }
}

fn parse_split(value: &Bound<'_, PyAny>) -> PyResult<Split> {
    let text = if let Ok((i, n)) = value.extract::<(u16, u16)>() {
        format!("{i}/{n}")
    } else {
        value
            .extract::<String>()
            .map_err(|_| config("split: give (I, N) or \"I/N\""))?
    };
    Split::parse(&text).map_err(to_py)
}

/// Reads the keys of the server (or cluster) `options` name.
#[pyfunction]
#[pyo3(signature = (*, r#match = None, types = None, split = None, cursor = None, scan = false, decode = false, **options))]
#[allow(clippy::too_many_arguments)]
pub fn dump(
    py: Python<'_>,
    r#match: Option<String>,
    types: Option<Vec<String>>,
    split: Option<&Bound<'_, PyAny>>,
    cursor: Option<String>,
    scan: bool,
    decode: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<KeyIterator> {
    // `db` is a connection option and a dump's: a dump of database N alone.
    let db = match options {
        Some(o) => o
            .get_item("db")?
            .map(|d| d.extract::<u32>())
            .transpose()
            .map_err(|_| config("db: give a database number"))?,
        None => None,
    };
    let config_ = to_config(options)?;
    const TYPES: [&str; 6] = ["string", "list", "set", "zset", "hash", "stream"];
    let types = types.unwrap_or_default();
    if let Some(bad) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(config(format!(
            "types: {bad:?} is not a type; give some of {}",
            TYPES.join(", ")
        )));
    }
    let dump_options = DumpOptions {
        pattern: r#match,
        types,
        cursor,
        db: db.or_else(|| (config_.server.db != 0).then_some(config_.server.db)),
        split: split.map(parse_split).transpose()?,
        scan,
        ..DumpOptions::default()
    };
    let keys = py
        .detach(|| Keys::start(&config_, &dump_options, Arc::new(NoEvents)))
        .map_err(to_py)?;
    Ok(KeyIterator {
        keys: Mutex::new(Some(keys)),
        decode,
        keys_read: 0,
        nodes: Vec::new(),
    })
}

/// A dump's events are its account's business: nothing is printed.
struct NoEvents;

impl rload::Events for NoEvents {}
