//! `scripts/check-layers.sh`, run on small source trees of its own: a clean tree passes, and
//! each kind of import into a higher layer (plain, grouped over several lines, `crate::` from
//! `record`) fails naming the file and line, while the same import in a comment does not.
//! Circles between the files of one folder are warnings, errors with `--strict-files`.

use std::path::Path;

use tempfile::TempDir;

/// A `src/` tree in a scratch directory: (path under `src/`, contents).
fn tree(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join("src").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Runs the check on `dir/src`: (exit code, stdout and stderr).
fn check(dir: &TempDir, args: &[&str]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-layers.sh");
    let output = crate::common::hermetic_command("bash")
        .arg(script)
        .args(args)
        .arg(dir.path().join("src"))
        .output()
        .expect("bash runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().expect("exited"), text)
}

/// Every layer in the table, each importing only what it may.
const CLEAN: &[(&str, &str)] = &[
    (
        "lib.rs",
        "pub mod aws;\npub mod cli;\npub mod proxy;\npub mod record;\npub mod store;\n",
    ),
    ("proxy/mod.rs", "pub mod forward;\npub use forward::Target;\n"),
    (
        "proxy/forward.rs",
        "use super::Target as _;\npub struct Target;\npub(crate) use crate::proxy::forward as f;\n",
    ),
    ("record/mod.rs", "pub mod call;\npub use call::Call;\n"),
    ("record/call.rs", "pub struct Call;\nuse super::Call as _;\n"),
    (
        "aws/mod.rs",
        "use crate::{\n    record::Call,\n    aws::host,\n};\npub fn f() -> Call { crate::record::Call }\n",
    ),
    (
        "store/mod.rs",
        "pub use crate::record::call::Call;\nconst C: &str = \"crate::cli::not_code\";\n",
    ),
    (
        "cli/mod.rs",
        "use crate::{aws, proxy, store};\nfn f() { crate::store::x(); }\n",
    ),
];

fn with(extra: &[(&'static str, &'static str)]) -> TempDir {
    let mut files: Vec<(&str, &str)> = CLEAN.to_vec();
    files.extend_from_slice(extra);
    tree(&files)
}

#[test]
fn a_tree_that_keeps_its_layers_passes() {
    let (code, text) = check(&tree(CLEAN), &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("respect the layers"), "{text}");
}

#[test]
fn the_proxy_importing_aws_fails_naming_the_file_line_and_import() {
    let dir = with(&[("proxy/x.rs", "//! The x.\n\nuse crate::aws::Foo;\n")]);
    let (code, text) = check(&dir, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("proxy/x.rs:3:"), "{text}");
    assert!(text.contains("`crate::aws::Foo`"), "{text}");
    assert!(text.contains("proxy must not import aws"), "{text}");
}

#[test]
fn a_grouped_import_over_several_lines_fails_on_the_line_of_the_member() {
    let dir = with(&[(
        "aws/y.rs",
        "use crate::{\n    record::Call,\n    store::Store,\n};\n",
    )]);
    let (code, text) = check(&dir, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("aws/y.rs:3:"), "{text}");
    assert!(text.contains("`crate::store::Store`"), "{text}");
    // `record` is below `aws`: only the `store` member is a violation.
    assert!(!text.contains("crate::record::Call"), "{text}");
}

#[test]
fn record_using_anything_of_the_crate_fails() {
    for (file, line) in [
        ("record/raw.rs", "use crate::aws::Arn;\n"),
        (
            "record/inline.rs",
            "fn f() { crate::record::call::Call; }\n",
        ),
        ("record/up.rs", "use super::super::store::Store;\n"),
    ] {
        let (code, text) = check(&with(&[(file, line)]), &[]);
        assert_eq!(code, 1, "{file}: {text}");
        assert!(text.contains(&format!("{file}:1:")), "{file}: {text}");
        assert!(
            text.contains("record imports nothing of tollgate"),
            "{text}"
        );
    }
}

#[test]
fn the_same_import_in_comments_and_strings_passes() {
    let dir = with(&[(
        "proxy/x.rs",
        "//! Not [`crate::aws::Foo`].\n\
         /// Nor `crate::aws::Foo`.\n\
         // use crate::aws::Foo;\n\
         /* use crate::aws::Foo; /* nested */ crate::aws::Foo */\n\
         const S: &str = \"use crate::aws::Foo;\";\n\
         const R: &str = r#\"crate::aws::Foo \"quoted\"\"#;\n\
         const C: char = '{';\n\
         pub fn f() {}\n",
    )]);
    let (code, text) = check(&dir, &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn test_code_keeps_the_layers_too() {
    let dir = with(&[(
        "proxy/x.rs",
        "pub fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use crate::store::Store;\n}\n",
    )]);
    let (code, text) = check(&dir, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("proxy/x.rs:5:"), "{text}");
}

#[test]
fn files_of_one_folder_importing_each_other_warn_and_fail_only_when_strict() {
    let dir = with(&[
        ("store/a.rs", "use super::b::B;\npub struct A;\n"),
        (
            "store/b.rs",
            "pub struct B;\nfn f() { crate::store::a::A; }\n",
        ),
    ]);
    let (code, text) = check(&dir, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("warning: store/: files import each other: a <-> b"),
        "{text}"
    );
    assert!(text.contains("store/a.rs:1: a -> b"), "{text}");
    assert!(text.contains("store/b.rs:2: b -> a"), "{text}");

    let (code, text) = check(&dir, &["--strict-files"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error: store/: files import each other"),
        "{text}"
    );
}
