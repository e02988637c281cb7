//! A damaged database (issue 13): refused with one clear message, never written to, and the
//! profiled command still runs.

use crate::common::tollgate;

/// A database with one recorded run, then a page in its middle overwritten.
fn damaged_database(home: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let db = home.join("history.db");
    let db_arg = db.to_str().unwrap();
    for _ in 0..3 {
        let (code, _, stderr) = tollgate(home, &["run", "-q", "--db", db_arg, "--", "true"]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let mut bytes = std::fs::read(&db).unwrap();
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let pages = bytes.len() / page_size;
    assert!(pages >= 4, "{pages} pages");
    let middle = pages / 2 * page_size;
    bytes[middle..middle + page_size].fill(0xA5);
    std::fs::write(&db, &bytes).unwrap();
    (db, bytes)
}

#[test]
fn a_damaged_database_is_reported_once_with_what_to_do_and_never_written() {
    let home = tempfile::tempdir().unwrap();
    let (db, bytes) = damaged_database(home.path());
    let db_arg = db.to_str().unwrap();

    for format in ["csv", "table", "json"] {
        let (code, stdout, stderr) = tollgate(
            home.path(),
            &["report", "--db", db_arg, "--last", "--format", format],
        );
        assert_eq!(code, Some(2), "report --format {format}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(
            stderr.matches("move it aside").count(),
            1,
            "one message that says what to do:\n{stderr}"
        );
        assert!(stderr.matches("malformed").count() <= 1, "{stderr}");
        assert!(stderr.lines().count() <= 2, "{stderr}");
    }

    // A run goes on (the command is what matters), says it is not recording, and writes
    // nothing into the damaged file.
    let (code, _, stderr) = tollgate(
        home.path(),
        &["run", "-q", "--db", db_arg, "--", "sh", "-c", "exit 3"],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("not recording"), "{stderr}");
    assert!(stderr.contains("move it aside"), "{stderr}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the damaged file was written to"
    );
}
