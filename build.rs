//! Embeds every `pricing/*.toml` file in the binary: `src/pricing/table.rs` includes the list
//! written here, so adding a file to `pricing/` needs no code change. Also rebuilds the crate when
//! a migration changes (`migrations/`, embedded by `sqlx::migrate!`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // sqlx::migrate! embeds the SQL: a changed migration must rebuild the crate.
    println!("cargo::rerun-if-changed=migrations");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pricing");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the pricing/ directory")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    names.sort();
    let mut list = String::from("[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo::rerun-if-changed={}", path.display());
        writeln!(
            list,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to a String");
    }
    list.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("pricing_files.rs");
    std::fs::write(out, list).expect("write pricing_files.rs");
}
