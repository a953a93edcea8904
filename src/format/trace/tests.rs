//! The importer and exporters against the seed recorder's files and messages.

use super::write::write_json_string;
use super::*;
use crate::format::test_util::python3;
use crate::vocab::trace::{Op, Problem};

/// The reference generator of the W1 soak trace, kept in the repository.
const GEN_SOAK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gen_soak.py");

fn event(op: Op, address: u64, value: u64, width: Option<u8>, timestamp: f64) -> TraceEvent {
    TraceEvent {
        op,
        address,
        value,
        width,
        timestamp,
        error: None,
    }
}

fn ndjson(events: &[TraceEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    write_ndjson(events, &mut out).expect("export to memory");
    out
}

fn json_array(events: &[TraceEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    write_json_array(events, &mut out).expect("export to memory");
    out
}

fn all_events(trace: &ParsedTrace) -> Vec<TraceEvent> {
    trace.events().cloned().collect()
}

/// Runs the soak generator into `dir/file`.
fn generate(dir: &tempfile::TempDir, file: &str, seed: u32, json: bool) -> Vec<u8> {
    let path = dir.path().join(file);
    let seed = seed.to_string();
    let out = path.to_string_lossy().into_owned();
    let mut args = vec![GEN_SOAK, "20000", "--seed", &seed, "--out", &out];
    if json {
        args.push("--json");
    }
    python3(&args);
    std::fs::read(&path).expect("read the generated trace")
}

#[test]
fn soak_ndjson_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = generate(&dir, "soak.ndjson", 3, false);
    let trace = parse_trace("soak.ndjson", &input).expect("import");
    assert!(trace.warnings.is_empty());
    assert_eq!(trace.sessions.len(), 1);
    assert_eq!(trace.sessions[0].len(), 20_000);
    assert_eq!(ndjson(&trace.sessions[0]), input);
}

#[test]
fn soak_json_array_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = generate(&dir, "soak.json", 3, true);
    assert_eq!(TraceFormat::detect("soak.json", &input), TraceFormat::JsonArray);
    let trace = parse_trace("soak.json", &input).expect("import");
    assert!(trace.warnings.is_empty());
    assert_eq!(trace.sessions.len(), 1);
    assert_eq!(trace.sessions[0].len(), 20_000);
    assert_eq!(json_array(&trace.sessions[0]), input);
}

#[test]
fn appended_sessions_split_and_round_trip() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let first = generate(&dir, "a.ndjson", 3, false);
    let second = generate(&dir, "b.ndjson", 4, false);
    let input = [first.as_slice(), second.as_slice()].concat();
    let trace = parse_trace("both.ndjson", &input).expect("import");
    assert_eq!(trace.sessions.len(), 2);
    assert_eq!(trace.sessions[0].len(), 20_000);
    assert_eq!(trace.sessions[1].len(), 20_000);
    assert_eq!(ndjson(&trace.sessions[0]), first);
    assert_eq!(ndjson(&all_events(&trace)), input);
}

#[test]
fn soak_with_a_torn_last_line_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = generate(&dir, "soak.ndjson", 3, false);
    let torn = &input[..input.len() - 30];
    let trace = parse_trace("run.ndjson", torn).expect("import");
    assert_eq!(trace.sessions[0].len(), 19_999);
    assert_eq!(trace.warnings.len(), 1);
    assert!(trace.warnings[0].starts_with("run.ndjson:20000: dropped a torn last line"));
    let kept = torn.iter().rposition(|&b| b == b'\n').expect("a newline") + 1;
    assert_eq!(ndjson(&trace.sessions[0]), &torn[..kept]);
}

const TRICKY: &[&str] = &[
    r#"he said "stop""#,
    r"C:\path\to\file",
    "line one\nline two",
    "tab\there",
    "\u{1}",
    "caf\u{e9}",
    "\u{1f600}",
    "\u{0}\u{8}\u{c}\r\u{1f}\u{7f}\u{80}",
    "\u{2028}\u{ffff}\u{10ffff}",
    "mixed \"\\ \u{e9}\u{1f600}\n\t",
    "",
];

#[test]
fn string_escaping_matches_python() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = dir.path().join("strings.txt");
    let hex: String = TRICKY
        .iter()
        .map(|s| s.bytes().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    std::fs::write(&input, hex).expect("write the strings");
    let script = "import json, sys\n\
                  for line in open(sys.argv[1]):\n    \
                      s = bytes.fromhex(line.strip()).decode('utf-8')\n    \
                      print(json.dumps(s))\n    \
                      print(json.dumps({'op': 'read', 'address': 16, 'value': 255, \
                                        'width': 1, 'timestamp': 2.5e-06, 'error': s}))\n";
    let stdout = python3(&["-c", script, &input.to_string_lossy()]);
    let mut expected = stdout.lines();
    for &s in TRICKY {
        let mut ours = Vec::new();
        write_json_string(&mut ours, s).expect("escape to memory");
        assert_eq!(String::from_utf8_lossy(&ours), expected.next().unwrap_or(""), "{s:?}");
        let failed = TraceEvent {
            error: Some(s.to_owned()),
            ..event(Op::Read, 16, 255, Some(1), 2.5e-6)
        };
        let line = ndjson(std::slice::from_ref(&failed));
        assert_eq!(
            String::from_utf8_lossy(&line),
            format!("{}\n", expected.next().unwrap_or(""))
        );
        let back = parse_trace("e.ndjson", &line).expect("import");
        assert_eq!(all_events(&back), [failed]);
    }
}

#[test]
fn json_array_layout_matches_python_indent_2() {
    let events = [
        event(Op::Write, 0x4000_0000, 66, Some(4), 1.1e-5),
        TraceEvent {
            error: Some("bus \"timeout\"".into()),
            ..event(Op::Read, 8, 0, None, 2.0)
        },
    ];
    let expected = "[\n  {\n    \"op\": \"write\",\n    \"address\": 1073741824,\n    \
                    \"value\": 66,\n    \"width\": 4,\n    \"timestamp\": 1.1e-05\n  },\n  \
                    {\n    \"op\": \"read\",\n    \"address\": 8,\n    \"value\": 0,\n    \
                    \"timestamp\": 2.0,\n    \"error\": \"bus \\\"timeout\\\"\"\n  }\n]";
    assert_eq!(String::from_utf8_lossy(&json_array(&events)), expected);
    assert_eq!(json_array(&[]), b"[]");
    assert_eq!(ndjson(&[]), b"");
    let back = parse_trace("t.json", expected.as_bytes()).expect("import");
    assert_eq!(all_events(&back), events);
}

#[test]
fn export_refuses_a_non_finite_timestamp_before_writing() {
    let events = [
        event(Op::Read, 0, 0, Some(4), 0.0),
        event(Op::Read, 0, 0, Some(4), f64::NAN),
    ];
    let mut out = Vec::new();
    let err = write_ndjson(&events, &mut out).expect_err("NaN timestamp");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("event 2"), "{err}");
    assert!(out.is_empty());
    assert!(write_json_array(&events, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn sessions_split_only_when_time_goes_backwards() {
    let text = b"{\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 1.0}\n\
                 {\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 1.0}\n\
                 {\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 0.5}\n\
                 {\"op\": \"read\", \"address\": 0, \"value\": 0, \"timestamp\": 7}\n";
    let trace = parse_trace("s.ndjson", text).expect("import");
    let lengths: Vec<usize> = trace.sessions.iter().map(Vec::len).collect();
    assert_eq!(lengths, [2, 2]);
    assert_eq!(trace.sessions[1][1].timestamp, 7.0);
}

#[test]
fn line_layout_accepts_blank_lines_and_crlf() {
    let text = b"\r\n{\"op\": \"write\", \"address\": 4, \"value\": 9, \"width\": 2, \"timestamp\": 0.25}\r\n\
                 \n   \n{\"timestamp\": 0.5, \"value\": 1, \"address\": 8, \"op\": \"read\"}\r\n";
    let trace = parse_trace("run.log", text).expect("import");
    assert_eq!(
        all_events(&trace),
        [event(Op::Write, 4, 9, Some(2), 0.25), event(Op::Read, 8, 1, None, 0.5)]
    );
}

#[test]
fn events_without_width_keep_none_and_export_without_it() {
    let text = "{\"op\": \"read\", \"address\": 16, \"value\": 3, \"timestamp\": 1e-06}\n\
                {\"op\": \"write\", \"address\": 18446744073709551612, \"value\": 4294967296, \"timestamp\": 2e-06}\n";
    let trace = parse_trace("old.ndjson", text.as_bytes()).expect("import");
    let events = all_events(&trace);
    assert!(events.iter().all(|e| e.width.is_none()));
    assert_eq!(events[1].value, 1 << 32, "a value wider than the access is kept");
    assert_eq!(ndjson(&events), text.as_bytes());
}

#[test]
fn array_errors_name_the_event_and_its_line() {
    let good = r#"{"op": "read", "address": 0, "value": 0, "width": 4, "timestamp": 0.0}"#;
    let text = format!("[\n  {good},\n  {{\n    \"op\": \"rd\"\n  }}\n]");
    let err = parse_trace("trace.json", text.as_bytes()).expect_err("bad op");
    assert_eq!(
        err.to_string(),
        r#"trace.json:3: event 2: field 'op': expected "read" or "write", got "rd""#
    );
    let err = parse_trace("trace.json", b"[\n  {},\n  {,}\n]").expect_err("syntax");
    assert_eq!(
        err.to_string(),
        "trace.json:3: not JSON: key must be a string at column 4"
    );
}

enum Expect {
    /// The import fails with a message containing this.
    Error(&'static str),
    /// The import succeeds with this many events and one warning containing this.
    Warning(&'static str, usize),
    /// The import succeeds with this many events and no warning.
    Events(usize),
}

const GOOD: &str = r#"{"op": "write", "address": 1073741824, "value": 66, "width": 4, "timestamp": 1.1e-05}"#;

/// `GOOD` with the value of `key` replaced by `new`, or with `"key": new`
/// appended when `GOOD` has no such key.
fn with(key: &str, new: &str) -> String {
    let Some(at) = GOOD.find(&format!("\"{key}\": ")) else {
        return format!("{}, \"{key}\": {new}}}", &GOOD[..GOOD.len() - 1]);
    };
    let start = at + key.len() + 4;
    let end = start + GOOD[start..].find([',', '}']).expect("a value end");
    format!("{}{new}{}", &GOOD[..start], &GOOD[end..])
}

fn lines(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn bad_input_catalogue() {
    let torn = format!("{GOOD}\n{GOOD}\n{}", &GOOD[..40]);
    let long_line = format!("{GOOD}\n{{\"op\": \"{}\"}}\n", "x".repeat(2 << 20));
    let mut bad_utf8 = lines(&[GOOD]);
    bad_utf8.extend_from_slice(b"{\"op\": \"wr\xffite\"}\n");
    let mut torn_utf8 = lines(&[GOOD]);
    let accented = with("error", "\"caf\u{e9}\"");
    let cut = accented.find('\u{e9}').expect("an é") + 1;
    torn_utf8.extend_from_slice(&accented.as_bytes()[..cut]);
    let deep_open = "[".repeat(100_000);
    let deep_balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_value = format!(r#"{{"op": {deep_balanced}}}"#);

    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("trace.ndjson", lines(&[&with("width", "0")]),
         Expect::Error("trace.ndjson:1: field 'width': 0 is not in 1..=8")),
        ("trace.ndjson", lines(&[GOOD, GOOD, &with("width", "9")]),
         Expect::Error("trace.ndjson:3: field 'width': 9 is not in 1..=8")),
        ("trace.ndjson", lines(&[&with("width", "256")]),
         Expect::Error("field 'width': 256 is not in 1..=8")),
        ("trace.ndjson", lines(&[&with("width", "4.0")]),
         Expect::Error("field 'width': expected an integer, got 4.0")),
        ("trace.ndjson", lines(&[&with("address", "-1")]),
         Expect::Error("field 'address': -1 is not in 0..=18446744073709551615")),
        ("trace.ndjson", lines(&[&with("address", "18446744073709551616")]),
         Expect::Error("field 'address': 18446744073709551616 is not in 0..=18446744073709551615")),
        ("trace.ndjson", lines(&[&with("address", "\"0x10\"")]),
         Expect::Error(r#"field 'address': expected an integer, got "0x10""#)),
        ("trace.ndjson", lines(&[&with("value", "1.5")]),
         Expect::Error("trace.ndjson:1: field 'value': expected an integer, got 1.5")),
        ("trace.ndjson", lines(&[&with("value", "1e3")]),
         Expect::Error("field 'value': expected an integer, got 1e3")),
        ("trace.ndjson", lines(&[&with("value", "true")]),
         Expect::Error("field 'value': expected an integer, got true")),
        ("trace.ndjson", lines(&[&with("value", "null")]),
         Expect::Error("field 'value': expected an integer, got null")),
        ("trace.ndjson", lines(&[GOOD, GOOD, GOOD, GOOD, &with("op", "\"rd\"")]),
         Expect::Error(r#"trace.ndjson:5: field 'op': expected "read" or "write", got "rd""#)),
        ("trace.ndjson", lines(&[&with("op", "[1]")]),
         Expect::Error(r#"field 'op': expected "read" or "write", got an array"#)),
        ("trace.ndjson", lines(&[&GOOD.replace(r#""op": "write", "#, "")]),
         Expect::Error("trace.ndjson:1: missing field 'op'")),
        ("trace.ndjson", lines(&[&GOOD.replace(r#", "timestamp": 1.1e-05"#, "")]),
         Expect::Error("missing field 'timestamp'")),
        ("trace.ndjson", lines(&[&with("timestamp", "NaN")]),
         Expect::Error("trace.ndjson:1: field 'timestamp': NaN is not a finite number")),
        ("trace.ndjson", lines(&[GOOD, &with("timestamp", "Infinity")]),
         Expect::Error("trace.ndjson:2: field 'timestamp': Infinity is not a finite number")),
        ("trace.ndjson", lines(&[&with("timestamp", "-Infinity")]),
         Expect::Error("trace.ndjson:1: field 'timestamp': -Infinity is not a finite number")),
        ("trace.json", format!("[\n{GOOD},\n{}\n]", with("timestamp", " NaN")).into_bytes(),
         Expect::Error("trace.json:3: field 'timestamp': NaN is not a finite number")),
        ("trace.ndjson", lines(&[&with("value", "NaN")]),
         Expect::Error("trace.ndjson:1: field 'value': NaN is not a finite number")),
        ("trace.ndjson", lines(&[&GOOD.replace("}", r#", "note": NaN}"#)]),
         Expect::Error("trace.ndjson:1: not JSON: expected value")),
        ("trace.ndjson", lines(&[&with("timestamp", "Nope")]),
         Expect::Error("trace.ndjson:1: not JSON: expected value")),
        ("trace.ndjson", lines(&[&with("timestamp", "\"1.0\"")]),
         Expect::Error(r#"field 'timestamp': expected a number, got "1.0""#)),
        ("trace.ndjson", lines(&[&with("timestamp", "1e999")]),
         Expect::Error("field 'timestamp': 1e999 is out of range for a double")),
        ("trace.ndjson", lines(&[&GOOD.replace(r#""width": 4"#, r#""width": 4, "op": "read""#)]),
         Expect::Error("trace.ndjson:1: duplicate field 'op'")),
        ("trace.ndjson", lines(&[&GOOD.replace(r#""width": 4"#, r#""size": 4"#)]),
         Expect::Error("trace.ndjson:1: unknown field 'size'")),
        ("trace.ndjson", lines(&[&with("error", "null")]),
         Expect::Error("field 'error': expected a string, got null")),
        ("trace.ndjson", lines(&[&with("error", r#""\ud800""#)]),
         Expect::Error("field 'error': not a valid string: ")),
        ("trace.ndjson", lines(&[&with("address", "18446744073709551615").replace(r#""width": 4"#, r#""width": 8"#)]),
         Expect::Error("field 'address': a 8-byte access at 0xffffffffffffffff ends past 0xffffffffffffffff")),
        ("trace.ndjson", lines(&[&with("address", "18446744073709551608").replace(r#""width": 4"#, r#""width": 8"#)]),
         Expect::Events(1)),
        ("trace.ndjson", lines(&[&with("address", "18446744073709551613").replace(r#", "width": 4"#, "")]),
         Expect::Error("a 4-byte access at 0xfffffffffffffffd ends past")),
        ("trace.ndjson", long_line.into_bytes(),
         Expect::Error("trace.ndjson:2: line longer than 1 MiB")),
        ("trace.ndjson", bad_utf8.clone(),
         Expect::Error("trace.ndjson:2: invalid UTF-8 at column 11")),
        ("trace.json", [b"[".as_slice(), &bad_utf8, b"]"].concat(),
         Expect::Error("trace.json:2: invalid UTF-8 at column 11")),
        ("trace.json", deep_open.clone().into_bytes(),
         Expect::Error("trace.json:1: not JSON: EOF while parsing")),
        ("trace.json", deep_balanced.into_bytes(),
         Expect::Error("trace.json:1: event 1: expected a JSON object, got an array")),
        ("trace.ndjson", deep_open.into_bytes(),
         Expect::Error("trace.ndjson:1: expected a JSON object, got an array")),
        ("trace.ndjson", deep_value.into_bytes(),
         Expect::Error(r#"field 'op': expected "read" or "write", got an array"#)),
        ("trace.ndjson", b"".to_vec(),
         Expect::Error("trace.ndjson: empty trace")),
        ("trace.json", b" \n\t\r\n ".to_vec(),
         Expect::Error("trace.json: empty trace")),
        ("trace.json", b"[]".to_vec(),
         Expect::Events(0)),
        ("run.log", b"hello world".to_vec(),
         Expect::Error("run.log:1: not JSON: expected value at column 1")),
        ("run.log", lines(&[GOOD, "42"]),
         Expect::Error("run.log:2: expected a JSON object, got a number")),
        ("run.log", lines(&[&format!("{GOOD} {{}}")]),
         Expect::Error("run.log:1: not JSON: trailing characters")),
        ("run.ndjson", torn.clone().into_bytes(),
         Expect::Warning("run.ndjson:3: dropped a torn last line (no final newline): not JSON: EOF while parsing", 2)),
        ("run.ndjson", format!("{torn}\n").into_bytes(),
         Expect::Error("run.ndjson:3: not JSON: EOF while parsing")),
        ("run.ndjson", torn_utf8,
         Expect::Warning("run.ndjson:2: dropped a torn last line", 1)),
        ("run.ndjson", GOOD.as_bytes()[..10].to_vec(),
         Expect::Warning("run.ndjson:1: dropped a torn last line", 0)),
        ("run.ndjson", format!("{GOOD}\n{}", with("op", "\"rd\"")).into_bytes(),
         Expect::Error(r#"run.ndjson:2: field 'op': expected "read" or "write", got "rd""#)),
        ("run.ndjson", format!("{GOOD}\n{GOOD}x").into_bytes(),
         Expect::Error("run.ndjson:2: not JSON: trailing characters")),
        ("old.ndjson", lines(&[&GOOD.replace(r#", "width": 4"#, "")]),
         Expect::Events(1)),
    ];

    let mut failures = Vec::new();
    for (index, (name, content, expect)) in rows.iter().enumerate() {
        let outcome = parse_trace(name, content);
        let ok = match (expect, &outcome) {
            (Expect::Error(want), Err(err)) => err.to_string().contains(want),
            (Expect::Warning(want, n), Ok(trace)) => {
                trace.warnings.len() == 1 && trace.warnings[0].contains(want) && trace.events().count() == *n
            }
            (Expect::Events(n), Ok(trace)) => trace.warnings.is_empty() && trace.events().count() == *n,
            _ => false,
        };
        if !ok {
            let got = match &outcome {
                Ok(trace) => format!("Ok: {} events, warnings {:?}", trace.events().count(), trace.warnings),
                Err(err) => format!("Err: {err}"),
            };
            failures.push(format!(
                "row {index} ({name}): {}",
                got.chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn errors_are_typed() {
    let err = parse_trace("t.ndjson", lines(&[&with("width", "9")]).as_slice()).expect_err("width 9");
    let TraceError::Malformed { at, problem } = err else {
        panic!("{err:?}")
    };
    assert_eq!((at.file.as_str(), at.line, at.event), ("t.ndjson", Some(1), None));
    assert_eq!(
        problem,
        Problem::BadField {
            field: "width",
            reason: "9 is not in 1..=8".into()
        }
    );
}

#[test]
fn format_detection() {
    assert_eq!(TraceFormat::detect("a.NDJSON", b"[1]"), TraceFormat::Lines);
    assert_eq!(TraceFormat::detect("a.jsonl", b" [1]"), TraceFormat::Lines);
    assert_eq!(TraceFormat::detect("a.json", b"\n [1]"), TraceFormat::JsonArray);
    assert_eq!(TraceFormat::detect("run.log", b"[1]"), TraceFormat::JsonArray);
    assert_eq!(TraceFormat::detect("a.json", b"{}"), TraceFormat::Lines);
}
