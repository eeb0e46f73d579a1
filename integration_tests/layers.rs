//! The product's modules in layers, checked from the source: each module uses only modules on
//! its own level or below (`LEVELS`, as the README's "Development" map lists them), and no modules
//! use each other in a circle. It reads the `crate::` and `super::` paths of every file in `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every product module and its level, from the bottom. The engine is a node of its own, so
/// that the stream table and the engine are checked for a circle too.
const LEVELS: &[(&str, u8)] = &[
    ("protocol", 1),
    ("error", 1),
    ("secrets", 1),
    ("memory", 1),
    ("config", 2),
    ("http", 3),
    ("streams", 4),
    ("streams::engine", 4),
    ("custom_fields", 5),
    ("output", 6),
    ("progress", 6),
    ("catalog", 7),
    ("state", 7),
    ("commands", 8),
    ("cli", 8),
    ("lib", 8),
];

/// Not product modules: the fake Pipedrive (which uses none of them) and the binary, which sees
/// the library from outside.
fn skipped(rel: &Path) -> bool {
    rel.starts_with("sandbox") || rel == Path::new("main.rs")
}

fn level(node: &str) -> Option<u8> {
    LEVELS.iter().find(|(n, _)| *n == node).map(|(_, l)| *l)
}

/// The node a module path (from the crate root) belongs to.
fn node(path: &[String]) -> String {
    match path {
        [] => "lib".to_string(),
        [first, second, ..] if first == "streams" && second == "engine" => {
            "streams::engine".to_string()
        }
        [first, ..] => first.clone(),
    }
}

/// The module path of a file, e.g. `streams/engine/listing.rs` → `streams::engine::listing`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().expect("a file name");
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib") {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_space(s: &[u8], i: &mut usize) {
    while *i < s.len() && s[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

/// Reads one path at `i` (after `crate::` or the `super::`s), groups included, adding each full
/// path to `out`: `streams::{self, engine::Shape}` gives `streams` and `streams::engine::Shape`.
fn read_paths(s: &[u8], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        skip_space(s, i);
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            loop {
                skip_space(s, i);
                if *i >= s.len() || s[*i] == b'}' {
                    *i += 1;
                    return;
                }
                read_paths(s, i, prefix.clone(), out);
                // Past `as name`, up to the next item.
                while *i < s.len() && s[*i] != b',' && s[*i] != b'}' {
                    *i += 1;
                }
                if *i < s.len() && s[*i] == b',' {
                    *i += 1;
                }
            }
        }
        let start = *i;
        while *i < s.len() && is_ident(s[*i]) {
            *i += 1;
        }
        let ident = String::from_utf8_lossy(&s[start..*i]).into_owned();
        if !ident.is_empty() && ident != "self" {
            prefix.push(ident);
        }
        if s[*i..].starts_with(b"::") {
            *i += 2;
            continue;
        }
        out.push(prefix);
        return;
    }
}

/// Every module path a file's code names with `crate::`, `super::`, or the name of a module it
/// declares (`mod engine;` then `engine::`; the crate root names every top-level module so).
/// Comment lines are left out. `super::` after the file's first inline module (its tests, which
/// come last) starts from that inline module.
fn referenced(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut code = String::new();
    let mut inline_from = None;
    let mut children = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let declared = match words.as_slice() {
            ["mod", name, rest @ ..] => Some((*name, rest)),
            [vis, "mod", name, rest @ ..] if vis.starts_with("pub") => Some((*name, rest)),
            _ => None,
        };
        match declared {
            Some((name, [])) if name.ends_with(';') => {
                children.push(name.trim_end_matches(';').to_string());
            }
            Some((_, ["{", ..])) if inline_from.is_none() => inline_from = Some(code.len()),
            _ => {}
        }
        code.push_str(line);
        code.push('\n');
    }
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let at_word = i == 0 || !(is_ident(s[i - 1]) || s[i - 1] == b':' || s[i - 1] == b'$');
        if at_word && s[i..].starts_with(b"crate::") {
            i += "crate::".len();
            read_paths(s, &mut i, Vec::new(), &mut out);
        } else if at_word && s[i..].starts_with(b"super::") {
            let mut base = module.to_vec();
            if inline_from.is_some_and(|from| i >= from) {
                base.push("(inline)".to_string());
            }
            while s[i..].starts_with(b"super::") {
                i += "super::".len();
                assert!(
                    base.pop().is_some(),
                    "`super::` above the crate root in {module:?}"
                );
            }
            read_paths(s, &mut i, base, &mut out);
        } else if let Some(child) = children
            .iter()
            .find(|c| at_word && s[i..].starts_with(format!("{c}::").as_bytes()))
        {
            i += child.len() + 2;
            let mut base = module.to_vec();
            base.push(child.clone());
            read_paths(s, &mut i, base, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Which node uses which, with the files that do it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src").to_path_buf();
        if skipped(&rel) {
            continue;
        }
        let module = module_of(&rel);
        let from = node(&module);
        assert!(
            level(&from).is_some(),
            "{}: module {from} has no level in LEVELS",
            rel.display()
        );
        let text = std::fs::read_to_string(&file).expect("a source file");
        let uses = graph.entry(from.clone()).or_default();
        for path in referenced(&text, &module) {
            let to = node(&path);
            if to != from && to != "sandbox" {
                uses.entry(to)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

fn render(graph: &Graph) -> String {
    let mut text = String::new();
    for (from, uses) in graph {
        let names: Vec<&str> = uses.keys().map(String::as_str).collect();
        text.push_str(&format!(
            "{} {from} -> {}\n",
            level(from).unwrap_or(0),
            names.join(", ")
        ));
    }
    text
}

/// A circle through `node`, if there is one, as the nodes along it.
fn circle(
    graph: &Graph,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    let node = path.last().expect("a node").clone();
    for next in graph.get(&node).into_iter().flat_map(|u| u.keys()) {
        if let Some(at) = path.iter().position(|n| n == next) {
            let mut found = path[at..].to_vec();
            found.push(next.clone());
            return Some(found);
        }
        if done.contains(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(found) = circle(graph, path, done) {
            return Some(found);
        }
        path.pop();
    }
    done.insert(node);
    None
}

#[test]
fn modules_use_only_their_own_level_or_below() {
    let graph = graph();
    println!("{}", render(&graph));
    let mut upward = Vec::new();
    for (from, uses) in &graph {
        for (to, files) in uses {
            let (Some(low), Some(high)) = (level(from), level(to)) else {
                upward.push(format!(
                    "{from} uses {to}, which has no level in LEVELS ({files:?})"
                ));
                continue;
            };
            if high > low {
                upward.push(format!(
                    "{from} (level {low}) uses {to} (level {high}) in {files:?}"
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that go up a level:\n{}\n\nthe graph:\n{}",
        upward.join("\n"),
        render(&graph)
    );
}

#[test]
fn no_modules_use_each_other_in_a_circle() {
    let graph = graph();
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        if done.contains(start) {
            continue;
        }
        if let Some(found) = circle(&graph, &mut vec![start.clone()], &mut done) {
            panic!(
                "modules in a circle: {}\n\nthe graph:\n{}",
                found.join(" -> "),
                render(&graph)
            );
        }
    }
}

#[test]
fn the_reader_of_paths_sees_groups_supers_and_tests() {
    let root = "pub mod commands;\nmod config;\nuse config::Config;\nfn f() { commands::read(); my_config::x(); }\n";
    let found: Vec<String> = referenced(root, &[]).iter().map(|p| p.join("::")).collect();
    assert_eq!(found, ["config::Config", "commands::read"]);
    let module = vec![
        "streams".to_string(),
        "engine".to_string(),
        "emit".to_string(),
    ];
    let text = "//! crate::output is only named here\n\
                use super::interfaces::{Shape, Sink};\n\
                use crate::streams::{self, time, engine::Window as W};\n\
                fn f() { crate::config::DEFAULT.len(); x.super_thing(); }\n\
                #[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::super::find;\n}\n";
    let found: Vec<String> = referenced(text, &module)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "streams::engine::interfaces::Shape",
            "streams::engine::interfaces::Sink",
            "streams",
            "streams::time",
            "streams::engine::Window",
            "config::DEFAULT",
            "streams::engine::emit",
            "streams::find",
        ]
    );
    let nodes: BTreeSet<String> = referenced(text, &module).iter().map(|p| node(p)).collect();
    assert_eq!(
        nodes,
        BTreeSet::from([
            "config".to_string(),
            "streams".into(),
            "streams::engine".into()
        ])
    );
    assert_eq!(
        module_of(Path::new("streams/engine/mod.rs")),
        ["streams", "engine"]
    );
    assert_eq!(module_of(Path::new("lib.rs")), Vec::<String>::new());
}
