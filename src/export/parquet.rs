//! A Parquet dataset of a database's captures, Hive-partitioned so that the
//! exports of many databases form one dataset (FORMAT.md gives the schema):
//!
//! ```text
//! OUT/events/source=DBFILE/capture=NAME/part-00000.parquet
//! OUT/memory/source=DBFILE/space=NAME/part-NNNNN.parquet   (one a capture)
//! OUT/marks/source=DBFILE/capture=NAME/part-00000.parquet
//! ```
//!
//! One session a partition (`NAME#2` is its own, written `NAME%232`); a
//! long capture is written by several threads, a part file each, in order.
//! Rows go in order of `seq` (events) and `(snap, address)` (memory), in
//! row groups of up to a million rows, zstd-compressed, with column
//! statistics and the sort order declared. Each source is written into a
//! staging folder beside the dataset and renamed into place: a failure
//! leaves no partial partition under its final name.
//!
//! The memory observations of a capture's space are its events' (only they
//! write it): each completed event's low `width` bytes in the capture's byte
//! order (KNOWN), each failed read's ERROR over its bytes. Those of a space
//! no capture records come from its change index: at each snap where it
//! changed, each run of bytes recorded KNOWN or ERROR there.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;

use crate::db::ReadTransaction;
use crate::db::capture::CaptureInfo;
use crate::vocab::error::{Error, Result};
use crate::vocab::trace::{Op, TraceEvent};

/// A string column's value over static bytes: no allocation and no
/// reference count a row.
fn word(text: &'static str) -> ByteArray {
    ByteArray::from(bytes::Bytes::from_static(text.as_bytes()))
}

/// The most rows of a row group.
const ROW_GROUP: usize = 1 << 20;
/// How many events are read at a time.
const PAGE: u64 = 4096;

const EVENTS_SCHEMA: &str = "message events {
  REQUIRED INT64 seq;
  REQUIRED INT64 snap;
  REQUIRED DOUBLE timestamp;
  REQUIRED BYTE_ARRAY op (STRING);
  REQUIRED INT64 address (INTEGER(64,false));
  OPTIONAL INT64 value (INTEGER(64,false));
  OPTIONAL INT32 width (INTEGER(8,false));
  OPTIONAL BYTE_ARRAY error (STRING);
  OPTIONAL BYTE_ARRAY register (STRING);
}";

const MEMORY_SCHEMA: &str = "message memory {
  REQUIRED INT64 snap;
  REQUIRED INT64 address (INTEGER(64,false));
  REQUIRED INT32 length (INTEGER(32,false));
  OPTIONAL BYTE_ARRAY bytes;
  REQUIRED BYTE_ARRAY state (STRING);
}";

const MARKS_SCHEMA: &str = "message marks {
  REQUIRED INT64 snap;
  OPTIONAL DOUBLE timestamp;
  REQUIRED BYTE_ARRAY text (STRING);
}";

/// The version of the dataset's layout and schema (FORMAT.md), stored in
/// each file's key-value metadata as `tracemem.dataset_version`.
pub const DATASET_VERSION: u32 = 2;

/// How a dataset export runs.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    /// The `source=` partition value: the database's file name by default.
    pub source: String,
    /// Replace this source's partitions if they exist (others are kept).
    pub force: bool,
    /// Also the observations of the spaces no capture records (images and
    /// registers written through the library), found through their change
    /// index.
    pub other_spaces: bool,
}

/// What a dataset export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParquetReport {
    /// Event rows.
    pub events: u64,
    /// Memory observation rows.
    pub observations: u64,
    /// Mark rows.
    pub marks: u64,
    /// Files written.
    pub files: u64,
}

/// A partition value as a path segment: every byte but ASCII letters,
/// digits, `.`, `_` and `-` percent-encoded (`small#2` is `small%232`).
pub fn partition_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn parquet_error(path: &Path, error: parquet::errors::ParquetError) -> Error {
    io_error(path, std::io::Error::other(error.to_string()))
}

fn properties(sorted_by: &[i32], deltas: &[&str]) -> Arc<WriterProperties> {
    let sorting = sorted_by
        .iter()
        .map(|&column_idx| SortingColumn {
            column_idx,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let mut builder = WriterProperties::builder();
    // Counters and sorted columns (seq, snap) take a few bits a row as deltas.
    for column in deltas {
        let path = parquet::schema::types::ColumnPath::from(*column);
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, parquet::basic::Encoding::DELTA_BINARY_PACKED);
    }
    Arc::new(
        builder
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_sorting_columns(Some(sorting))
            .set_created_by(concat!("tracemem ", env!("CARGO_PKG_VERSION")).to_string())
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                "tracemem.dataset_version".to_string(),
                DATASET_VERSION.to_string(),
            )]))
            .build(),
    )
}

/// One Parquet file being written, a row group at a time.
struct Table {
    writer: SerializedFileWriter<File>,
    path: PathBuf,
    rows: u64,
}

impl Table {
    fn create(path: PathBuf, schema: &str, sorted_by: &[i32], deltas: &[&str]) -> Result<Table> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        let schema = Arc::new(parse_message_type(schema).map_err(|e| parquet_error(&path, e))?);
        let file = File::create(&path).map_err(|e| io_error(&path, e))?;
        let writer = SerializedFileWriter::new(file, schema, properties(sorted_by, deltas))
            .map_err(|e| parquet_error(&path, e))?;
        Ok(Table { writer, path, rows: 0 })
    }

    /// Writes one row group of `rows` rows, calling `column` with each
    /// column's index and writer in schema order.
    fn write_group(
        &mut self,
        rows: usize,
        column: &mut dyn FnMut(usize, &mut SerializedColumnWriter<'_>) -> parquet::errors::Result<usize>,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        let path = self.path.clone();
        let e = |error| parquet_error(&path, error);
        let mut group = self.writer.next_row_group().map_err(e)?;
        let mut index = 0;
        while let Some(mut writer) = group.next_column().map_err(e)? {
            column(index, &mut writer).map_err(e)?;
            writer.close().map_err(e)?;
            index += 1;
        }
        group.close().map_err(e)?;
        self.rows += rows as u64;
        Ok(())
    }

    fn finish(self) -> Result<u64> {
        let path = self.path.clone();
        let file = self.writer.into_inner().map_err(|e| parquet_error(&path, e))?;
        file.sync_all().map_err(|e| io_error(&path, e))?;
        Ok(self.rows)
    }
}

/// The rows of the events table.
#[derive(Default)]
struct EventRows {
    seq: Vec<i64>,
    snap: Vec<i64>,
    timestamp: Vec<f64>,
    op: Vec<ByteArray>,
    address: Vec<i64>,
    value: Vec<i64>,
    value_defined: Vec<i16>,
    width: Vec<i32>,
    width_defined: Vec<i16>,
    error: Vec<ByteArray>,
    error_defined: Vec<i16>,
    register: Vec<ByteArray>,
    register_defined: Vec<i16>,
}

impl EventRows {
    fn len(&self) -> usize {
        self.seq.len()
    }

    /// Adds an event; `register` is the name of the register at its
    /// address, if the bus's register map names one.
    fn push(&mut self, seq: u64, snap: i64, event: &TraceEvent, register: Option<&ByteArray>) {
        match register {
            Some(name) => {
                self.register.push(name.clone());
                self.register_defined.push(1);
            }
            None => self.register_defined.push(0),
        }
        let failed_read = event.error.is_some() && event.op == Op::Read;
        self.seq.push(seq as i64);
        self.snap.push(snap);
        self.timestamp.push(event.timestamp);
        self.op.push(match event.op {
            Op::Read => word("read"),
            Op::Write => word("write"),
        });
        // Unsigned 64-bit columns are stored as their two's complement bits.
        self.address.push(event.address as i64);
        if failed_read {
            self.value_defined.push(0);
        } else {
            self.value.push(event.value as i64);
            self.value_defined.push(1);
        }
        match event.width {
            Some(width) => {
                self.width.push(i32::from(width));
                self.width_defined.push(1);
            }
            None => self.width_defined.push(0),
        }
        match &event.error {
            Some(text) => {
                self.error.push(ByteArray::from(text.as_str()));
                self.error_defined.push(1);
            }
            None => self.error_defined.push(0),
        }
    }

    fn write(&mut self, table: &mut Table) -> Result<()> {
        let rows = self.len();
        table.write_group(rows, &mut |index, column| match index {
            0 => column.typed::<Int64Type>().write_batch(&self.seq, None, None),
            1 => column.typed::<Int64Type>().write_batch(&self.snap, None, None),
            2 => column.typed::<DoubleType>().write_batch(&self.timestamp, None, None),
            3 => column.typed::<ByteArrayType>().write_batch(&self.op, None, None),
            4 => column.typed::<Int64Type>().write_batch(&self.address, None, None),
            5 => column
                .typed::<Int64Type>()
                .write_batch(&self.value, Some(&self.value_defined), None),
            6 => column
                .typed::<Int32Type>()
                .write_batch(&self.width, Some(&self.width_defined), None),
            7 => column
                .typed::<ByteArrayType>()
                .write_batch(&self.error, Some(&self.error_defined), None),
            _ => column
                .typed::<ByteArrayType>()
                .write_batch(&self.register, Some(&self.register_defined), None),
        })?;
        // Cleared, not replaced: the next group reuses the pages.
        for column in [&mut self.seq, &mut self.snap, &mut self.address, &mut self.value] {
            column.clear();
        }
        for column in [
            &mut self.value_defined,
            &mut self.width_defined,
            &mut self.error_defined,
            &mut self.register_defined,
        ] {
            column.clear();
        }
        self.timestamp.clear();
        self.op.clear();
        self.width.clear();
        self.error.clear();
        self.register.clear();
        Ok(())
    }
}

/// The rows of the memory table.
#[derive(Default)]
struct MemoryRows {
    snap: Vec<i64>,
    address: Vec<i64>,
    length: Vec<i32>,
    /// The observed bytes of every row, one after another (one buffer a
    /// row group rather than an allocation a row), and where each row's end.
    bytes_data: Vec<u8>,
    bytes_ends: Vec<usize>,
    bytes_defined: Vec<i16>,
    state: Vec<ByteArray>,
}

impl MemoryRows {
    fn len(&self) -> usize {
        self.snap.len()
    }

    /// The observation of `event` at `snap`, if it made one.
    fn push(&mut self, snap: i64, event: &TraceEvent, big_endian: bool) {
        let width = usize::from(event.memory_width());
        match (&event.error, event.op) {
            (Some(_), Op::Write) => return,
            (Some(_), Op::Read) => {
                self.bytes_defined.push(0);
                self.state.push(word("error"));
            }
            (None, _) => {
                if big_endian {
                    self.bytes_data
                        .extend_from_slice(&event.value.to_be_bytes()[8 - width..]);
                } else {
                    self.bytes_data.extend_from_slice(&event.value.to_le_bytes()[..width]);
                }
                self.bytes_ends.push(self.bytes_data.len());
                self.bytes_defined.push(1);
                self.state.push(word("known"));
            }
        }
        self.snap.push(snap);
        self.address.push(event.address as i64);
        self.length.push(width as i32);
    }

    /// The `bytes` column's values, slices of one shared buffer.
    fn byte_arrays(&mut self) -> Vec<ByteArray> {
        let all = bytes::Bytes::from(std::mem::take(&mut self.bytes_data));
        let mut start = 0;
        self.bytes_ends
            .iter()
            .map(|&end| {
                let slice = all.slice(start..end);
                start = end;
                ByteArray::from(slice)
            })
            .collect()
    }

    fn write(&mut self, table: &mut Table) -> Result<()> {
        let rows = self.len();
        let bytes = self.byte_arrays();
        table.write_group(rows, &mut |index, column| match index {
            0 => column.typed::<Int64Type>().write_batch(&self.snap, None, None),
            1 => column.typed::<Int64Type>().write_batch(&self.address, None, None),
            2 => column.typed::<Int32Type>().write_batch(&self.length, None, None),
            3 => column
                .typed::<ByteArrayType>()
                .write_batch(&bytes, Some(&self.bytes_defined), None),
            _ => column.typed::<ByteArrayType>().write_batch(&self.state, None, None),
        })?;
        // Cleared, not replaced: the next group reuses the pages.
        for column in [&mut self.snap, &mut self.address] {
            column.clear();
        }
        self.length.clear();
        self.bytes_ends.clear();
        self.bytes_defined.clear();
        self.state.clear();
        Ok(())
    }
}

/// Writes the marks of `capture` (snap, the timestamp of the event there,
/// text) into `path`; returns how many.
fn write_marks(read: &ReadTransaction, capture: &CaptureInfo, path: PathBuf) -> Result<u64> {
    let marks = read.marks(capture)?;
    let mut table = Table::create(path, MARKS_SCHEMA, &[0], &[])?;
    let (mut snaps, mut times, mut defined, mut texts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (snap, text) in &marks {
        let seq = read.seq_from_snap(capture, *snap)?;
        let at = match read.event_snap(capture, seq)? {
            Some(at) if at == *snap => read.events(&capture.name, seq..seq + 1)?,
            _ => Vec::new(),
        };
        snaps.push(*snap);
        match at.first() {
            Some(event) => {
                times.push(event.timestamp);
                defined.push(1);
            }
            None => defined.push(0),
        }
        texts.push(ByteArray::from(text.as_str()));
    }
    table.write_group(marks.len(), &mut |index, column| match index {
        0 => column.typed::<Int64Type>().write_batch(&snaps, None, None),
        1 => column.typed::<DoubleType>().write_batch(&times, Some(&defined), None),
        _ => column.typed::<ByteArrayType>().write_batch(&texts, None, None),
    })?;
    table.finish()
}

/// The snaps in `(lo, hi]` at which `mem` recorded something, ascending:
/// halving the interval while its change index says something changed.
fn snaps_with_changes(mem: &crate::memory::MemorySpace<'_>, lo: i128, hi: i128, out: &mut Vec<i64>) -> Result<()> {
    use crate::memory::MemoryRead;
    if lo >= hi || mem.changes(lo as i64, hi as i64)?.is_empty() {
        return Ok(());
    }
    if hi - lo == 1 {
        out.push(hi as i64);
        return Ok(());
    }
    let mid = lo + (hi - lo) / 2;
    snaps_with_changes(mem, lo, mid, out)?;
    snaps_with_changes(mem, mid, hi, out)
}

/// Writes the observations of space `name` (which no capture records) into
/// the part file at `path`; returns how many rows.
fn write_space_observations(read: &ReadTransaction, name: &str, path: PathBuf) -> Result<u64> {
    use crate::memory::MemoryRead;
    use crate::vocab::types::MemState;
    let mem = read.space(name)?;
    let mut snaps = Vec::new();
    snaps_with_changes(&mem, i128::from(i64::MIN), i128::from(i64::MAX), &mut snaps)?;
    let mut table = Table::create(path, MEMORY_SCHEMA, &[0, 1], &["snap"])?;
    let mut rows = MemoryRows::default();
    for snap in snaps {
        let changed = mem.changes(snap - 1, snap)?;
        for range in changed.iter() {
            for run in mem.states(snap, range)? {
                let length = run.range.len();
                let state = match run.state {
                    MemState::Known => {
                        let start = rows.bytes_data.len();
                        rows.bytes_data.resize(start + usize::try_from(length).unwrap_or(0), 0);
                        mem.get_bytes(snap, run.range.min(), &mut rows.bytes_data[start..])?;
                        rows.bytes_ends.push(rows.bytes_data.len());
                        rows.bytes_defined.push(1);
                        "known"
                    }
                    MemState::Error => {
                        rows.bytes_defined.push(0);
                        "error"
                    }
                    MemState::Unknown => continue,
                };
                rows.snap.push(snap);
                rows.address.push(run.range.min() as i64);
                rows.length.push(i32::try_from(length).unwrap_or(i32::MAX));
                rows.state.push(word(state));
                if rows.len() >= ROW_GROUP {
                    rows.write(&mut table)?;
                }
            }
        }
    }
    rows.write(&mut table)?;
    table.finish()
}

/// Writes the captures `captures` of the database into the dataset at `out`
/// (created if its parent exists) as source `options.source`.
pub fn write_dataset(
    read: &ReadTransaction,
    captures: &[CaptureInfo],
    out: &Path,
    options: &ParquetOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<ParquetReport> {
    let source = format!("source={}", partition_value(&options.source));
    let kinds = ["events", "memory", "marks"];
    if !options.force {
        for kind in kinds {
            let existing = out.join(kind).join(&source);
            if existing.exists() {
                return Err(Error::InvalidArgument {
                    argument: "output",
                    reason: format!(
                        "{}: the source's partitions exist; pass --force to replace them",
                        existing.display()
                    ),
                });
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| io_error(out, e))?;
    let staging = out.join(format!(".staging-{}", std::process::id()));
    let written = write_staged(read, captures, &staging, &source, progress).and_then(|mut report| {
        if options.other_spaces {
            let all = read.captures()?;
            for name in read.spaces()? {
                if all.iter().any(|c| c.space == name) {
                    continue;
                }
                let path = staging
                    .join("memory")
                    .join(&source)
                    .join(format!("space={}", partition_value(&name)))
                    .join("part-00000.parquet");
                report.observations += write_space_observations(read, &name, path)?;
                report.files += 1;
            }
        }
        Ok(report)
    });
    let report = match written {
        Ok(report) => report,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    for kind in kinds {
        let from = staging.join(kind).join(&source);
        let to = out.join(kind).join(&source);
        if to.exists() {
            std::fs::remove_dir_all(&to).map_err(|e| io_error(&to, e))?;
        }
        if from.exists() {
            std::fs::create_dir_all(out.join(kind)).map_err(|e| io_error(out, e))?;
            std::fs::rename(&from, &to).map_err(|e| io_error(&to, e))?;
        }
    }
    std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    Ok(report)
}

/// The events of a capture are split into this many runs of consecutive
/// events, each written by a thread of its own into a part file of its own,
/// when the capture is long enough to gain from it.
fn runs_of(events: u64) -> u64 {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    if events >= 200_000 { threads.clamp(1, 4) } else { 1 }
}

/// Writes events `seqs` of `capture` into the part files `events_path` and
/// `memory_path`; returns the rows of each.
fn write_run(
    read: &ReadTransaction,
    capture: &CaptureInfo,
    seqs: std::ops::Range<u64>,
    events_path: PathBuf,
    memory_path: PathBuf,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(u64, u64)> {
    let mut events = Table::create(events_path, EVENTS_SCHEMA, &[0], &["seq", "snap"])?;
    let mut memory = Table::create(memory_path, MEMORY_SCHEMA, &[0, 1], &["snap"])?;
    let (mut event_rows, mut memory_rows) = (EventRows::default(), MemoryRows::default());
    // The names of the bus's registers, by their first byte's address.
    let names: std::collections::HashMap<u64, ByteArray> = read
        .bus_map(&capture.space)?
        .iter()
        .map(|r| (r.address, ByteArray::from(r.name.as_str())))
        .collect();
    let mut seq = seqs.start;
    while seq < seqs.end {
        let page = read.events_with_snaps(&capture.name, seq..(seq + PAGE).min(seqs.end))?;
        if page.is_empty() {
            break;
        }
        for (snap, event) in &page {
            let snap = *snap;
            let register = if names.is_empty() {
                None
            } else {
                names.get(&event.address)
            };
            event_rows.push(seq, snap, event, register);
            memory_rows.push(snap, event, capture.big_endian);
            seq += 1;
        }
        if event_rows.len() >= ROW_GROUP {
            event_rows.write(&mut events)?;
        }
        if memory_rows.len() >= ROW_GROUP {
            memory_rows.write(&mut memory)?;
        }
        progress(page.len() as u64);
    }
    event_rows.write(&mut events)?;
    memory_rows.write(&mut memory)?;
    Ok((events.finish()?, memory.finish()?))
}

fn write_staged(
    read: &ReadTransaction,
    captures: &[CaptureInfo],
    staging: &Path,
    source: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<ParquetReport> {
    let mut report = ParquetReport::default();
    let mut parts_of_space: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    let done = std::sync::atomic::AtomicU64::new(0);
    for capture in captures {
        let capture_part = format!("capture={}", partition_value(&capture.name));
        // From the capture's horizon: retention dropped what came before,
        // and `seq` stays absolute.
        let kept = capture.kept();
        let runs = runs_of(kept.end - kept.start);
        let per_run = (kept.end - kept.start).div_ceil(runs.max(1)).max(1);
        let mut jobs = Vec::new();
        for run in 0..runs {
            let seqs = (kept.start + run * per_run).min(kept.end)..(kept.start + (run + 1) * per_run).min(kept.end);
            let events_path = staging
                .join("events")
                .join(source)
                .join(&capture_part)
                .join(format!("part-{run:05}.parquet"));
            let part = parts_of_space.entry(capture.space.clone()).or_insert(0);
            let memory_path = staging
                .join("memory")
                .join(source)
                .join(format!("space={}", partition_value(&capture.space)))
                .join(format!("part-{part:05}.parquet"));
            *part += 1;
            jobs.push((seqs, events_path, memory_path));
        }
        // Runs of one capture in parallel, each into its own part files.
        let count = |n: u64| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let results: Vec<Result<(u64, u64)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(seqs, events_path, memory_path)| {
                    let count = &count;
                    scope.spawn(move || write_run(read, capture, seqs, events_path, memory_path, count))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::corrupt(
                            format!("capture '{}'", capture.name),
                            "a thread of the Parquet export stopped",
                        ))
                    })
                })
                .collect()
        });
        for result in results {
            let (events, observations) = result?;
            report.events += events;
            report.observations += observations;
            report.files += 2;
        }
        progress(done.swap(0, std::sync::atomic::Ordering::Relaxed));
        let marks_path = staging
            .join("marks")
            .join(source)
            .join(&capture_part)
            .join("part-00000.parquet");
        report.marks += write_marks(read, capture, marks_path)?;
        report.files += 1;
    }
    Ok(report)
}
