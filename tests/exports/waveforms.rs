//! VCD and FST exports read back with wellen: at every event's time, each
//! signal holds the database's answer for that event (W1, and a capture
//! with failed reads, marks and a register map), times are each event's own
//! and in order, and the register signals follow reads, writes and failures.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use tracemem::export::waveform::{self, Tick, WaveformOptions, fst::FstSink, vcd::VcdSink};
use tracemem::record::{Master, MockMaster, RecorderOptions, RecordingMaster, SoakTrace};
use tracemem::{CaptureSpec, Database, Op, TraceEvent};

/// A signal as wellen reads it: (time, bits as text) at each change.
struct Changes(Vec<(u64, String)>);

impl Changes {
    /// The value at `time`: the last change at or before it.
    fn at(&self, time: u64) -> &str {
        let i = self.0.partition_point(|(t, _)| *t <= time);
        assert!(i > 0, "no value at {time}");
        &self.0[i - 1].1
    }
}

fn read_back(path: &Path) -> (wellen::simple::Waveform, BTreeMap<String, Changes>) {
    let mut wave = wellen::simple::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hierarchy = wave.hierarchy();
    let mut refs = Vec::new();
    for scope in ["bus", "regs"] {
        let scope_ref = hierarchy.lookup_scope(&[scope]).expect(scope);
        for var in hierarchy[scope_ref].vars(hierarchy) {
            let var = &hierarchy[var];
            refs.push((format!("{scope}.{}", var.name(hierarchy)), var.signal_ref()));
        }
    }
    let ids: Vec<_> = refs.iter().map(|(_, r)| *r).collect();
    wave.load_signals(&ids);
    let times = wave.time_table().to_vec();
    let mut signals = BTreeMap::new();
    for (name, id) in refs {
        let signal = wave.get_signal(id).expect("loaded");
        let changes = signal
            .iter_changes()
            .map(|(index, value)| {
                let text = match value {
                    wellen::SignalValueRef::String(s) => s.to_string(),
                    other => other.to_bit_string().expect("bits"),
                };
                (times[index as usize], text)
            })
            .collect();
        signals.insert(name, Changes(changes));
    }
    (wave, signals)
}

fn bits(value: u64, width: u32) -> String {
    (0..width)
        .rev()
        .map(|i| if i < 64 && value >> i & 1 == 1 { '1' } else { '0' })
        .collect()
}

fn export(db: &Database, capture: &str, options: &WaveformOptions, dir: &Path) -> [std::path::PathBuf; 2] {
    let read = db.begin_read().unwrap();
    let vcd = dir.join(format!("{capture}.vcd"));
    let fst = dir.join(format!("{capture}.fst"));
    let sink = VcdSink::new(BufWriter::new(File::create(&vcd).unwrap()), options.tick, "vcd");
    waveform::write(&read, capture, options, Box::new(sink)).unwrap();
    let sink = FstSink::new(BufWriter::new(File::create(&fst).unwrap()), options.tick, "fst").unwrap();
    waveform::write(&read, capture, options, Box::new(sink)).unwrap();
    [vcd, fst]
}

/// The times the export gives the events: ticks of the timestamps, ties
/// moved one tick later (computed here independently of the exporter).
fn expected_times(events: &[TraceEvent], tick: f64) -> Vec<u64> {
    let mut times: Vec<u64> = Vec::with_capacity(events.len());
    for event in events {
        let wanted = (event.timestamp / tick).round().max(0.0) as u64;
        let at = times.last().map_or(wanted, |&p| wanted.max(p + 1));
        times.push(at);
    }
    times
}

/// Checks every signal at every event's time against the event.
fn check(
    path: &Path,
    events: &[TraceEvent],
    times: &[u64],
    names: &BTreeMap<u64, String>,
    marks: &BTreeMap<usize, String>,
) {
    let (_, signals) = read_back(path);
    let mut widths: BTreeMap<u64, u8> = BTreeMap::new();
    for e in events {
        let w = widths.entry(e.address).or_insert(0);
        *w = (*w).max(e.width.unwrap_or(4));
    }
    let fst = path.extension().is_some_and(|e| e == "fst");
    let mut register_values: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    let mut mark = String::new();
    for (i, (event, &t)) in events.iter().zip(times).enumerate() {
        let what = format!("{} event {i} at {t}", path.display());
        assert_eq!(signals["bus.addr"].at(t), bits(event.address, 64), "{what}");
        assert_eq!(signals["bus.data"].at(t), bits(event.value, 64), "{what}");
        assert_eq!(
            signals["bus.width"].at(t),
            bits(u64::from(event.width.unwrap_or(0)), 8),
            "{what}"
        );
        assert_eq!(
            signals["bus.rd"].at(t),
            if event.op == Op::Read { "1" } else { "0" },
            "{what}"
        );
        assert_eq!(
            signals["bus.wr"].at(t),
            if event.op == Op::Write { "1" } else { "0" },
            "{what}"
        );
        assert_eq!(
            signals["bus.err"].at(t),
            if event.error.is_some() { "1" } else { "0" },
            "{what}"
        );
        // The strobes fall a tick later unless the next event is then.
        if times.get(i + 1).is_none_or(|&next| next > t + 1) {
            assert_eq!(signals["bus.rd"].at(t + 1), "0", "{what}");
        }
        let width = widths[&event.address];
        let value = match (event.op, &event.error) {
            (Op::Read, Some(_)) => Some(None),
            (Op::Write, Some(_)) => None,
            _ => Some(Some(if event.width.unwrap_or(4) >= 8 {
                event.value
            } else {
                event.value & ((1u64 << (8 * u32::from(event.width.unwrap_or(4)))) - 1)
            })),
        };
        if let Some(v) = value {
            register_values.insert(event.address, v);
        }
        let name = names
            .get(&event.address)
            .cloned()
            .unwrap_or_else(|| format!("r_{:08x}", event.address));
        let shown = match register_values.get(&event.address).copied().flatten() {
            Some(v) => bits(v, 8 * u32::from(width)),
            None => "x".repeat(8 * usize::from(width)),
        };
        assert_eq!(signals[&format!("regs.{name}")].at(t), shown, "{what}");
        if let Some(text) = marks.get(&i) {
            mark = text.clone();
        }
        if !mark.is_empty() {
            let got = signals["bus.mark"].at(t);
            if fst {
                let decoded: String = got
                    .as_bytes()
                    .chunks(8)
                    .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap() as char)
                    .filter(|c| *c != '\0')
                    .collect();
                assert_eq!(decoded, mark, "{what}");
            } else {
                assert_eq!(got, mark.replace(' ', "_"), "{what}");
            }
        }
    }
}

#[test]
fn w1_waveforms_hold_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("w1.tmdb")).unwrap();
    let events: Vec<TraceEvent> = SoakTrace::new(1).take(20_000).collect();
    let mut txn = db.begin_write().unwrap();
    txn.create_capture(&CaptureSpec::new("w1")).unwrap();
    txn.append_events("w1", &events).unwrap();
    txn.commit().unwrap();
    for by_seq in [false, true] {
        let options = WaveformOptions {
            tick: Tick::parse("1us").unwrap(),
            by_seq,
            names: BTreeMap::new(),
        };
        let times = if by_seq {
            (0..events.len() as u64).collect()
        } else {
            expected_times(&events, 1e-6)
        };
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "each event keeps its own time, in order"
        );
        for path in export(&db, "w1", &options, dir.path()) {
            check(&path, &events, &times, &BTreeMap::new(), &BTreeMap::new());
        }
    }
}

#[test]
fn failed_reads_marks_and_register_names_show_in_the_waveform() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.tmdb");
    let mut mock = MockMaster::new();
    mock.fail_at(0x4000_0008);
    let mut bus = RecordingMaster::create(mock, &path, &CaptureSpec::new("bus"), RecorderOptions::default()).unwrap();
    let mut marks = BTreeMap::new();
    bus.mark("reset done").unwrap();
    marks.insert(0, "reset done".to_string());
    bus.write(0x4000_0000, 0x1234_5678, 4).unwrap();
    bus.read(0x4000_0000, 4).unwrap();
    bus.write(0x4000_0008, 7, 4).unwrap_err();
    bus.read(0x4000_0008, 4).unwrap_err();
    bus.mark("phase 2").unwrap();
    marks.insert(4, "phase 2".to_string());
    bus.write(0x4000_0010, 0xab, 1).unwrap();
    bus.write(0x4000_0000, 0x9, 2).unwrap();
    bus.read(0x4000_0010, 1).unwrap();
    bus.close().unwrap();
    let db = Database::open(&path).unwrap();
    let events = db.begin_read().unwrap().events("bus", 0..u64::MAX).unwrap();
    assert_eq!(events.iter().filter(|e| e.error.is_some()).count(), 2);
    let names = BTreeMap::from([
        (0x4000_0000, "uart ctrl".to_string()),
        (0x4000_0010, "uart.data".to_string()),
    ]);
    let options = WaveformOptions {
        tick: Tick::default(),
        by_seq: false,
        names: names.iter().map(|(a, n)| (*a, n.replace(' ', "_"))).collect(),
    };
    let times = expected_times(&events, 1e-9);
    for path in export(&db, "bus", &options, dir.path()) {
        check(&path, &events, &times, &options.names, &marks);
    }
}

#[test]
fn timescales_parse_and_refuse_what_no_viewer_reads() {
    assert_eq!(Tick::parse("1ns").unwrap().exponent, -9);
    assert_eq!(Tick::parse("10us").unwrap().exponent, -5);
    assert_eq!(Tick::parse("100ps").unwrap().vcd_parts(), (100, -12));
    assert_eq!(Tick::parse("1s").unwrap().exponent, 0);
    for bad in ["3ns", "1 parsec", "10s", ""] {
        assert!(Tick::parse(bad).is_err(), "{bad}");
    }
}
