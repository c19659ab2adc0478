//! The exceptions: `rload.Error` and one subclass per kind of failure
//! before anything is sent, with the binary's messages (passwords never
//! in them: rload's messages redact them).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    rload,
    Error,
    PyException,
    "Every failure rload raises: a bad option, a server that cannot be reached, a load that stopped."
);
create_exception!(
    rload,
    ConfigError,
    Error,
    "An option is invalid (the binary's usage errors, exit status 2)."
);
create_exception!(
    rload,
    ConnectError,
    Error,
    "The server could not be reached, logged in to, or selected (exit status 4)."
);
create_exception!(
    rload,
    InputError,
    Error,
    "A command or record is invalid (exit status 3)."
);
create_exception!(
    rload,
    LoadError,
    Error,
    "A load did not go through: a stop or error replies; its `summary` attribute has the account."
);

create_exception!(
    rload,
    DumpError,
    Error,
    "A dump stopped before it read every key: the message says why and where to go on from (cursor=)."
);

/// Adds the exceptions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("ConnectError", py.get_type::<ConnectError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("LoadError", py.get_type::<LoadError>())?;
    m.add("DumpError", py.get_type::<DumpError>())?;
    Ok(())
}

/// An error and its causes, as the binary prints them: `a: b: c`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// rload's error as the Python exception of its kind.
pub fn to_py(e: rload::Error) -> PyErr {
    let text = chain(&e);
    match e {
        rload::Error::Config(_) => ConfigError::new_err(text),
        rload::Error::Input(_) => InputError::new_err(text),
        rload::Error::Connect(_) => ConnectError::new_err(text),
        _ => Error::new_err(text),
    }
}

/// A bad option.
pub fn config(text: impl Into<String>) -> PyErr {
    ConfigError::new_err(text.into())
}
