//! Help, the grammar every verb shares, errors that name what and why,
//! output errors and exit statuses, the README's walk-through and the demo.

use super::*;

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = tracemem(&["--version"], dir.path());
    assert!(stdout(&out).starts_with("tracemem "));
    for verb in [
        "info",
        "read",
        "states",
        "import",
        "export",
        "replay-check",
        "spaces",
        "captures",
        "snaps",
        "regs",
        "regions",
    ] {
        let out = tracemem(&[verb, "--help"], dir.path());
        assert!(out.status.success() && stdout(&out).contains("Usage"), "{verb}");
    }
}

#[test]
fn import_info_and_listings() {
    let dir = imported();
    let info = stdout(&tracemem(&["info", "t.tmdb"], dir.path()));
    assert!(
        info.contains("events        3") && info.contains("block size    4096"),
        "{info}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&tracemem(&["info", "t.tmdb", "--json"], dir.path()))).unwrap();
    assert_eq!(json["events"], 3);
    assert_eq!(stdout(&tracemem(&["spaces", "t.tmdb"], dir.path())), "bus\n");
    assert!(
        stdout(&tracemem(&["captures", "t.tmdb"], dir.path())).starts_with("run\tfamily run\tspace bus\tsnaps 0..=2")
    );
    let snaps = tracemem(&["snaps", "t.tmdb"], dir.path());
    assert_eq!(snaps.status.code(), Some(1), "no snap carries metadata: nothing found");
}

#[test]
fn index_writes_the_chunk_index_that_info_reports_until_a_write() {
    let dir = imported();
    let read = |dir: &Path| {
        stdout(&tracemem(
            &["read", "t.tmdb", "bus", "0x40000000", "8", "--snap", "2"],
            dir,
        ))
    };
    let before = read(dir.path());
    assert!(stdout(&tracemem(&["info", "t.tmdb"], dir.path())).contains("chunk index   none"));
    let indexed = tracemem(&["index", "t.tmdb", "--json"], dir.path());
    assert!(indexed.status.success(), "{}", stderr(&indexed));
    let report: serde_json::Value = serde_json::from_str(&stdout(&indexed)).unwrap();
    let bytes = std::fs::metadata(dir.path().join("t.tmdb.chunk-index")).unwrap().len();
    assert_eq!(report["bytes"], bytes);
    let info: serde_json::Value =
        serde_json::from_str(&stdout(&tracemem(&["info", "t.tmdb", "--json"], dir.path()))).unwrap();
    assert_eq!(info["chunk_index"], serde_json::json!({"in_use": true, "bytes": bytes}));
    assert_eq!(read(dir.path()), before);
    // A write (a mark) leaves it unused, and info says so.
    let annotated = tracemem(&["mark", "t.tmdb", "--snap", "2", "checked"], dir.path());
    assert!(annotated.status.success(), "{}", stderr(&annotated));
    assert!(stdout(&tracemem(&["info", "t.tmdb"], dir.path())).contains("chunk index   not used"));
    assert_eq!(read(dir.path()), before);
}

#[test]
fn errors_name_what_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = tracemem(&["info", "missing.tmdb"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("tracemem: info: opening the database: missing.tmdb:"),
        "{}",
        stderr(&missing)
    );
    std::fs::write(dir.path().join("notes.txt"), "not a database").unwrap();
    let not_db = tracemem(&["info", "notes.txt"], dir.path());
    assert_eq!(not_db.status.code(), Some(3), "a file that is not a database exits 3");
    assert!(
        stderr(&not_db).contains("not a tracemem database"),
        "{}",
        stderr(&not_db)
    );
    let bad_hex = tracemem(&["read", "notes.txt", "bus", "0xzz", "4"], dir.path());
    assert_eq!(bad_hex.status.code(), Some(2));
    assert!(stderr(&bad_hex).contains("'0xzz' is not a number"));
    let dir = imported();
    let unknown = tracemem(&["read", "t.tmdb", "rom", "0", "4"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown space 'rom'"), "{}", stderr(&unknown));
    std::fs::write(dir.path().join("bad.ndjson"), "{\"op\": \"rd\"}\n").unwrap();
    let bad_trace = tracemem(&["import", "t.tmdb", "bad.ndjson"], dir.path());
    assert_eq!(bad_trace.status.code(), Some(2));
    assert!(stderr(&bad_trace).contains("bad.ndjson:1"), "{}", stderr(&bad_trace));
}

/// Writing the output to a full device is an error (exit 5, no space), and
/// a closed pipe ends quietly with exit 0.
#[test]
fn output_errors_exit_non_zero_and_a_closed_pipe_is_quiet() {
    let dir = imported();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["log", "t.tmdb"])
        .current_dir(dir.path())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("tracemem: log: writing the output: "),
        "{}",
        stderr(&out)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
        .args(["gen", "-", "--events", "2000000"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

/// One grammar (issue 18, items 3 and 5): the database first (the older
/// import order warns), `-` for standard input, one JSON document per
/// listing, words in a byte order, runs never observed collapsed; separate
/// recordings never form a family, and `--time` reads one capture's clock,
/// never guessing between several.
#[test]
fn one_grammar_and_captures_that_mean_what_they_say() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("run.ndjson"), EVENTS).unwrap();
    let old_order = tracemem(&["import", "run.ndjson", "old.tmdb"], d);
    assert!(old_order.status.success(), "{}", stderr(&old_order));
    assert!(
        stderr(&old_order)
            .contains("warning: the order FILE DB is deprecated; write `tracemem import old.tmdb run.ndjson`"),
        "{}",
        stderr(&old_order)
    );
    // Standard input, twice: two separate recordings of the same trace.
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
            .args(["import", "t.tmdb", "-", "--capture", "piped"])
            .current_dir(d)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(EVENTS.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            assert!(stderr(&out).contains("exists already"), "{}", stderr(&out));
        }
    }
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tracemem"))
            .args(["record", "t.tmdb"])
            .current_dir(d)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(EVENTS.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let captures: serde_json::Value =
        serde_json::from_str(&stdout(&tracemem(&["captures", "t.tmdb", "--json"], d))).unwrap();
    let names: Vec<(&str, &str)> = captures
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["family"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("piped", "piped"), ("stdin", "stdin"), ("stdin-2", "stdin-2")]);
    let stdin_export = stdout(&tracemem(&["export", "t.tmdb", "--capture", "stdin"], d));
    assert_eq!(stdin_export, EVENTS, "a separate recording is not part of the family");

    // --time: several captures record space 'bus'; --capture picks one.
    let guess = tracemem(&["read", "t.tmdb", "bus", "0x40001000", "2", "--time", "0.000002"], d);
    assert_eq!(guess.status.code(), Some(2));
    assert!(
        stderr(&guess).contains("several captures record space 'bus'; name one with --capture"),
        "{}",
        stderr(&guess)
    );
    let timed = tracemem(
        &[
            "read",
            "t.tmdb",
            "bus",
            "0x40001000",
            "2",
            "--time",
            "0.000002",
            "--capture",
            "stdin-2",
            "--json",
        ],
        d,
    );
    let timed: serde_json::Value = serde_json::from_str(&stdout(&timed)).unwrap();
    let stdin2_first = captures[2]["first_snap"].as_i64().unwrap();
    assert_eq!(
        timed["snap"], stdin2_first,
        "the first event of stdin-2 is the last at or before 2 us on its clock"
    );
    let diff = tracemem(&["diff", "t.tmdb", "bus", "0.000001", "0.000004", "--seconds"], d);
    assert!(
        stderr(&diff).contains("several captures record space 'bus'"),
        "{}",
        stderr(&diff)
    );
    let diff = tracemem(
        &[
            "diff",
            "t.tmdb",
            "bus",
            "0.000001",
            "0.000004",
            "--seconds",
            "--capture",
            "stdin",
            "--json",
        ],
        d,
    );
    let diff: serde_json::Value = serde_json::from_str(&stdout(&diff)).unwrap();
    assert_eq!(diff[0]["first"], 0x40001001, "{diff}");
    let history = tracemem(&["history", "t.tmdb", "0x40001000"], d);
    assert_eq!(history.status.code(), Some(2));
    assert!(
        stderr(&history).contains("name one with --capture"),
        "{}",
        stderr(&history)
    );
    let history = tracemem(
        &["history", "t.tmdb", "0x40001000", "--capture", "stdin-2", "--ndjson"],
        d,
    );
    assert_eq!(stdout(&history).lines().count(), 1, "{}", stderr(&history));

    // Words in a byte order, and runs never observed collapsed as xxd -a does.
    let words = stdout(&tracemem(
        &["read", "t.tmdb", "bus", "0x40001000", "8", "--word", "4"],
        d,
    ));
    assert_eq!(words, "40001000: 00000742 00000000\n");
    let big = stdout(&tracemem(
        &[
            "read",
            "t.tmdb",
            "bus",
            "0x40001000",
            "4",
            "--word",
            "4",
            "--endian",
            "big",
        ],
        d,
    ));
    assert_eq!(big, "40001000: 42070000\n");
    let wide = stdout(&tracemem(&["read", "t.tmdb", "bus", "0x40000fe0", "0x60"], d));
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(lines.len(), 5, "{wide}");
    assert!(lines[0].starts_with("40000fe0: ...."), "{wide}");
    assert_eq!(lines[1], "*");
    assert!(lines[2].starts_with("40001000: 4207 0000 0000 0000"), "{wide}");
    assert_eq!(lines[3], "*", "one star for a run of lines");
    assert!(
        lines[4].starts_with("40001030: ...."),
        "the last line always shows: {wide}"
    );
    let no_snaps = tracemem(&["snaps", "t.tmdb", "--json"], d);
    assert_eq!((stdout(&no_snaps).as_str(), no_snaps.status.code()), ("[]\n", Some(1)));
    for verb in ["read", "find", "log", "import", "export", "captures"] {
        let help = stdout(&tracemem(&[verb, "--help"], d));
        for jargon in ["W1", "R5", "M10", "seed-format", "seed's"] {
            assert!(!help.contains(jargon), "`{verb} --help` says {jargon}");
        }
    }
}

/// README's shell walk-through runs as written on a fresh directory: the
/// blocks of "From the shell" up to the one that needs a library-written
/// database (a query that finds nothing may exit 1, as documented).
#[test]
fn the_readme_walk_through_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## From the shell").nth(1).expect("the section");
    let section = section.split("With registers, regions and forks").next().unwrap();
    let lines: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .flat_map(|block| block.split("```").next().unwrap().lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() >= 12, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tracemem")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    for line in lines {
        let out = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {line}")])
            .env("PATH", &path)
            .current_dir(dir.path())
            .output()
            .expect("bash runs");
        let finds_nothing = line.starts_with("tracemem find") && out.status.code() == Some(1);
        assert!(out.status.success() || finds_nothing, "{line}: {}", stderr(&out));
    }
}

/// The demo's register values are what `read` shows at those snaps.
#[test]
fn the_demos_values_are_what_read_shows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tracemem(&["demo", "d.tmdb", "--events", "20000", "--quiet"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("(tracemem read ")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in lines {
        let value = line.split(": ").nth(1).unwrap().split_whitespace().next().unwrap();
        let value = u32::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        let command = line.split("(tracemem ").nth(1).unwrap().trim_end_matches(')');
        let args: Vec<&str> = command.split_whitespace().collect();
        let read = tracemem(&args, d);
        assert!(read.status.success(), "{}", stderr(&read));
        let hex: String = stdout(&read)
            .split(':')
            .nth(1)
            .unwrap()
            .split("  ")
            .next()
            .unwrap()
            .replace(' ', "");
        let bytes: Vec<u8> = (0..4)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(u32::from_le_bytes(bytes.try_into().unwrap()), value, "{line}");
    }
}

/// `gen` writes the soak workload byte for byte as the reference generator
/// does, in both layouts and for another seed.
#[test]
fn gen_writes_the_reference_generators_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gen_soak.py");
    for (args, extra) in [
        (vec!["gen", "ours.ndjson", "--events", "5000"], vec!["5000"]),
        (
            vec!["gen", "ours.ndjson", "--events", "3000", "--seed", "7", "--force"],
            vec!["3000", "--seed", "7"],
        ),
        (
            vec!["gen", "ours.ndjson", "--events", "700", "--json", "--force"],
            vec!["700", "--json"],
        ),
    ] {
        let out = tracemem(&args, dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let reference = Command::new("python3")
            .arg(script)
            .args(&extra)
            .args(["--out", "theirs.ndjson"])
            .current_dir(dir.path())
            .output()
            .expect("python3 runs (the reference generator needs it)");
        assert!(reference.status.success(), "{}", stderr(&reference));
        let ours = std::fs::read(dir.path().join("ours.ndjson")).unwrap();
        let theirs = std::fs::read(dir.path().join("theirs.ndjson")).unwrap();
        assert!(!ours.is_empty());
        assert!(ours == theirs, "{args:?}: gen differs from the reference");
    }
    let out = tracemem(&["gen", "-", "--events", "2"], dir.path());
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stderr(&out));
    // An existing file is kept unless --force.
    std::fs::write(dir.path().join("t.tmdb"), "a database").unwrap();
    let out = tracemem(&["gen", "t.tmdb", "--events", "2"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).lines().next().unwrap_or(""),
        "tracemem: gen: t.tmdb: the file exists; pass --force to replace it"
    );
    assert_eq!(std::fs::read(dir.path().join("t.tmdb")).unwrap(), b"a database");
}
