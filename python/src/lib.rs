//! `rload._rload`: the native half of the `rload` Python package. It is
//! thin, as pydantic-core's and polars' are: Python values are turned into
//! bytes at the edge, the GIL is released while rload's engine waits on
//! the server, and everything else (connecting, routing, pipelining,
//! accounting) is the `rload` crate's embedding API (`rload::api`).
//!
//! - `options`: keyword options onto `rload::Config`, as the binary maps
//!   its flags.
//! - `load`: `load` and `load_records`; `writer`: `Writer`.
//! - `summary`: the account, as Python objects.
//! - `dump`: `dump`, an iterator of keys as Python values.

use pyo3::prelude::*;

mod args;
mod dump;
mod errors;
mod load;
mod options;
mod summary;
mod writer;

#[pymodule]
fn _rload(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<summary::Summary>()?;
    m.add_class::<summary::CommandError>()?;
    m.add_class::<writer::Writer>()?;
    m.add_class::<dump::KeyIterator>()?;
    m.add_function(wrap_pyfunction!(load::load, m)?)?;
    m.add_function(wrap_pyfunction!(load::load_records, m)?)?;
    m.add_function(wrap_pyfunction!(dump::dump, m)?)?;
    m.add_function(wrap_pyfunction!(load::_check_options, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
