//! Peak memory of reading an AWS Price List offer file: `cargo bench --bench pricelist [-- --quick]`.
//!
//! Offer files run to tens of MB (the S3 and EC2 offers are the largest). `tollgate pricing
//! import` (the reader `pricing update` uses) streams each file and keeps only the products the
//! table can match. This bench writes offer files of realistic shape (products with AWS's
//! attribute set, on-demand terms with tiers, reserved terms to skip) at two sizes, and measures
//! in separate processes, by their peak resident set (wait4's ru_maxrss):
//!
//! * `tollgate pricing import FILE` (the release binary);
//! * a parse of the same file into one `serde_json::Value`, which is what reading it whole costs.
//!
//! Constant memory shows as the import's peak not growing with the file.

#[allow(dead_code)] // each bench uses its own subset
mod common;
use common::machine;

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Writes an offer file of about `target_mb` MB for `offer` in eu-west-1: a few products the
/// table prices (S3 request tiers), and many it does not.
fn write_offer(path: &Path, target_mb: usize) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    write!(
        out,
        r#"{{"formatVersion": "v1.0", "disclaimer": "This pricing list is for informational purposes only.", "offerCode": "AmazonS3", "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z", "products": {{"#
    )?;
    // One product with its terms is about 1.5 KB; the file's size is set by how many there are.
    let count = target_mb * 1024 * 1024 / 1500;
    let sku = |i: usize| format!("SKU{i:013}");
    let usage = |i: usize| match i {
        0 => "EUW1-Requests-Tier1".to_string(),
        1 => "EUW1-Requests-Tier2".to_string(),
        _ => format!("EUW1-TimedStorage-{i}-ByteHrs"),
    };
    for i in 0..count {
        let (family, group) = if i < 2 {
            (
                "API Request",
                if i == 0 {
                    "S3-API-Tier1"
                } else {
                    "S3-API-Tier2"
                },
            )
        } else {
            ("Storage", "S3-Storage")
        };
        write!(
            out,
            r#"{comma}"{sku}": {{"sku": "{sku}", "productFamily": "{family}", "attributes": {{"servicecode": "AmazonS3", "location": "EU (Ireland)", "locationType": "AWS Region", "group": "{group}", "groupDescription": "A description of the group", "usagetype": "{usage}", "operation": "", "regionCode": "eu-west-1", "servicename": "Amazon Simple Storage Service", "storageClass": "General Purpose", "volumeType": "Standard", "availability": "99.99%", "durability": "99.999999999%"}}}}"#,
            comma = if i == 0 { "" } else { ", " },
            sku = sku(i),
            usage = usage(i),
        )?;
    }
    write!(out, r#"}}, "terms": {{"OnDemand": {{"#)?;
    for i in 0..count {
        let s = sku(i);
        write!(
            out,
            r#"{comma}"{s}": {{"{s}.JRTCKXETXF": {{"offerTermCode": "JRTCKXETXF", "sku": "{s}", "effectiveDate": "2026-11-01T00:00:00Z", "priceDimensions": {{"{s}.JRTCKXETXF.6YS6EN2CT7": {{"rateCode": "{s}.JRTCKXETXF.6YS6EN2CT7", "description": "0.0054 USD per 1,000 requests", "beginRange": "0", "endRange": "Inf", "unit": "Requests", "pricePerUnit": {{"USD": "0.0000054000"}}, "appliesTo": []}}}}, "termAttributes": {{}}}}}}"#,
            comma = if i == 0 { "" } else { ", " },
        )?;
    }
    write!(out, r#"}}, "Reserved": {{}}}}}}"#)?;
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Runs `command` and returns its peak resident set in KiB and its wall time in seconds.
// The child is reaped by `wait4` (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn peak_rss(mut command: Command) -> (u64, f64) {
    let start = Instant::now();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the reader");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers to locals.
    let pid = unsafe { nix::libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed");
    assert_eq!(status, 0, "the reader failed");
    (usage.ru_maxrss as u64, start.elapsed().as_secs_f64())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Re-executed as the whole-document baseline.
    if let Some(at) = args.iter().position(|a| a == "--parse-whole") {
        let file = std::fs::File::open(&args[at + 1]).unwrap();
        let value: serde_json::Value =
            serde_json::from_reader(std::io::BufReader::new(file)).unwrap();
        std::hint::black_box(&value);
        return ExitCode::SUCCESS;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[4, 16] } else { &[8, 64] };
    let tollgate = env!("CARGO_BIN_EXE_tollgate");
    let dir = std::env::temp_dir().join(format!("tollgate-pricelist-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (model, cores) = machine();
    println!("machine: {model}, {cores} cores");
    println!("reading one AWS Price List offer file (peak resident set of the reading process):");
    println!(
        "{:>9}  {:>22}  {:>22}  {:>7}",
        "file", "tollgate pricing import", "serde_json::Value", "ratio"
    );
    for &mb in sizes {
        let file = dir.join(format!("offer-{mb}.json"));
        let bytes = write_offer(&file, mb).unwrap();
        let mut import = Command::new(tollgate);
        import
            .env("TOLLGATE_HOME", &dir)
            .args(["pricing", "import", "-o"])
            .arg(dir.join("imported.toml"))
            .arg(&file);
        let (streamed, streamed_s) = peak_rss(import);
        let mut whole = Command::new(std::env::current_exe().unwrap());
        whole.arg("--parse-whole").arg(&file);
        let (parsed, parsed_s) = peak_rss(whole);
        println!(
            "{:>6.1} MB  {:>9.1} MiB {:>8.2} s  {:>9.1} MiB {:>8.2} s  {:>6.3}x",
            bytes as f64 / 1e6,
            streamed as f64 / 1024.0,
            streamed_s,
            parsed as f64 / 1024.0,
            parsed_s,
            streamed as f64 / parsed as f64
        );
        let _ = std::fs::remove_file(&file);
    }
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}
