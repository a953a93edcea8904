//! The module tree is the architecture (ARCHITECTURE.md): this test reads the
//! `use` paths of every file under `src/` and fails on an import from a lower
//! layer to a higher one, on two files that import each other (directly or
//! round a cycle, a `mod.rs` and its children included), on verbs of the
//! binary that import each other, and on a file over 1,100 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's layers, bottom up: a file may import its own layer and the
/// ones before it. `lib.rs` (the public facade) and `fuzzing.rs` (internals
/// for the fuzz targets, behind a feature) stand above them all.
const LAYERS: [&str; 8] = [
    "vocab", "format", "journal", "store", "memory", "db", "record", "export",
];

/// The most lines a source file may have.
const MAX_LINES: usize = 1_100;

/// The binary's verbs: each a module of its own that imports no other verb.
const VERBS: &str = "bin/tracemem/verbs";

/// A source file: its path under `src/` and its text without comments.
struct Source {
    text: String,
    lines: usize,
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Source>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            // an inline test module (at the end of a file, by convention)
            // belongs to its file: its `super::` is the file itself
            let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
            out.insert(
                rel,
                Source {
                    lines: text.lines().count(),
                    text: strip_comments(code),
                },
            );
        }
    }
}

/// The text without `//` and `/* */` comments and without string literals'
/// contents (so that paths in docs and messages are not taken as imports).
fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(bytes.len(), |e| i + 2 + e + 2);
            i = end;
        } else if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\'') {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The module path of a file: `store/chunk/mod.rs` -> `[store, chunk]`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The file that defines the longest prefix of `path`.
fn resolve(files: &BTreeMap<String, Source>, path: &[String]) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let base = path[..n].join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|c| files.contains_key(c))
    })
}

/// Expands `a::{b, c::{d, e}}` into paths.
fn expand(prefix: &[String], body: &str, out: &mut Vec<Vec<String>>) {
    let mut depth = 0;
    let mut item = String::new();
    for ch in body.chars().chain(std::iter::once(',')) {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            let it = item.trim().to_string();
            item.clear();
            if it.is_empty() {
                continue;
            }
            if let Some(open) = it.find("::{") {
                let mut head = prefix.to_vec();
                head.extend(it[..open].split("::").filter(|s| !s.is_empty()).map(String::from));
                expand(&head, &it[open + 3..it.len() - 1], out);
            } else {
                let mut path = prefix.to_vec();
                let name = it.split(" as ").next().unwrap();
                path.extend(
                    name.split("::")
                        .filter(|s| !s.is_empty() && *s != "self")
                        .map(String::from),
                );
                out.push(path);
            }
        } else {
            item.push(ch);
        }
    }
}

/// The paths a file names: `crate::…`, `super::…`, and in a `mod.rs` or
/// `lib.rs`, `use child::…` of a child module it declares.
fn paths_of(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut children = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        let decl = line.trim_start_matches("pub(crate) ").trim_start_matches("pub(super) ");
        let decl = decl.trim_start_matches("pub ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            children.insert(name.trim().to_string());
        }
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let starts_word = i == 0 || !ident(text[..i].chars().next_back().unwrap());
        let root = ["crate::", "super::"].into_iter().find(|r| rest.starts_with(r));
        let child_use = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .into_iter()
            .find_map(|u| rest.strip_prefix(u))
            .and_then(|r| {
                let name: String = r.chars().take_while(|c| ident(*c)).collect();
                (children.contains(&name) && r[name.len()..].starts_with("::")).then_some(r.len())
            });
        if starts_word && (root.is_some() || child_use.is_some()) {
            let start = match child_use {
                Some(left) => text.len() - left,
                None => i,
            };
            // the path runs over identifiers and `::`, maybe into one `{…}`
            let mut j = start;
            let mut head = Vec::new();
            let mut current = String::new();
            while j < text.len() {
                let c = text[j..].chars().next().unwrap();
                if ident(c) {
                    current.push(c);
                    j += c.len_utf8();
                } else if text[j..].starts_with("::") {
                    head.push(std::mem::take(&mut current));
                    j += 2;
                    if bytes.get(j) == Some(&b'{') {
                        let mut depth = 0;
                        let open = j;
                        while j < text.len() {
                            match bytes[j] {
                                b'{' => depth += 1,
                                b'}' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            j += 1;
                        }
                        expand(&head, &text[open + 1..j], &mut out);
                        head.clear();
                        break;
                    }
                } else {
                    break;
                }
            }
            if !head.is_empty() {
                if !current.is_empty() {
                    head.push(current);
                }
                out.push(head);
            }
            i = j.max(i + 1);
        } else {
            i += rest.chars().next().unwrap().len_utf8();
        }
    }
    out
}

/// The file-level import graph of `src/`: file -> files it names.
fn graph(files: &BTreeMap<String, Source>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (rel, source) in files {
        let me = module_of(rel);
        let in_bin = rel.starts_with("bin/");
        let bin_root: Vec<String> = rel.split('/').take(2).map(String::from).collect();
        let is_parent = rel.ends_with("mod.rs") || rel.ends_with("lib.rs") || rel.ends_with("main.rs");
        let mut targets = BTreeSet::new();
        for path in paths_of(&source.text) {
            let target: Vec<String> = match path[0].as_str() {
                "crate" if in_bin => bin_root.iter().cloned().chain(path[1..].iter().cloned()).collect(),
                "crate" => path[1..].to_vec(),
                "super" => {
                    let mut base = me.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|p| p == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.extend(rest.iter().cloned());
                    base
                }
                _ if is_parent => me.iter().cloned().chain(path.iter().cloned()).collect(),
                _ => continue,
            };
            if let Some(t) = resolve(files, &target)
                && t != *rel
                && t != "lib.rs"
            {
                targets.insert(t);
            }
        }
        edges.insert(rel.clone(), targets);
    }
    edges
}

/// The strongly connected components of more than one file.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in &self.edges[v] {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let lw = self.low[w.as_str()];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on.contains(w.as_str()) {
                    let iw = self.index[w.as_str()];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

/// The layer of a library file; `None` for the facade above the layers.
fn layer_of(rel: &str) -> Option<usize> {
    let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
    LAYERS.iter().position(|l| *l == top)
}

/// The problems of the tree at `src`, one message each.
fn problems(src: &Path) -> Vec<String> {
    let mut files = BTreeMap::new();
    read_tree(src, src, &mut files);
    let edges = graph(&files);
    let mut out = Vec::new();
    for (from, targets) in &edges {
        if from.starts_with("bin/") {
            if from.starts_with(VERBS) {
                for to in targets
                    .iter()
                    .filter(|t| t.starts_with(VERBS) && !t.ends_with("/mod.rs"))
                {
                    out.push(format!("verb {from} imports verb {to}"));
                }
            }
            continue;
        }
        let Some(mine) = layer_of(from) else { continue };
        for to in targets {
            if let Some(theirs) = layer_of(to)
                && theirs > mine
            {
                out.push(format!(
                    "{from} (layer {}) imports {to} (layer {}), which is above it",
                    LAYERS[mine], LAYERS[theirs]
                ));
            }
        }
    }
    for cycle in cycles(&edges) {
        out.push(format!("import cycle: {}", cycle.join(" <-> ")));
    }
    for (rel, source) in &files {
        if source.lines > MAX_LINES {
            out.push(format!("{rel} has {} lines (at most {MAX_LINES})", source.lines));
        }
    }
    out
}

#[test]
fn layers_only_look_down_and_no_files_import_each_other() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    if std::env::var_os("TRACEMEM_PRINT_IMPORTS").is_some() {
        let mut files = BTreeMap::new();
        read_tree(&src, &src, &mut files);
        for (from, to) in graph(&files) {
            println!("{from} -> {}", to.into_iter().collect::<Vec<_>>().join(" "));
        }
    }
    let found = problems(&src);
    assert!(
        found.is_empty(),
        "the module tree breaks ARCHITECTURE.md:\n{}",
        found.join("\n")
    );
}

/// The checker itself finds what it must: an upward import, a cycle between
/// a `mod.rs` and its child, a verb importing a verb, an oversized file.
#[test]
fn the_checker_finds_planted_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let path = src.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod vocab;\nmod store;\n");
    write("vocab/mod.rs", "pub mod types;\n");
    write("vocab/types.rs", "use crate::store::Thing;\n");
    write(
        "store/mod.rs",
        "mod chunk;\npub(crate) use chunk::Piece;\npub struct Thing;\n",
    );
    write("store/chunk.rs", "use super::Thing;\npub struct Piece;\n");
    write("bin/tracemem/verbs/mod.rs", "pub mod read;\npub mod log;\n");
    write("bin/tracemem/verbs/read.rs", "use crate::verbs::log::print;\n");
    write("bin/tracemem/verbs/log.rs", &"// filler\n".repeat(MAX_LINES + 1));
    let found = problems(src);
    let has = |needle: &str| found.iter().any(|p| p.contains(needle));
    assert!(has("vocab/types.rs (layer vocab) imports store/mod.rs"), "{found:?}");
    assert!(has("import cycle: store/chunk.rs <-> store/mod.rs"), "{found:?}");
    assert!(
        has("verb bin/tracemem/verbs/read.rs imports verb bin/tracemem/verbs/log.rs"),
        "{found:?}"
    );
    assert!(has("bin/tracemem/verbs/log.rs has"), "{found:?}");
    assert_eq!(found.len(), 4, "{found:?}");
}
