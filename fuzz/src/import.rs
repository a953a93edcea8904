//! Arbitrary bytes as a trace file through the importer: an error or
//! events, never a panic. What imports is exported again (NDJSON and the
//! JSON array) and imported again, giving the same sessions; small traces
//! are also stored as captures in a database in memory and read back.

use super::backend::MemStorage;
use tracemem::record::interchange::session_events;
use tracemem::record::{ExportFormat, export_trace, parse_trace, write_json_array, write_ndjson};
use tracemem::{CaptureSpec, Database};

/// The largest input tried: parsing is linear, and libFuzzer's inputs
/// stay far below this unless asked (`-max_len`).
const MAX_INPUT: usize = 256 << 10;
/// Traces of at most this many events are also stored in a database.
const MAX_STORED: usize = 256;

/// Imports `data`: its first byte picks the file name, the rest is the text.
pub fn run(data: &[u8]) {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    if text.len() > MAX_INPUT {
        return;
    }
    // The name decides the layout: `.ndjson` is always lines; otherwise
    // text that starts with `[` is one array.
    let name = ["trace.ndjson", "run.log", "trace.json", "TRACE.JSONL"][usize::from(selector % 4)];
    let Ok(parsed) = parse_trace(name, text) else { return };
    let events: Vec<_> = parsed.events().cloned().collect();
    assert!(parsed.sessions.iter().all(|s| !s.is_empty()));
    for event in &events {
        assert!(event.timestamp.is_finite());
        assert!(event.width.is_none_or(|w| (1..=8).contains(&w)), "{event:?}");
    }
    if events.is_empty() {
        // `[]`, or only a torn line that was dropped: nothing to export
        // (an empty file is not a trace).
        return;
    }
    // What imports exports, and imports again as the same sessions.
    let mut ndjson = Vec::new();
    write_ndjson(&events, &mut ndjson).unwrap();
    let again = parse_trace("again.ndjson", &ndjson).unwrap();
    assert_eq!(again.sessions, parsed.sessions);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let mut array = Vec::new();
    write_json_array(&events, &mut array).unwrap();
    let again = parse_trace("again.json", &array).unwrap();
    assert_eq!(again.sessions, parsed.sessions);
    // Export of an export is byte for byte the same.
    let mut twice = Vec::new();
    write_ndjson(&again.events().cloned().collect::<Vec<_>>(), &mut twice).unwrap();
    assert_eq!(twice, ndjson);
    if events.len() > MAX_STORED {
        return;
    }
    // Stored as captures, as `import_trace` does, and read back.
    let db = Database::builder()
        .create_with_backend(MemStorage::new(), "import.tmdb")
        .unwrap();
    let mut txn = db.begin_write().unwrap();
    for (index, session) in parsed.sessions.iter().enumerate() {
        let capture = tracemem::record::interchange::session_name("t", index);
        txn.create_capture(&CaptureSpec::new(&capture)).unwrap();
        txn.append_events(&capture, session).unwrap();
    }
    txn.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(session_events(&read, "t").unwrap(), events);
    let mut exported = Vec::new();
    export_trace(&read, "t", ExportFormat::Ndjson, &mut exported).unwrap();
    assert_eq!(exported, ndjson);
    let report = db.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
