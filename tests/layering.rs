//! The crate's layering, kept true: `src/lib.rs`'s `# Layout` lists every
//! module from the top layer to the bottom, and a module may use only the
//! modules listed after it (and itself). This test reads that list and
//! every `crate::` path in the library's sources, and fails on a module
//! that reaches up, or on one that imports through a crate-root re-export
//! instead of from the module a thing lives in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The modules of `# Layout`, top first: each line `//! - [`name`]` or
/// `//! - `name``.
fn layout(lib: &str) -> Vec<String> {
    let after = lib
        .split("//! # Layout")
        .nth(1)
        .expect("lib.rs has a # Layout section");
    after
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| {
            let item = l.trim_start_matches("//!").trim_start();
            let item = item.strip_prefix("- ")?;
            let name = item.trim_start_matches('[').strip_prefix('`')?;
            Some(name.split('`').next()?.to_string())
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            // A module's tests, which may reach anywhere.
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The names that follow `crate::` in `text`, outside `#[cfg(test)]`
/// modules (a test may reach anywhere).
fn crate_paths(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name == "{" || name.is_empty() {
            continue;
        }
        out.push(name);
    }
    out
}

#[test]
fn every_module_uses_only_the_modules_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let order = layout(&lib);
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    sources(&root, &mut files);
    let binary = ["main", "cli", "progress"];
    let mut wrong = Vec::new();
    let mut unlisted = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let top = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || binary.contains(&top.as_str()) {
            continue;
        }
        let Some(&mine) = rank.get(top.as_str()) else {
            unlisted.push(top);
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_paths(&text) {
            if used == top {
                continue;
            }
            match rank.get(used.as_str()) {
                Some(&theirs) if theirs < mine => wrong.push(format!(
                    "{} uses {used}, which the layout puts above {top}",
                    rel.display()
                )),
                Some(_) => {}
                None => wrong.push(format!(
                    "{} uses crate::{used}: import it from the module it lives in",
                    rel.display()
                )),
            }
        }
    }
    unlisted.sort();
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "modules missing from lib.rs's # Layout: {unlisted:?}"
    );
    assert!(
        wrong.is_empty(),
        "the layering is not true:\n{}",
        wrong.join("\n")
    );
}
