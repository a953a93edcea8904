"""The Parquet dataset `tracemem export` writes, read by DuckDB and pyarrow:
row counts and sums equal the database's, captures of many databases form
one dataset by their source partition, and the value of a register at a time
by DuckDB's ASOF JOIN equals `tracemem read --time`."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pytest

import tracemem

EVENTS = 20_000


def cli(binary: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, tracemem_cli: str) -> tuple[Path, list[Path]]:
    """Two databases (W1 with two seeds; the second has a capture `w1#2`
    too), exported into one dataset."""
    folder = tmp_path_factory.mktemp("dataset")
    out = folder / "all.parquet"
    databases = []
    for seed in (1, 2):
        trace, db = folder / f"w1-{seed}.ndjson", folder / f"soak-{seed}.tmdb"
        assert cli(tracemem_cli, "gen", trace, "--events", EVENTS, "--seed", seed).returncode == 0
        assert cli(tracemem_cli, "import", db, trace, "--capture", "w1").returncode == 0
        if seed == 2:
            done = cli(tracemem_cli, "import", db, trace, "--capture", "w1#2")
            assert done.returncode == 0, done.stderr
        done = cli(tracemem_cli, "export", db, "-o", out, "--quiet")
        assert done.returncode == 0, done.stderr
        databases.append(db)
    return out, databases


def test_counts_and_sums_match_the_databases(dataset: tuple[Path, list[Path]]) -> None:
    out, databases = dataset
    con = duckdb.connect()
    rows = con.sql(
        f"SELECT source, capture, count(*), sum(address)::HUGEINT, sum(value)::HUGEINT, min(seq), max(seq) "
        f"FROM read_parquet('{out}/events/*/*/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    expected = []
    for db_path in databases:
        with tracemem.open(db_path) as db:
            for capture in db.captures():
                events = list(db.events(capture.name))
                expected.append(
                    (
                        db_path.name,
                        capture.name,
                        len(events),
                        sum(e["address"] for e in events),
                        sum(e["value"] for e in events),
                        0,
                        len(events) - 1,
                    )
                )
    # Hive partition values come back percent-decoded by DuckDB (w1%232 is w1#2).
    assert sorted(rows) == sorted(expected)
    table = pads.dataset(out / "events", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == sum(r[2] for r in expected)
    assert str(table.schema.field("address").type) == "uint64"
    assert str(table.schema.field("width").type) == "uint8"


def test_asof_join_gives_what_read_time_gives(dataset: tuple[Path, list[Path]], tracemem_cli: str) -> None:
    out, databases = dataset
    db_path = databases[0]
    con = duckdb.connect()
    rng = random.Random(5)
    with tracemem.open(db_path) as db:
        events = list(db.events("w1", stop=EVENTS))
    four_byte = sorted({e["address"] for e in events if e["width"] == 4})
    compared = 0
    for _ in range(10):
        address = rng.choice(four_byte)
        t = events[rng.randrange(100, EVENTS)]["timestamp"] + 1e-7
        row = con.execute(
            f"""
            WITH probe AS (SELECT {address}::UBIGINT AS address, {t}::DOUBLE AS t)
            SELECT e.value FROM probe p ASOF JOIN read_parquet('{out}/events/*/*/*.parquet', hive_partitioning = true) e
              ON e.source = '{db_path.name}' AND e.capture = 'w1' AND e.address = p.address AND p.t >= e.timestamp
            """
        ).fetchone()
        read = cli(tracemem_cli, "read", db_path, "bus", address, 4, "--time", t, "--capture", "w1", "--json")
        if row is None:
            assert read.returncode == 1 or all(b is None for b in json.loads(read.stdout)["bytes"])
            continue
        assert read.returncode == 0, read.stderr
        data = json.loads(read.stdout)["bytes"]
        assert row[0] & 0xFFFFFFFF == int.from_bytes(bytes(data), "little"), (hex(address), t)
        compared += 1
    assert compared >= 5, "the ASOF join found too few values to compare"


def test_an_existing_source_is_refused_and_the_dataset_kept(dataset: tuple[Path, list[Path]], tracemem_cli: str) -> None:
    out, databases = dataset
    before = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    again = cli(tracemem_cli, "export", databases[0], "-o", out, "--quiet")
    assert again.returncode == 2 and "pass --force" in again.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*.parquet")) == before


def test_the_python_package_exports_waveforms_and_datasets(dataset: tuple[Path, list[Path]], tmp_path: Path) -> None:
    _, databases = dataset
    with tracemem.open(databases[0]) as db:
        assert db.export("w1", tmp_path / "w1.vcd", format="vcd", timescale="1us") == EVENTS
        assert db.export("w1", tmp_path / "w1.fst", format="fst") == EVENTS
        assert db.export(None, tmp_path / "ds", format="parquet", source="mine") == EVENTS
        with pytest.raises(ValueError, match="pass --force"):
            db.export(None, tmp_path / "ds", format="parquet", source="mine")
        with pytest.raises(ValueError, match="timescale"):
            db.export("w1", tmp_path / "bad.vcd", format="vcd", timescale="3ns")
    assert not (tmp_path / "bad.vcd").exists() and not (tmp_path / "bad.vcd.partial").exists()
    assert "$var wire 64 ! addr $end" in (tmp_path / "w1.vcd").read_text()[:2000]
    count = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{tmp_path}/ds/events/*/*/*.parquet', hive_partitioning = true) WHERE source = 'mine'"
    ).fetchone()
    assert count == (EVENTS,)


def test_waveforms_name_registers_from_the_stored_register_map(tmp_path: Path, tracemem_cli: str) -> None:
    trace, db = tmp_path / "w1.ndjson", tmp_path / "w1.tmdb"
    assert cli(tracemem_cli, "gen", trace, "--events", 2000).returncode == 0
    assert cli(tracemem_cli, "import", db, trace, "--capture", "w1").returncode == 0
    with tracemem.open(db) as opened:
        address = next(opened.snapshot().events("w1"))["address"]
    regmap = tmp_path / "map.json"
    regmap.write_text(json.dumps({"periph.ctrl": {"address": hex(address), "width": 4}}))
    done = cli(tracemem_cli, "regmap", "set", db, regmap)
    assert done.returncode == 0, done.stderr
    with tracemem.open(db) as opened:
        assert opened.export("w1", tmp_path / "w1.vcd", format="vcd") == 2000
    header = (tmp_path / "w1.vcd").read_text()[:20000]
    assert "periph.ctrl" in header or "periph_ctrl" in header, header[:2000]
