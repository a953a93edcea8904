//! Recording and replay: the recorder and its durability policies, captures, live readers beside a recorder, and concurrent readers and writers.
//!
//! One test binary; each module was a test file of its own.

mod captures;
mod concurrency;
mod live_readers;
mod read_back;
mod recorder;
mod retention;
mod several_buses;
mod timeline;
