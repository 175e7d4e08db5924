//! The layering test (a "tidy" test): kura-server's modules stand in layers, and each module may use
//! only modules of lower layers. The layer table is the one in ARCHITECTURE.md ("Layers of
//! kura-server"), so the document and the code cannot drift apart: a module missing from the table, a
//! table row naming a module that does not exist, and a `crate::…` or `super::…` path that reaches
//! sideways or up all fail here, with the offending line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The heading of the section of ARCHITECTURE.md that holds the table.
const SECTION: &str = "## Layers of kura-server";

/// Module name → layer number, from the table's rows (`| 3 | `iam` | … |`).
type Layers = BTreeMap<String, usize>;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads the layer table: every row of the section whose first cell is a number; the modules are the
/// back-quoted names of its second cell.
fn parse_table(architecture: &str) -> Result<Layers, String> {
    let start = architecture.find(SECTION).ok_or_else(|| format!("ARCHITECTURE.md has no {SECTION:?} section"))?;
    let section = &architecture[start + SECTION.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut layers = Layers::new();
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(number), Some(modules)) = (cells.get(1), cells.get(2)) else { continue };
        let Ok(layer) = number.parse::<usize>() else { continue };
        for module in modules.split('`').skip(1).step_by(2) {
            if layers.insert(module.to_owned(), layer).is_some() {
                return Err(format!("module `{module}` is in the layer table twice"));
            }
        }
    }
    if layers.is_empty() {
        return Err(format!("the {SECTION:?} section of ARCHITECTURE.md has no rows"));
    }
    Ok(layers)
}

/// The module path of a source file relative to `src/`: `a/b.rs` is `[a, b]`, `a/mod.rs` is `[a]`,
/// `lib.rs` is `[lib]` (the crate root, which the table names `lib`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules one line of code names: `crate::x`, each `x` of `crate::{x::…, y}`, and
/// `super::…::x` when the `super`s climb to the crate root. Comments are not code.
fn referenced_modules(line: &str, module: &[String]) -> Vec<String> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return Vec::new();
    }
    let code = line.find(" //").map_or(line, |at| &line[..at]);
    let mut found = Vec::new();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `kura_server::…` or another crate's path.
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            found.extend(group.split(',').map(|item| ident(item.trim())).filter(|m| !m.is_empty()));
        } else {
            found.push(ident(rest));
        }
    }
    // `super::` climbs from the file's module; a chain that reaches the root names a top-level module.
    let mut search = code;
    while let Some(at) = search.find("super::") {
        let chain_start = &search[at..];
        let ups = chain_start.split("::").take_while(|p| *p == "super").count();
        let after: String = chain_start.split("::").nth(ups).map(ident).unwrap_or_default();
        if ups >= module.len() && !after.is_empty() {
            found.push(after);
        }
        search = &search[at + "super::".len() * ups..];
    }
    found.retain(|m| m != "self" && m != "super");
    found
}

/// Every layering fault of one file's source, as `file:line: why`.
fn check_file(relative: &Path, source: &str, layers: &Layers) -> Vec<String> {
    let module = module_path(relative);
    let top = module.first().cloned().unwrap_or_default();
    let shown = relative.display();
    let Some(&own) = layers.get(&top) else {
        return vec![format!("src/{shown}: module `{top}` is not in the layer table of ARCHITECTURE.md")];
    };
    let mut faults = Vec::new();
    for (number, line) in source.lines().enumerate() {
        for target in referenced_modules(line, &module) {
            if target == top {
                continue;
            }
            match layers.get(&target) {
                None => faults.push(format!(
                    "src/{shown}:{}: `{target}` is not in the layer table: {}",
                    number + 1,
                    line.trim()
                )),
                Some(&layer) if layer >= own => faults.push(format!(
                    "src/{shown}:{}: `{top}` (layer {own}) may not use `{target}` (layer {layer}): {}",
                    number + 1,
                    line.trim()
                )),
                Some(_) => {}
            }
        }
    }
    faults
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_from_layers_below_it() {
    let architecture = fs::read_to_string(manifest_dir().join("../../ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let layers = parse_table(&architecture).unwrap_or_else(|e| panic!("{e}"));
    let src = manifest_dir().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut faults = Vec::new();
    let mut present = std::collections::BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        present.extend(module_path(relative).first().cloned());
        let source = fs::read_to_string(file).expect("source file");
        faults.extend(check_file(relative, &source, &layers));
    }
    for module in layers.keys().filter(|m| !present.contains(*m)) {
        faults.push(format!("the layer table names `{module}`, which is not a module of src/"));
    }
    assert!(faults.is_empty(), "layering faults (see ARCHITECTURE.md, {SECTION:?}):\n{}", faults.join("\n"));
}

/// The checker itself: a wrong import is caught with its line, and the allowed ones are not.
#[test]
fn the_checker_catches_imports_that_reach_up_or_sideways() {
    let table = "## Layers of kura-server\n| layer | modules |\n|--|--|\n| 0 | `base` |\n| 1 | `config`, `trace` |\n\
                 | 2 | `authz` |\n| 3 | `lib` |\n## Next\n| 9 | `ignored` |\n";
    let layers = parse_table(table).expect("table");
    assert_eq!(layers.get("trace"), Some(&1));
    assert_eq!(layers.get("ignored"), None);
    let down = "use crate::base::caller::Caller;\nuse crate::{base, config::Config};\n";
    assert!(check_file(Path::new("authz/access.rs"), down, &layers).is_empty());
    let up = "use crate::base::x;\nuse crate::authz::Authorizer; // reaches up\n";
    let faults = check_file(Path::new("config/mod.rs"), up, &layers);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert!(faults[0].starts_with("src/config/mod.rs:2: `config` (layer 1) may not use `authz` (layer 2)"));
    // Sideways (same layer) is refused too; comments and other crates' paths are not imports.
    let sideways = "// crate::authz in a comment\nlet x = kura_server::trace::Trace::default();\nuse crate::trace;\n";
    let faults = check_file(Path::new("config/mod.rs"), sideways, &layers);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert!(faults[0].starts_with("src/config/mod.rs:3:"));
    // `super::` from a folder's mod.rs reaches the crate root; from a file inside the folder it does not.
    assert_eq!(check_file(Path::new("config/mod.rs"), "use super::authz;\n", &layers).len(), 1);
    assert!(check_file(Path::new("config/identity.rs"), "use super::Config;\n", &layers).is_empty());
    assert_eq!(check_file(Path::new("config/identity.rs"), "use super::super::authz::X;\n", &layers).len(), 1);
    // A module the table does not know is a fault of its own.
    assert_eq!(check_file(Path::new("newthing.rs"), "", &layers).len(), 1);
}
