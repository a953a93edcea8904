//! The verbs that move trace files in and out: `import`, `export` and
//! `replay-check`.

use std::io::Write;
use std::path::Path;

use tracemem::Database;
use tracemem::export::Format;
use tracemem::export::waveform::{self, Tick, WaveformOptions, fst::FstSink, vcd::VcdSink};
use tracemem::record::{
    ExportFormat, Op, ReplayError, ReplayMaster, ReplayMode, dropped_by_retention, export_trace,
    import_trace_with_progress, journal_path, parse_trace,
};

use crate::failure::{Failure, Outcome, begin_read, io, open, open_writer};
use crate::output::{json_string, progress_bar};
use crate::output_file;

use crate::query::{load_regmap, pick_capture};

/// Whether `path` is a file that is not a database (by its first bytes): a
/// trace file given where the database belongs.
fn is_trace_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head != b"redb")
}

/// `import DB FILE`; the older order `import FILE DB` still works, with a
/// warning: a first argument that is a trace file, and a second that is
/// not, were given in the older order.
pub fn import_either_order(
    first: &Path,
    second: &Path,
    capture: Option<String>,
    space: &str,
    tracks: bool,
    quiet: bool,
    out: &mut impl Write,
) -> Outcome {
    if is_trace_file(first) && !is_trace_file(second) && second != Path::new("-") {
        eprintln!(
            "tracemem: import: warning: the order FILE DB is deprecated; write `tracemem import {} {}`",
            second.display(),
            first.display()
        );
        return import(second, first, capture, space, tracks, quiet, out);
    }
    import(first, second, capture, space, tracks, quiet, out)
}

pub fn import(
    path: &Path,
    file: &Path,
    capture: Option<String>,
    space: &str,
    tracks: bool,
    quiet: bool,
    out: &mut impl Write,
) -> Outcome {
    if file == Path::new("-") {
        // Standard input, through a file beside the database (the import
        // reads its input twice: to check it, then to store it).
        let mut spooled = path.as_os_str().to_owned();
        spooled.push(".stdin-import");
        let spooled = std::path::PathBuf::from(spooled);
        let copied = std::fs::File::create(&spooled)
            .and_then(|mut f| std::io::copy(&mut std::io::stdin().lock(), &mut f).and_then(|_| f.sync_all()));
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&spooled);
            return Err(Failure::error("import: standard input", e));
        }
        let result = import(
            path,
            &spooled,
            Some(capture.unwrap_or_else(|| "stdin".into())),
            space,
            tracks,
            quiet,
            out,
        );
        let _ = std::fs::remove_file(&spooled);
        return result;
    }
    let name = match capture {
        Some(name) => name,
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| Failure::error("import", format!("{}: name the capture with --capture", file.display())))?,
    };
    crate::failure::refuse_while_recording(path, "import")?;
    let created = !path.exists();
    let db = if created {
        Database::builder()
            .shared(true)
            .create(path)
            .map_err(|e| Failure::error("creating the database", e))?
    } else {
        open_writer(path)?
    };
    if tracks {
        let mut txn = db.begin_write().map_err(|e| Failure::error("import", e))?;
        txn.keep_tracks()
            .and_then(|()| txn.commit())
            .map_err(|e| Failure::error("import", e))?;
    }
    let bar = progress_bar("{bar:40} {pos}/{len} events stored, {per_sec}", quiet);
    let imported = import_trace_with_progress(&db, file, &name, space, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = match imported {
        Ok(report) => report,
        Err(e) => {
            // A failed import leaves no new file behind.
            drop(db);
            if created {
                let _ = std::fs::remove_file(path);
            }
            return Err(Failure::error("import", e));
        }
    };
    for warning in &report.warnings {
        eprintln!("tracemem: warning: {warning}");
    }
    writeln!(
        out,
        "imported {} events into {}",
        report.events,
        report.captures.join(", ")
    )
    .map_err(io)?;
    Ok(())
}

/// What `export` is asked for.
#[derive(Debug)]
pub struct ExportRequest {
    /// `--capture`.
    pub capture: Option<String>,
    /// `--format` (or `json` for `--json`).
    pub format: Option<String>,
    /// `--source`.
    pub source: Option<String>,
    /// `--timescale`.
    pub timescale: String,
    /// `--time seq`.
    pub by_seq: bool,
    /// `--regmap`.
    pub regmap: Option<std::path::PathBuf>,
    /// `-o`.
    pub output: Option<std::path::PathBuf>,
    /// `--force`.
    pub force: bool,
    /// `--quiet`.
    pub quiet: bool,
}

pub fn export(path: &Path, request: &ExportRequest, out: &mut impl Write) -> Outcome {
    if let Some(target) = &request.output {
        output_file::refuse_inputs("export", target, &[path, &journal_path(path)])?;
    }
    let format = match (&request.format, &request.output) {
        (Some(name), _) => Format::parse(name),
        (None, Some(target)) => Format::of_path(target),
        (None, None) => Ok(Format::Ndjson),
    }
    .map_err(|e| Failure::error("export", e))?;
    let to_stdout = request.output.as_deref().is_none_or(|o| o == Path::new("-"));
    if format == Format::Parquet {
        return export_dataset(path, request, to_stdout, out);
    }
    if format == Format::Fst && to_stdout {
        return Err(Failure::error(
            "export",
            "an FST file is written to a file: give -o PATH.fst",
        ));
    }
    // Checked before the database is opened: the output may be the input.
    let mut file = match &request.output {
        Some(target) => output_file::create("export", target, &[path, &journal_path(path)], request.force)?,
        None => None,
    };
    let db = open(path)?;
    let read = begin_read(&db)?;
    let bar = progress_bar("{spinner} {bytes} written, {bytes_per_sec}", request.quiet);
    match format {
        Format::Ndjson | Format::Json => {
            let name = pick_capture(&read, request.capture.clone())?;
            for (capture, first_kept) in dropped_by_retention(&read, &name).map_err(|e| Failure::error("export", e))? {
                eprintln!(
                    "tracemem: export: capture '{capture}': events before {first_kept} were dropped by retention; the export starts at event {first_kept}"
                );
            }
            let trace_format = if format == Format::Json {
                ExportFormat::JsonArray
            } else {
                ExportFormat::Ndjson
            };
            // Buffered before the bar: it counts (and reads the clock) per write.
            let written = match &mut file {
                Some(file) => {
                    let mut sink = std::io::BufWriter::with_capacity(1 << 16, bar.wrap_write(file.writer()));
                    export_trace(&read, &name, trace_format, &mut sink).and_then(|n| {
                        sink.flush().map(|()| n).map_err(|source| tracemem::Error::Io {
                            path: "export".into(),
                            source,
                        })
                    })
                }
                None => {
                    let mut sink = std::io::BufWriter::with_capacity(1 << 16, bar.wrap_write(&mut *out));
                    export_trace(&read, &name, trace_format, &mut sink).and_then(|n| {
                        sink.flush().map(|()| n).map_err(|source| tracemem::Error::Io {
                            path: "standard output".into(),
                            source,
                        })
                    })
                }
            };
            written.map_err(|e| Failure::error("export", e))?;
        }
        _ => {
            let name = pick_session(&read, request.capture.as_deref())?;
            if let Ok(capture) = read.capture(&name) {
                crate::query::note_retention("export", [&capture]);
            }
            let options = WaveformOptions {
                tick: Tick::parse(&request.timescale).map_err(|e| Failure::error("--timescale", e))?,
                by_seq: request.by_seq,
                // Without --regmap, the writer names registers from the
                // stored bus register map.
                names: load_regmap(request.regmap.as_deref())?,
            };
            let place = request
                .output
                .as_deref()
                .map_or_else(|| "standard output".to_string(), |p| p.display().to_string());
            let sink: Box<dyn waveform::Sink + '_> = match (&mut file, format) {
                (Some(file), Format::Fst) => {
                    Box::new(FstSink::new(file.writer(), options.tick, place).map_err(|e| Failure::error("export", e))?)
                }
                (Some(file), _) => Box::new(VcdSink::new(
                    std::io::BufWriter::with_capacity(1 << 16, bar.wrap_write(file.writer())),
                    options.tick,
                    place,
                )),
                (None, _) => Box::new(VcdSink::new(
                    std::io::BufWriter::with_capacity(1 << 16, bar.wrap_write(&mut *out)),
                    options.tick,
                    place,
                )),
            };
            waveform::write(&read, &name, &options, sink).map_err(|e| Failure::error("export", e))?;
        }
    }
    if let Some(file) = file {
        file.finish("export")?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// `export --format parquet`: every capture (or `--capture NAME` with its
/// later sessions) into a Hive-partitioned dataset directory.
#[cfg(feature = "parquet")]
fn export_dataset(path: &Path, request: &ExportRequest, to_stdout: bool, out: &mut impl Write) -> Outcome {
    use tracemem::export::parquet::{ParquetOptions, write_dataset};
    let Some(target) = request.output.as_deref().filter(|_| !to_stdout) else {
        return Err(Failure::error(
            "export",
            "a Parquet dataset is a directory: give -o DIR",
        ));
    };
    if target
        .parent()
        .is_some_and(|p| !p.as_os_str().is_empty() && !p.is_dir())
    {
        return Err(Failure::error(
            format!("export: {}", target.display()),
            "its parent directory does not exist",
        ));
    }
    let db = open(path)?;
    let read = begin_read(&db)?;
    let captures = crate::query::chosen_captures(&read, request.capture.as_deref())?;
    crate::query::note_retention("export", &captures);
    let total: u64 = captures.iter().map(|c| c.events).sum();
    let source = request.source.clone().unwrap_or_else(|| {
        path.file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
    });
    let bar = progress_bar("{bar:40} {pos}/{len} events, {per_sec}", request.quiet);
    bar.set_length(total);
    let options = ParquetOptions {
        source,
        force: request.force,
        // Every capture: the other spaces (images, registers) too.
        other_spaces: request.capture.is_none(),
    };
    let report = write_dataset(&read, &captures, target, &options, &mut |n| bar.inc(n))
        .map_err(|e| Failure::error("export", e))?;
    bar.finish_and_clear();
    if !request.quiet {
        eprintln!(
            "tracemem: export: {} events, {} memory observations, {} marks in {} files under {}",
            report.events,
            report.observations,
            report.marks,
            report.files,
            target.display()
        );
    }
    let _ = out;
    Ok(())
}

#[cfg(not(feature = "parquet"))]
fn export_dataset(_: &Path, _: &ExportRequest, _: bool, _: &mut impl Write) -> Outcome {
    Err(Failure::error(
        "export",
        "this tracemem was built without Parquet (cargo feature `parquet`)",
    ))
}

/// The session a waveform shows: as named, or the database's only one.
fn pick_session(read: &tracemem::ReadTransaction, capture: Option<&str>) -> Result<String, Failure> {
    if let Some(name) = capture {
        return read
            .capture(name)
            .map(|c| c.name)
            .map_err(|e| Failure::error("--capture", e));
    }
    let names: Vec<String> = read
        .captures()
        .map_err(|e| Failure::error("captures", e))?
        .into_iter()
        .map(|c| c.name)
        .collect();
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(Failure::NothingFound("no captures".into())),
        many => Err(Failure::error(
            "--capture",
            format!("a waveform shows one session; name one of: {}", many.join(", ")),
        )),
    }
}

pub fn replay_check(
    path: &Path,
    capture: &str,
    file: &Path,
    loose: bool,
    exact: bool,
    out: &mut impl Write,
) -> Outcome {
    let db = open(path)?;
    let read = begin_read(&db)?;
    let recorded = read
        .capture(capture)
        .map_err(|e| Failure::error("replay-check", e))?
        .events;
    let mode = if loose { ReplayMode::Loose } else { ReplayMode::Strict };
    let mut replay = ReplayMaster::from_capture(&read, capture, mode).map_err(|e| Failure::error("replay-check", e))?;
    let text = std::fs::read(file).map_err(|e| Failure::error(file.display().to_string(), e))?;
    let shown = file
        .file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let run = parse_trace(&shown, &text).map_err(|e| Failure::error("replay-check", e))?;
    let mut checked = 0u64;
    for event in run.sessions.iter().flatten() {
        let width = event.width.unwrap_or(4);
        let result = match event.op {
            Op::Read => replay.replay_read(event.address, width).map(|_| ()),
            Op::Write => replay.replay_write(event.address, event.value, width),
        };
        match result {
            Ok(()) | Err(ReplayError::Recorded(_)) => checked += 1,
            Err(e) => {
                // The seed's message first, then the values where they differ.
                let mut line = format!("event {checked}: {e}");
                if let ReplayError::Mismatch(m) = &e
                    && let Some(expected) = &m.expected
                    && expected.value != event.value
                {
                    line.push_str(&format!(
                        "; the recording's value is {:#x}, the run's {:#x}",
                        expected.value, event.value
                    ));
                }
                writeln!(out, "{line}").map_err(io)?;
                return Err(Failure::Mismatch);
            }
        }
    }
    let capture = json_string(capture);
    if checked < recorded {
        let left = recorded - checked;
        writeln!(
            out,
            "replayed {checked} of {recorded} events of {capture}; {left} not requested"
        )
        .map_err(io)?;
        if exact {
            return Err(Failure::Mismatch);
        }
        return Ok(());
    }
    writeln!(out, "{checked} events replayed against {capture} without a mismatch").map_err(io)?;
    Ok(())
}
