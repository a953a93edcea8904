//! The verbs over registers and regions: `regs` (a thread's registers by the
//! stored register map), `regions` (the memory map over time) and `regmap
//! show` (a bus's register map).

use std::io::Write;
use std::path::Path;

use serde_json::json;
use tracemem::{Lifespan, Region, RegionRead, RegisterDef, RegisterMap, RegisterRead, RegisterState, Snap};

use crate::failure::{Failure, Outcome, begin_read, io, open};
use crate::output::{print_json_array, range_text};

/// How deep `def` sits under top-level registers (0 for a top-level one).
fn depth(map: &RegisterMap, def: &RegisterDef) -> usize {
    let mut depth = 0;
    let mut up = def.parent.as_deref();
    while let Some(name) = up {
        depth += 1;
        // The map refuses loops; the bound only guards a damaged one.
        if depth > map.len() {
            break;
        }
        up = map.get(name).ok().and_then(|p| p.parent.as_deref());
    }
    depth
}

/// A state as the table shows it.
fn state_text(state: RegisterState) -> String {
    match state {
        RegisterState::Known => "KNOWN".into(),
        RegisterState::Stale { snap } => format!("stale (snap {snap})"),
        RegisterState::Error { snap } => format!("ERROR (snap {snap})"),
        RegisterState::Unknown => "UNKNOWN".into(),
    }
}

/// A value in hex, as many digits as the register's width needs.
fn value_text(def: &RegisterDef, value: Option<u128>) -> String {
    match value {
        Some(v) => format!("0x{v:0digits$x}", digits = def.width().div_ceil(4) as usize),
        None => "..".into(),
    }
}

/// `regs DB THREAD [--frame F] [--snap S]`.
pub fn regs(path: &Path, thread: &str, frame: u32, at: Option<Snap>, as_json: bool, out: &mut impl Write) -> Outcome {
    let snap = at.unwrap_or(Snap::MAX);
    let shown_snap = at.map_or_else(|| "the newest snap".to_string(), |s| format!("snap {s}"));
    let db = open(path)?;
    let read = begin_read(&db)?;
    let regs = read
        .registers_in_frame(thread, frame)
        .map_err(|e| Failure::error("regs", e))?;
    let map = regs.map();
    if map.is_empty() {
        return Err(Failure::NothingFound(
            "the database has no register map (set one with WriteTransaction::set_register_map)".into(),
        ));
    }
    let defs = map.in_layout_order();
    let name_width = defs.iter().map(|d| d.name.len() + 2 * depth(map, d)).max().unwrap_or(0);
    let value_width = defs
        .iter()
        .map(|d| 2 + d.width().div_ceil(4) as usize)
        .max()
        .unwrap_or(0);
    if !as_json {
        writeln!(out, "{} at {shown_snap}", regs.space_name()).map_err(io)?;
    }
    let mut docs = Vec::new();
    for def in defs {
        let value = regs.get_value(snap, &def.name).map_err(|e| Failure::error("regs", e))?;
        let state = regs
            .register_state(snap, &def.name)
            .map_err(|e| Failure::error("regs", e))?;
        if as_json {
            let (state_name, source) = match state {
                RegisterState::Known => ("known", at),
                RegisterState::Stale { snap } => ("stale", Some(snap)),
                RegisterState::Error { snap } => ("error", Some(snap)),
                RegisterState::Unknown => ("unknown", None),
            };
            let doc = json!({
                "name": def.name, "offset": def.offset, "size": def.size, "parent": def.parent,
                "value": value.map(|v| format!("{v:#x}")), "state": state_name, "snap": source,
            });
            docs.push(doc);
        } else {
            let name = format!("{}{}", "  ".repeat(depth(map, def)), def.name);
            writeln!(
                out,
                "{name:<name_width$}  {:<value_width$}  {}",
                value_text(def, value),
                state_text(state)
            )
            .map_err(io)?;
        }
    }
    if as_json {
        print_json_array(out, &docs).map_err(io)?;
    }
    Ok(())
}

/// A lifespan as `0..`, `0..=49` or `..=-1`.
fn lifespan_text(lifespan: Lifespan) -> String {
    let lo = if lifespan.min() == Snap::MIN {
        String::new()
    } else {
        lifespan.min().to_string()
    };
    if lifespan.max() == Snap::MAX {
        format!("{lo}..")
    } else {
        format!("{lo}..={}", lifespan.max())
    }
}

/// `regions DB [--snap S] [--space NAME]`.
pub fn regions(path: &Path, snap: Option<Snap>, space: Option<&str>, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let read = begin_read(&db)?;
    let spaces = match space {
        Some(name) => vec![name.to_string()],
        None => read.spaces().map_err(|e| Failure::error("regions", e))?,
    };
    let mut found: Vec<Region> = Vec::new();
    for name in &spaces {
        let regions = read.regions(name).map_err(|e| Failure::error("regions", e))?;
        let listed = match snap {
            Some(snap) => regions.at(snap),
            None => regions.all(),
        }
        .map_err(|e| Failure::error("regions", e))?;
        found.extend(listed);
    }
    if found.is_empty() {
        if as_json {
            print_json_array(out, &[]).map_err(io)?;
        }
        let when = snap.map(|s| format!(" at snap {s}")).unwrap_or_default();
        return Err(Failure::NothingFound(format!("no regions{when}")));
    }
    let mut docs = Vec::new();
    for region in &found {
        if as_json {
            let doc = json!({
                "space": region.space, "name": region.name, "first": region.range.min(), "last": region.range.max(),
                "from_snap": region.lifespan.min(), "to_snap": region.lifespan.max(), "flags": region.flags.to_string(),
            });
            docs.push(doc);
        } else {
            writeln!(
                out,
                "{}\t{}\t{}\tsnaps {}\t{}",
                region.space,
                region.name,
                range_text(region.range.min(), region.range.max()),
                lifespan_text(region.lifespan),
                region.flags
            )
            .map_err(io)?;
        }
    }
    if as_json {
        print_json_array(out, &docs).map_err(io)?;
    }
    Ok(())
}

/// `regmap show DB --space S`.
pub fn regmap_show(path: &Path, space: &str, as_json: bool, out: &mut impl Write) -> Outcome {
    let db = open(path)?;
    let map = begin_read(&db)?
        .bus_map(space)
        .map_err(|e| Failure::error("regmap show", e))?;
    if as_json {
        let docs: Vec<serde_json::Value> = map
            .iter()
            .map(|r| {
                json!({
                    "name": r.name, "address": r.address, "width": r.width,
                    "byte_order": if r.big_endian { "big" } else { "little" },
                    "fields": r.fields.iter().map(|f| json!({"name": f.name, "lsb": f.lsb, "msb": f.msb})).collect::<Vec<_>>(),
                })
            })
            .collect();
        print_json_array(out, &docs).map_err(io)?;
    } else {
        for r in map.iter() {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| match f.lsb == f.msb {
                    true => format!("{}[{}]", f.name, f.lsb),
                    false => format!("{}[{}:{}]", f.name, f.msb, f.lsb),
                })
                .collect();
            writeln!(
                out,
                "0x{:08x}\t{}\t{} bytes {}\t{}",
                r.address,
                r.name,
                r.width,
                if r.big_endian { "big-endian" } else { "little-endian" },
                fields.join(" ")
            )
            .map_err(io)?;
        }
    }
    if map.is_empty() {
        return Err(Failure::NothingFound(format!("no register map for space '{space}'")));
    }
    Ok(())
}
