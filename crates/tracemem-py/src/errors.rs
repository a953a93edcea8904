//! How the library's errors reach Python: each [`tracemem::Error`] kind as
//! a class of `tracemem.errors` (or Python's own `FileNotFoundError`), and
//! no panic ever as `PanicException`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use tracemem::Error;

/// An instance of the class `name` of `tracemem.errors` carrying `message`.
fn tracemem_error(name: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let class = py.import("tracemem.errors").and_then(|module| module.getattr(name));
        match class.and_then(|class| class.call1((message.clone(),))) {
            Ok(instance) => PyErr::from_value(instance),
            // The package's own module is missing (a broken install): the
            // message still reaches the caller.
            Err(_) => PyOSError::new_err(message),
        }
    })
}

/// The Python exception for `error`.
pub fn to_py(error: Error) -> PyErr {
    let message = error.to_string();
    let class = match &error {
        Error::Corrupt { .. } => "CorruptError",
        Error::Storage { .. } => "StorageError",
        Error::NotADatabase { .. } | Error::NewerFormat { .. } | Error::OlderFormat { .. } => "FormatError",
        Error::Busy { .. } => "LockedError",
        Error::Unclean { .. } => "UncleanError",
        Error::Closed { .. } => "ClosedError",
        Error::ReadOnly { .. } => "ReadOnlyError",
        Error::NoSpace { .. } => "NoSpaceError",
        Error::UnknownSpace { .. }
        | Error::UnknownCapture { .. }
        | Error::UnknownRegister { .. }
        | Error::UnknownRegion { .. } => "UnknownNameError",
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            return PyFileNotFoundError::new_err(message);
        }
        Error::Io { .. } | Error::SyncFailed { .. } => "StorageError",
        Error::FoldingStopped { .. } | Error::TransactionFailed { .. } => "Error",
        _ => "InvalidArgumentError",
    };
    tracemem_error(class, message)
}

/// Runs `work`; a panic inside (a bug, or damage that slipped past the
/// library's checks) becomes `tracemem.errors.CorruptError` naming `what`,
/// never a `PanicException`.
pub fn guarded<T>(what: &str, work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("an internal error");
            Err(tracemem_error("CorruptError", format!("{what}: {why}")))
        }
    }
}

/// A `ValueError` naming the argument and what is wrong with it.
pub fn bad_value(argument: &str, reason: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{argument}: {reason}"))
}

/// A `TypeError` naming the argument and the type it needs.
pub fn bad_type(argument: &str, needs: &str, given: &Bound<'_, PyAny>) -> PyErr {
    let type_name = given
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string());
    PyTypeError::new_err(format!("{argument} must be {needs}, not {type_name}"))
}

/// Converts a library result.
pub trait IntoPy<T> {
    /// The value, or the Python exception for the error.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for tracemem::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
