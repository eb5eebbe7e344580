//! The layers of farm-core only look down, and no two modules need each other: read from the
//! sources themselves (every `crate::module` a module's code names, tests and comments left
//! out), so that a new import that breaks the shape fails here, not in a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use, besides the external crates. The order is the
/// architecture (ARCHITECTURE.md): error, domain, config, platform, then the infrastructure
/// (store, identity, mediawiki), then backends and mail, then jobs, then the app facade.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("domain", &["error"]),
    ("config", &["domain", "error"]),
    ("platform", &["config", "domain", "error"]),
    ("store", &["domain", "error", "platform"]),
    ("identity", &["config", "domain", "error", "platform"]),
    ("mediawiki", &["config", "domain", "error", "platform"]),
    ("backends", &["config", "domain", "error", "mediawiki", "platform"]),
    ("mail", &["config", "domain", "error", "mediawiki", "platform", "store"]),
    ("jobs", &["backends", "config", "domain", "error", "mail", "mediawiki", "platform", "store"]),
    ("app", &["backends", "config", "domain", "error", "identity", "jobs", "mail", "mediawiki", "platform", "store"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src()).expect("under src").to_string_lossy().into_owned();
            out.push((relative, std::fs::read_to_string(&path).expect("read")));
        }
    }
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The names that follow `prefix` in `text` (`crate::store::x` → `store`).
fn names_after<'a>(text: &'a str, prefix: &str) -> BTreeSet<&'a str> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn layers_only_look_down_and_no_modules_need_each_other() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let tops: BTreeSet<String> = files
        .iter()
        .filter(|(path, _)| path != "lib.rs")
        .map(|(path, _)| path.split('/').next().unwrap_or("").trim_end_matches(".rs").to_owned())
        .collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    assert_eq!(
        tops.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        allowed.keys().copied().collect(),
        "every module has a layer"
    );

    let mut top_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sibling_graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (path, text) in files.iter().filter(|(path, _)| path != "lib.rs") {
        let code = code(text);
        let mut parts: Vec<&str> = path.trim_end_matches(".rs").split('/').collect();
        let top = parts[0].to_owned();
        for used in names_after(&code, "crate::") {
            if used != top && tops.contains(used) {
                if !allowed[top.as_str()].contains(&used) {
                    wrong.push(format!("{path} uses crate::{used}"));
                }
                top_graph.entry(top.clone()).or_default().insert(used.to_owned());
            }
        }
        // Siblings: `super::x` and `crate::top::x` inside a directory module.
        if parts.len() > 1 {
            let me = parts.pop().unwrap_or("");
            if me == "mod" {
                continue; // The parent declares and re-exports its children.
            }
            let parent = parts.join("/");
            let siblings: BTreeSet<&str> = names_after(&code, "super::")
                .into_iter()
                .chain(names_after(&code, &format!("crate::{}::", parts.join("::"))))
                .filter(|name| *name != me && files.iter().any(|(p, _)| *p == format!("{parent}/{name}.rs")))
                .collect();
            let graph = sibling_graphs.entry(parent).or_default();
            graph.entry(me.to_owned()).or_default().extend(siblings.into_iter().map(str::to_owned));
        }
    }
    assert!(wrong.is_empty(), "imports against the layering:\n{}", wrong.join("\n"));
    assert_eq!(cycle(&top_graph), None, "modules that need each other");
    for (parent, graph) in &sibling_graphs {
        assert_eq!(cycle(graph), None, "submodules of {parent} that need each other");
    }
}
