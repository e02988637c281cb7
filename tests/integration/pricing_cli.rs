//! `tollgate pricing import|show|check`, run as the real binary: AWS Price List offer files (in
//! their real JSON layout, `tests/fixtures/pricelist/`) imported into tollgate's data directory or
//! a named file, the overlay `tollgate.toml` found from the working directory, and what
//! `pricing show` and `pricing check` then say.
//!
//! Every run gets its own data directory (`TOLLGATE_HOME`, with `HOME` and `XDG_DATA_HOME` pointed
//! into the same scratch directory) and its own working directory, so no file of the machine's,
//! and no other test's, is read or written.
//!
//! The fixtures' prices are chosen to be told apart (S3 Tier2 and Intelligent-Tiering Tier1 in
//! eu-west-1 differ from every other price in the files), so a product matched to the wrong entry
//! shows up as a wrong price rather than passing unnoticed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::common::tollgate_command;

/// `tollgate pricing check`'s exit code when the table or overlay has problems.
const EXIT_PROBLEMS: i32 = 1;
/// tollgate's own errors (unreadable or invalid files, bad arguments).
const EXIT_ERROR: i32 = 2;

const S3_EU_WEST_1: &str = "AmazonS3-eu-west-1.json";
const S3_EU_CENTRAL_1: &str = "AmazonS3-eu-central-1.json";
const DYNAMODB_EU_WEST_1: &str = "AmazonDynamoDB-eu-west-1.json";
const SQS_EU_WEST_1: &str = "AWSQueueService-eu-west-1.json";
/// A real mistake: the region index next to the offer files, which is JSON but no offer.
const REGION_INDEX: &str = "region_index.json";

const S3_EU_WEST_1_URL: &str =
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonS3/20260701000000/eu-west-1/index.json";
const S3_EU_CENTRAL_1_URL: &str =
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonS3/20260801000000/eu-central-1/index.json";
const DYNAMODB_EU_WEST_1_URL: &str =
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonDynamoDB/20260715000000/eu-west-1/index.json";
const SQS_EU_WEST_1_URL: &str =
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AWSQueueService/20260710000000/eu-west-1/index.json";
/// The built-in `s3/standard/tier1` (pricing/s3.toml).
const S3_TIER1_US_EAST_1: &str = "0.000005";
const S3_TIER1_SOURCE: &str =
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonS3/current/us-east-1/index.json";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pricelist")
        .join(name)
        .to_str()
        .expect("the repository path is UTF-8")
        .to_string()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// A scratch directory holding tollgate's data directory and a working directory.
struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// One finished run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn succeeded(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // The working directory's path as the process will see it (no symlinks), so the paths
        // tollgate prints can be compared with ours.
        let root = dir.path().canonicalize().unwrap();
        if let Some(stray) = root
            .ancestors()
            .map(|d| d.join("tollgate.toml"))
            .find(|f| f.is_file())
        {
            panic!(
                "{} would be found as the overlay by every test here; remove it",
                stray.display()
            );
        }
        std::fs::create_dir_all(root.join("work")).unwrap();
        Self { _dir: dir, root }
    }

    /// tollgate's data directory; tollgate creates it.
    fn home(&self) -> PathBuf {
        self.root.join("data/tollgate")
    }

    /// A working directory with nothing in it.
    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn imported_file(&self) -> PathBuf {
        self.home().join("pricing-imported.toml")
    }

    /// Runs `tollgate ARGS` in `cwd`.
    fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let output = tollgate_command(&self.home())
            .args(args)
            .current_dir(cwd)
            .env("XDG_DATA_HOME", self.root.join("xdg"))
            .env("HOME", self.root.join("user"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `tollgate ARGS` in the empty working directory.
    fn run(&self, args: &[&str]) -> Run {
        self.run_in(&self.work(), args)
    }

    /// `tollgate pricing show ARGS --format json`, parsed.
    fn show_in(&self, cwd: &Path, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["pricing", "show"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let run = self.run_in(cwd, &all);
        run.succeeded();
        match serde_json::from_str(&run.stdout) {
            Ok(Value::Array(entries)) => entries,
            other => panic!(
                "`{}`: not a JSON array ({other:?}):\n{}",
                all.join(" "),
                run.stdout
            ),
        }
    }

    fn show(&self, args: &[&str]) -> Vec<Value> {
        self.show_in(&self.work(), args)
    }

    /// Writes `tollgate.toml` into `dir` (created), returning the file's path.
    fn overlay(&self, dir: &Path, content: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("tollgate.toml");
        std::fs::write(&path, content).unwrap();
        path
    }
}

/// The entry `id` of a `pricing show --format json` listing.
fn entry<'a>(entries: &'a [Value], id: &str) -> &'a Value {
    entries.iter().find(|e| e["id"] == id).unwrap_or_else(|| {
        let ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
        panic!("no entry `{id}` in {ids:?}")
    })
}

fn field<'a>(entry: &'a Value, name: &str) -> &'a str {
    entry[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is not a string in {entry}"))
}

/// One imported regional price: usd, source, as_of.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Imported {
    usd: String,
    source: String,
    as_of: String,
}

fn imported(usd: &str, source: &str, as_of: &str) -> Imported {
    Imported {
        usd: usd.into(),
        source: source.into(),
        as_of: as_of.into(),
    }
}

/// An imported-prices file (`[[pricing.regional]]` entries), by (id, region).
fn read_imported(path: &Path) -> BTreeMap<(String, String), Imported> {
    let content = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let parsed: toml::Table = content
        .parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}\n{content}", path.display()));
    let mut out = BTreeMap::new();
    let regional = parsed["pricing"]["regional"]
        .as_array()
        .unwrap_or_else(|| panic!("no [[pricing.regional]] in\n{content}"));
    for spec in regional {
        let get = |key: &str| spec[key].as_str().unwrap().to_string();
        let previous = out.insert(
            (get("id"), get("region")),
            Imported {
                usd: get("usd"),
                source: get("source"),
                as_of: get("as_of"),
            },
        );
        assert!(previous.is_none(), "a price twice in\n{content}");
    }
    out
}

fn key(id: &str, region: &str) -> (String, String) {
    (id.to_string(), region.to_string())
}

/// What the three eu-west-1 fixtures hold for the table, and nothing else: the INT-Tier1 product
/// goes to Intelligent-Tiering (not Standard), the Tier3 and storage products and DynamoDB's
/// provisioned capacity (same `group`, another productFamily) match nothing, and SQS's $0 first
/// tier gives way to the first tier that costs something.
fn eu_west_1_prices() -> BTreeMap<(String, String), Imported> {
    let s3 = |usd| imported(usd, S3_EU_WEST_1_URL, "2026-07-01");
    let dynamodb = |usd| imported(usd, DYNAMODB_EU_WEST_1_URL, "2026-07-15");
    let sqs = |usd| imported(usd, SQS_EU_WEST_1_URL, "2026-07-10");
    BTreeMap::from([
        (key("s3/standard/tier1", "eu-west-1"), s3("0.0000054")),
        (key("s3/standard/tier2", "eu-west-1"), s3("0.00000044")),
        (
            key("s3/intelligent-tiering/tier1", "eu-west-1"),
            s3("0.0000057"),
        ),
        (
            key("dynamodb/on-demand/read", "eu-west-1"),
            dynamodb("0.0000001415"),
        ),
        (
            key("dynamodb/on-demand/write", "eu-west-1"),
            dynamodb("0.0000007068"),
        ),
        (key("sqs/standard/request", "eu-west-1"), sqs("0.0000004")),
        (key("sqs/fifo/request", "eu-west-1"), sqs("0.0000005")),
    ])
}

// ---- pricing import ------------------------------------------------------------------------

#[test]
fn an_import_into_the_data_directory_prices_later_runs_in_that_region() {
    let sandbox = Sandbox::new();
    let (s3, dynamodb, sqs) = (
        fixture(S3_EU_WEST_1),
        fixture(DYNAMODB_EU_WEST_1),
        fixture(SQS_EU_WEST_1),
    );
    let run = sandbox.run(&["pricing", "import", &s3, &dynamodb, &sqs]);
    run.succeeded();
    let written = sandbox.imported_file();
    for line in [
        format!("read {s3}: AmazonS3 version 20260701000000"),
        format!("read {dynamodb}: AmazonDynamoDB version 20260715000000"),
        format!("read {sqs}: AWSQueueService version 20260710000000"),
        format!(
            "7 regional prices for 1 regions written to {}",
            written.display()
        ),
    ] {
        assert!(
            run.stderr.contains(&line),
            "no `{line}` in:\n{}",
            run.stderr
        );
    }
    // No two matching products with different prices: DynamoDB's provisioned capacity is not
    // taken for the on-demand write entry, whose key has no usagetype.
    assert!(!run.stderr.contains("skipped"), "{}", run.stderr);
    assert_eq!(read_imported(&written), eu_west_1_prices());

    // A later run reads the data directory's file by itself.
    let eu = sandbox.show(&["s3:PutObject", "--region", "eu-west-1"]);
    let tier1 = entry(&eu, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000054", "{tier1}");
    assert_eq!(tier1["estimated"], false, "{tier1}");
    assert_eq!(field(tier1, "region"), "eu-west-1");
    assert_eq!(field(tier1, "source"), S3_EU_WEST_1_URL);
    assert_eq!(field(tier1, "as_of"), "2026-07-01");
    let tier2 = entry(&eu, "s3/standard/tier2");
    assert_eq!(field(tier2, "usd"), "0.00000044", "{tier2}");
    assert_eq!(tier2["estimated"], false, "{tier2}");
    let int_tier1 = entry(&eu, "s3/intelligent-tiering/tier1");
    assert_eq!(field(int_tier1, "usd"), "0.0000057", "{int_tier1}");
    // No product for Standard-IA in the file: the us-east-1 price, said to be an estimate.
    let ia = entry(&eu, "s3/standard-ia/tier1");
    assert_eq!(field(ia, "usd"), "0.00001", "{ia}");
    assert_eq!(ia["estimated"], true, "{ia}");

    let sqs_eu = sandbox.show(&["sqs", "--region", "eu-west-1"]);
    for (id, usd) in [
        ("sqs/standard/request", "0.0000004"),
        ("sqs/fifo/request", "0.0000005"),
    ] {
        let shown = entry(&sqs_eu, id);
        assert_eq!(field(shown, "usd"), usd, "{shown}");
        assert_eq!(shown["estimated"], false, "{shown}");
        assert_eq!(field(shown, "source"), SQS_EU_WEST_1_URL);
    }
    let dynamodb_eu = sandbox.show(&["dynamodb", "--region", "eu-west-1"]);
    for (id, usd) in [
        ("dynamodb/on-demand/read", "0.0000001415"),
        ("dynamodb/on-demand/write", "0.0000007068"),
    ] {
        let shown = entry(&dynamodb_eu, id);
        assert_eq!(field(shown, "usd"), usd, "{shown}");
        assert_eq!(shown["estimated"], false, "{shown}");
    }

    // A region nothing was imported for: the us-east-1 price, marked as such, with its own source.
    let sydney = sandbox.show(&["s3:PutObject", "--region", "ap-southeast-2"]);
    let tier1 = entry(&sydney, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), S3_TIER1_US_EAST_1, "{tier1}");
    assert_eq!(tier1["estimated"], true, "{tier1}");
    assert_eq!(field(tier1, "source"), S3_TIER1_SOURCE);
    assert_eq!(field(tier1, "origin"), "built-in");
    let text = sandbox.run(&[
        "pricing",
        "show",
        "s3:PutObject",
        "--region",
        "ap-southeast-2",
    ]);
    text.succeeded();
    assert!(
        text.stdout.contains(&format!(
            "s3/standard/tier1  ${S3_TIER1_US_EAST_1} per request (no ap-southeast-2 price: us-east-1's)"
        )),
        "{}",
        text.stdout
    );
    // us-east-1 itself is the table's own price, not an estimate.
    let virginia = sandbox.show(&["s3:PutObject"]);
    let tier1 = entry(&virginia, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), S3_TIER1_US_EAST_1, "{tier1}");
    assert_eq!(tier1["estimated"], false, "{tier1}");

    // The imported file passes the check and is named as read.
    let check = sandbox.run(&["pricing", "check"]);
    check.succeeded();
    assert!(
        check
            .stdout
            .contains(&format!("imported ({})", written.display())),
        "{}",
        check.stdout
    );
}

/// `origin` says where the price shown came from (`Origin`: "Where a price came from, for
/// `pricing show` and reports"); a regional price read from the imported file did not come from
/// the built-in table.
#[test]
fn an_imported_regional_price_is_shown_with_the_imported_file_as_its_origin() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["pricing", "import", &fixture(S3_EU_WEST_1)])
        .succeeded();
    let eu = sandbox.show(&["s3:PutObject", "--region", "eu-west-1"]);
    let tier1 = entry(&eu, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000054", "{tier1}");
    assert_eq!(
        field(tier1, "origin"),
        format!("imported ({})", sandbox.imported_file().display()),
        "the eu-west-1 price was read from the imported file: {tier1}"
    );
}

#[test]
fn a_reimport_keeps_other_regions_and_entries_and_replaces_the_same_region() {
    let sandbox = Sandbox::new();
    let out = sandbox.root.join("imported.toml");
    let out_arg = text(&out);
    sandbox
        .run(&[
            "pricing",
            "import",
            &fixture(DYNAMODB_EU_WEST_1),
            "-o",
            out_arg,
        ])
        .succeeded();
    sandbox
        .run(&["pricing", "import", &fixture(S3_EU_WEST_1), "-o", out_arg])
        .succeeded();
    let run = sandbox.run(&[
        "pricing",
        "import",
        &fixture(S3_EU_CENTRAL_1),
        "-o",
        out_arg,
    ]);
    run.succeeded();
    assert!(
        run.stderr.contains(&format!(
            "1 regional prices for 1 regions written to {out_arg}"
        )),
        "{}",
        run.stderr
    );
    // -o writes there and only there.
    assert!(!sandbox.imported_file().exists());

    let mut expected: BTreeMap<_, _> = eu_west_1_prices()
        .into_iter()
        .filter(|((id, _), _)| !id.starts_with("sqs/"))
        .collect();
    expected.insert(
        key("s3/standard/tier1", "eu-central-1"),
        imported("0.0000054", S3_EU_CENTRAL_1_URL, "2026-08-01"),
    );
    assert_eq!(read_imported(&out), expected);

    // A newer eu-west-1 offer file: its prices replace the old eu-west-1 ones, nothing else moves.
    let newer = sandbox.root.join("AmazonS3-eu-west-1-newer.json");
    let original = std::fs::read_to_string(fixture(S3_EU_WEST_1)).unwrap();
    let changed = original
        .replace("\"0.0000054000\"", "\"0.0000056000\"")
        .replace("20260701000000", "20260901000000")
        .replace("2026-07-01T", "2026-09-01T");
    assert_ne!(changed, original);
    std::fs::write(&newer, changed).unwrap();
    sandbox
        .run(&["pricing", "import", text(&newer), "-o", out_arg])
        .succeeded();
    let newer_url = S3_EU_WEST_1_URL.replace("20260701000000", "20260901000000");
    for (id, usd) in [
        ("s3/standard/tier1", "0.0000056"),
        ("s3/standard/tier2", "0.00000044"),
        ("s3/intelligent-tiering/tier1", "0.0000057"),
    ] {
        expected.insert(
            key(id, "eu-west-1"),
            imported(usd, &newer_url, "2026-09-01"),
        );
    }
    assert_eq!(read_imported(&out), expected);

    // A file written with -o is an overlay like any other.
    let eu = sandbox.show(&[
        "s3:PutObject",
        "--region",
        "eu-west-1",
        "--pricing",
        out_arg,
    ]);
    let tier1 = entry(&eu, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000056", "{tier1}");
    assert_eq!(tier1["estimated"], false, "{tier1}");
    assert_eq!(field(tier1, "source"), newer_url);
    let frankfurt = sandbox.show(&[
        "s3:PutObject",
        "--region",
        "eu-central-1",
        "--pricing",
        out_arg,
    ]);
    let tier1 = entry(&frankfurt, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000054", "{tier1}");
    assert_eq!(tier1["estimated"], false, "{tier1}");
    assert_eq!(field(tier1, "source"), S3_EU_CENTRAL_1_URL);
    // Not read unless named: the data directory has no imported file.
    let without = sandbox.show(&["s3:PutObject", "--region", "eu-central-1"]);
    assert_eq!(
        entry(&without, "s3/standard/tier1")["estimated"],
        true,
        "{without:?}"
    );
}

#[test]
fn a_malformed_offer_file_fails_naming_the_file_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let out = sandbox.root.join("imported.toml");
    let out_arg = text(&out);
    sandbox
        .run(&["pricing", "import", &fixture(SQS_EU_WEST_1), "-o", out_arg])
        .succeeded();
    let before = std::fs::read(&out).unwrap();

    let truncated = sandbox.root.join("AmazonS3-truncated.json");
    let whole = std::fs::read_to_string(fixture(S3_EU_WEST_1)).unwrap();
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let csv = sandbox.root.join("index.csv");
    std::fs::write(
        &csv,
        "\"FormatVersion\",\"v1.0\"\n\"Disclaimer\",\"This pricing list is for informational purposes only.\"\n\"Publication Date\",\"2026-07-01T00:00:00Z\"\n\"Version\",\"20260701000000\"\n\"OfferCode\",\"AmazonS3\"\n\"SKU\",\"OfferTermCode\",\"RateCode\"\n",
    )
    .unwrap();
    let missing = sandbox.root.join("no-such-offer.json");
    let not_an_offer = "is not an AWS Price List offer file";
    let cases = [
        (text(&truncated).to_string(), not_an_offer),
        (text(&csv).to_string(), not_an_offer),
        (fixture(REGION_INDEX), not_an_offer),
        (text(&missing).to_string(), "cannot read"),
    ];
    for (bad, message) in &cases {
        // A good file first: nothing from it is written either.
        let run = sandbox.run(&[
            "pricing",
            "import",
            &fixture(S3_EU_WEST_1),
            bad,
            "-o",
            out_arg,
        ]);
        assert_eq!(run.code, Some(EXIT_ERROR), "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{message} {bad}"))
                || run.stderr.contains(&format!("{bad} {message}")),
            "{bad}: no `{message}` naming the file in:\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("written to"), "{}", run.stderr);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            before,
            "{bad}: the output file changed"
        );

        // Into the data directory: no file appears there.
        let run = sandbox.run(&["pricing", "import", bad]);
        assert_eq!(run.code, Some(EXIT_ERROR), "{bad}: {}", run.stderr);
        assert!(run.stderr.contains(bad.as_str()), "{}", run.stderr);
        assert!(
            !sandbox.imported_file().exists(),
            "{bad}: {} was written",
            sandbox.imported_file().display()
        );
    }
    // The region index names what is missing.
    let run = sandbox.run(&["pricing", "import", &fixture(REGION_INDEX)]);
    assert!(run.stderr.contains("offerCode"), "{}", run.stderr);
}

/// The cause of an import error is printed once, not twice (`tollgate: cannot read X: <cause>:
/// <cause>`).
#[test]
fn an_import_error_states_its_cause_once() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["pricing", "import", &fixture(REGION_INDEX)]);
    assert_eq!(run.code, Some(EXIT_ERROR), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("missing field `offerCode`").count(),
        1,
        "{}",
        run.stderr
    );
    let missing = sandbox.root.join("no-such-offer.json");
    let run = sandbox.run(&["pricing", "import", text(&missing)]);
    assert_eq!(run.code, Some(EXIT_ERROR), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_damaged_imported_file_in_the_data_directory_is_named_by_every_run() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["pricing", "import", &fixture(S3_EU_WEST_1)])
        .succeeded();
    let file = sandbox.imported_file();
    let content = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, content.replace("0.0000054", "0.00000x4")).unwrap();
    for args in [&["pricing", "show", "s3"][..], &["pricing", "check"][..]] {
        let run = sandbox.run(args);
        assert_eq!(run.code, Some(EXIT_ERROR), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(&file.display().to_string())
                && run.stderr.contains("`0.00000x4` is not a decimal number"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // An import into it refuses to merge rather than overwrite what it cannot read back.
    let run = sandbox.run(&["pricing", "import", &fixture(S3_EU_CENTRAL_1)]);
    assert_eq!(run.code, Some(EXIT_ERROR), "{}", run.stderr);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("0.00000x4"),
        "the damaged file was replaced"
    );
}

// ---- pricing check -------------------------------------------------------------------------

#[test]
fn check_passes_on_the_built_in_table() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["pricing", "check"]);
    run.succeeded();
    assert!(
        run.stdout.contains("read from built-in: ok"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// Four problems, each of a kind `pricing check` must name.
const OVERLAY_WITH_PROBLEMS: &str = r#"
# A typo: SQS has SendMessage.
[[pricing.price]]
id = "mine/typo"
service = "sqs"
operations = ["SendMesage"]
when = { queue_type = "standard" }
unit = "chunk-64kb"
usd = "0.0000004"
source = "https://aws.amazon.com/sqs/pricing/"
as_of = "2026-07-01"

# The built-in lambda/invoke/request already prices Invoke per request.
[[pricing.price]]
id = "mine/invoke"
service = "lambda"
operations = ["Invoke"]
unit = "request"
usd = "0.0000002"
source = "https://aws.amazon.com/lambda/pricing/"
as_of = "2026-07-01"

# Not a URL.
[[pricing.price]]
id = "mine/glacier-get"
service = "s3"
operations = ["GetObject"]
when = { storage_class = "GLACIER" }
unit = "request"
usd = "0.0000004"
source = "our contract, page 4"
as_of = "2026-07-01"

# Free here, priced by s3/standard/tier1.
[[pricing.free]]
service = "s3"
id = "mine/free-put"
operations = ["PutObject"]
reason = "we were told so"
source = "https://example.com/notes"
as_of = "2026-07-01"
"#;

#[test]
fn check_names_every_problem_in_an_overlay_found_from_the_working_directory_or_a_parent() {
    let sandbox = Sandbox::new();
    let project = sandbox.root.join("project");
    let overlay = sandbox.overlay(&project, OVERLAY_WITH_PROBLEMS);
    let deeper = project.join("src/handlers");
    std::fs::create_dir_all(&deeper).unwrap();
    let elsewhere = sandbox.work();
    let overlay_arg = text(&overlay);

    let runs = [
        (
            "in the project",
            sandbox.run_in(&project, &["pricing", "check"]),
        ),
        (
            "in a subdirectory",
            sandbox.run_in(&deeper, &["pricing", "check"]),
        ),
        (
            "named with --pricing",
            sandbox.run_in(&elsewhere, &["pricing", "check", "--pricing", overlay_arg]),
        ),
    ];
    for (how, run) in &runs {
        assert_eq!(run.code, Some(EXIT_PROBLEMS), "{how}: {}", run.stderr);
        let problems: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("pricing: ") && !l.contains("problem(s)"))
            .collect();
        let has = |wanted: &[&str]| {
            problems
                .iter()
                .any(|line| wanted.iter().all(|w| line.contains(w)))
        };
        assert!(
            has(&["mine/typo: no operation `SendMesage` in service `sqs`"]),
            "{how}: {}",
            run.stderr
        );
        assert!(
            has(&[
                "lambda/invoke/request: overlaps `mine/invoke`: both price lambda:Invoke per request"
            ]),
            "{how}: {}",
            run.stderr
        );
        assert!(
            has(&["mine/glacier-get: source `our contract, page 4` is not a URL"]),
            "{how}: {}",
            run.stderr
        );
        assert!(
            has(&[
                "mine/free-put: s3:PutObject is both free here and priced by `s3/standard/tier1`"
            ]),
            "{how}: {}",
            run.stderr
        );
        // Only the overlay's entries are at fault.
        for line in &problems {
            assert!(line.contains("mine/"), "{how}: a problem not ours: {line}");
        }
        let summary = format!(
            "pricing: {} problem(s) in built-in, overlay ({})",
            problems.len(),
            overlay.display()
        );
        assert!(
            run.stderr.contains(&summary),
            "{how}: no `{summary}` in:\n{}",
            run.stderr
        );
    }

    // The nearest tollgate.toml wins: a clean one in the subdirectory hides the project's.
    let clean = sandbox.overlay(&deeper, "[pricing]\ndiscount_percent = \"5\"\n");
    let run = sandbox.run_in(&deeper, &["pricing", "check"]);
    run.succeeded();
    assert!(
        run.stdout.contains(&format!(
            "read from built-in, overlay ({}): ok",
            clean.display()
        )),
        "{}",
        run.stdout
    );
    // And with none anywhere above, only the built-in table.
    sandbox
        .run_in(&elsewhere, &["pricing", "check"])
        .succeeded();
}

#[test]
fn an_overlay_with_a_bad_value_is_refused_naming_the_file_and_the_value() {
    let override_tier1 = |usd: &str, as_of: &str| {
        format!(
            "[[pricing.price]]\nid = \"s3/standard/tier1\"\nusd = \"{usd}\"\nsource = \"https://example.com/contract\"\nas_of = \"{as_of}\"\n"
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a decimal comma",
            override_tier1("0,0000045", "2026-01-15"),
            "entry `s3/standard/tier1`: `0,0000045` is not a decimal number",
        ),
        (
            "a price in scientific notation",
            override_tier1("4.5e-6", "2026-01-15"),
            "`4.5e-6` is not a decimal number",
        ),
        (
            "a day that does not exist",
            override_tier1("0.0000045", "2026-02-30"),
            "entry `s3/standard/tier1`: as_of `2026-02-30` is not a YYYY-MM-DD date",
        ),
        (
            "a date in another format",
            override_tier1("0.0000045", "15/01/2026"),
            "as_of `15/01/2026` is not a YYYY-MM-DD date",
        ),
        (
            "a bad regional price",
            "[[pricing.regional]]\nid = \"s3/standard/tier1\"\nregion = \"eu-west-1\"\nusd = \"five\"\nsource = \"https://example.com\"\nas_of = \"2026-01-15\"\n".into(),
            "regional price for `s3/standard/tier1` in eu-west-1: `five` is not a decimal number",
        ),
        (
            "a bad date on a free entry",
            "[[pricing.free]]\nservice = \"s3\"\nid = \"mine/free\"\noperations = [\"GetObjectTagging\"]\nreason = \"r\"\nsource = \"https://example.com\"\nas_of = \"2026-13-01\"\n".into(),
            "as_of `2026-13-01` is not a YYYY-MM-DD date",
        ),
        (
            "a discount that is not a number",
            "[pricing]\ndiscount_percent = \"ten\"\n".into(),
            "discount_percent: `ten` is not a decimal number",
        ),
        (
            "a discount above 100",
            "[pricing]\ndiscount_percent = \"120\"\n".into(),
            "discount_percent `120` is above 100",
        ),
        (
            "a misspelt section",
            "[pricng]\ndiscount_percent = \"5\"\n".into(),
            "unknown field `pricng`",
        ),
        (
            "a new entry without service",
            "[[pricing.price]]\nid = \"mine/new\"\nusd = \"0.1\"\nsource = \"https://example.com\"\nas_of = \"2026-01-15\"\n".into(),
            "entry `mine/new` is not in the built-in table, so it needs `service`, `operations` and `unit`",
        ),
        (
            "a regional price for no entry",
            "[[pricing.regional]]\nid = \"s3/standard/tier9\"\nregion = \"eu-west-1\"\nusd = \"0.1\"\nsource = \"https://example.com\"\nas_of = \"2026-01-15\"\n".into(),
            "no entry `s3/standard/tier9` in the table",
        ),
    ];
    let sandbox = Sandbox::new();
    for (what, content, message) in &cases {
        let dir = sandbox.root.join("project");
        let overlay = sandbox.overlay(&dir, content);
        for args in [
            &["pricing", "check"][..],
            &["pricing", "show", "s3:PutObject"][..],
        ] {
            let run = sandbox.run_in(&dir, args);
            assert_eq!(
                run.code,
                Some(EXIT_ERROR),
                "{what}, {args:?}: {}{}",
                run.stdout,
                run.stderr
            );
            assert!(
                run.stderr
                    .contains(&format!("tollgate: {}: ", overlay.display()))
                    && run.stderr.contains(message),
                "{what}, {args:?}: no `{message}` naming {} in:\n{}",
                overlay.display(),
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{what}: {}", run.stdout);
        }
    }
    // A named overlay that is not there.
    let missing = sandbox.root.join("nowhere.toml");
    let run = sandbox.run(&["pricing", "check", "--pricing", text(&missing)]);
    assert_eq!(run.code, Some(EXIT_ERROR), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("--pricing {}: no such file", missing.display())),
        "{}",
        run.stderr
    );
}

// ---- the overlay in pricing show -----------------------------------------------------------

#[test]
fn an_overlay_discount_and_override_show_in_pricing_show() {
    let sandbox = Sandbox::new();
    let built_in = sandbox.show(&["s3:PutObject"]);
    let built_in_tier1 = entry(&built_in, "s3/standard/tier1").clone();
    assert_eq!(field(&built_in_tier1, "usd"), S3_TIER1_US_EAST_1);
    assert_eq!(field(&built_in_tier1, "origin"), "built-in");

    let project = sandbox.root.join("project");
    let overlay = sandbox.overlay(
        &project,
        r#"
[pricing]
discount_percent = "12.5"

# Our negotiated price, with its own price in one region.
[[pricing.price]]
id = "s3/standard/tier1"
usd = "0.0000045"
regions = { "eu-west-1" = "0.0000049" }
source = "https://example.com/our-private-pricing"
as_of = "2026-01-15"
"#,
    );
    let origin = format!("overlay ({})", overlay.display());
    let subdirectory = project.join("deploy");
    std::fs::create_dir_all(&subdirectory).unwrap();
    for cwd in [&project, &subdirectory] {
        let shown = sandbox.show_in(cwd, &["s3:PutObject"]);
        let tier1 = entry(&shown, "s3/standard/tier1");
        assert_eq!(field(tier1, "usd"), "0.0000045", "{tier1}");
        assert_eq!(field(tier1, "origin"), origin, "{tier1}");
        assert_eq!(
            field(tier1, "source"),
            "https://example.com/our-private-pricing"
        );
        assert_eq!(field(tier1, "as_of"), "2026-01-15");
        assert_eq!(tier1["estimated"], false, "{tier1}");
        // What the override did not name stays as built in.
        for same in ["operations", "when", "unit", "service"] {
            assert_eq!(tier1[same], built_in_tier1[same], "{same}");
        }
        // Other entries are untouched.
        let tier2 = entry(&shown, "s3/standard/tier2");
        assert_eq!(field(tier2, "usd"), "0.0000004", "{tier2}");
        assert_eq!(field(tier2, "origin"), "built-in", "{tier2}");
    }
    let eu = sandbox.show_in(&project, &["s3:PutObject", "--region", "eu-west-1"]);
    let tier1 = entry(&eu, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000049", "{tier1}");
    assert_eq!(tier1["estimated"], false, "{tier1}");
    let sydney = sandbox.show_in(&project, &["s3:PutObject", "--region", "ap-southeast-2"]);
    let tier1 = entry(&sydney, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000045", "{tier1}");
    assert_eq!(tier1["estimated"], true, "{tier1}");

    // The text form says the discount applies, then lists the prices.
    let run = sandbox.run_in(&project, &["pricing", "show", "s3:PutObject"]);
    run.succeeded();
    assert!(
        run.stdout
            .starts_with("Discount: 12.5% off every price below (overlay)."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "s3/standard/tier1  $0.0000045 per request when storage_class=STANDARD|REDUCED_REDUNDANCY"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "source: https://example.com/our-private-pricing (as of 2026-01-15, {origin})"
        )),
        "{}",
        run.stdout
    );
    // No overlay, no discount line.
    let run = sandbox.run(&["pricing", "show", "s3:PutObject"]);
    run.succeeded();
    assert!(!run.stdout.contains("Discount"), "{}", run.stdout);

    // --pricing beats the tollgate.toml of the working directory.
    let other = sandbox.root.join("other.toml");
    std::fs::write(
        &other,
        "[[pricing.price]]\nid = \"s3/standard/tier1\"\nusd = \"0.0000044\"\nsource = \"https://example.com/other\"\nas_of = \"2026-02-01\"\n",
    )
    .unwrap();
    let shown = sandbox.show_in(&project, &["s3:PutObject", "--pricing", text(&other)]);
    let tier1 = entry(&shown, "s3/standard/tier1");
    assert_eq!(field(tier1, "usd"), "0.0000044", "{tier1}");
    assert_eq!(
        field(tier1, "origin"),
        format!("overlay ({})", other.display())
    );
    let run = sandbox.run_in(
        &project,
        &["pricing", "show", "s3:PutObject", "--pricing", text(&other)],
    );
    assert!(!run.stdout.contains("Discount"), "{}", run.stdout);
}

/// An override by id that names only `usd`, `source` and `as_of` replaces those (overlay.rs:
/// "other fields replace the built-in ones when given"); the entry's regional prices, here those
/// `pricing import` wrote, are not among them.
#[test]
fn an_override_without_regions_keeps_the_imported_regional_prices() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["pricing", "import", &fixture(S3_EU_WEST_1)])
        .succeeded();
    let project = sandbox.root.join("project");
    sandbox.overlay(
        &project,
        "[[pricing.price]]\nid = \"s3/standard/tier1\"\nusd = \"0.0000045\"\nsource = \"https://example.com/our-private-pricing\"\nas_of = \"2026-01-15\"\n",
    );
    let virginia = sandbox.show_in(&project, &["s3:PutObject"]);
    assert_eq!(
        field(entry(&virginia, "s3/standard/tier1"), "usd"),
        "0.0000045"
    );
    let eu = sandbox.show_in(&project, &["s3:PutObject", "--region", "eu-west-1"]);
    let tier1 = entry(&eu, "s3/standard/tier1");
    assert_eq!(
        (field(tier1, "usd"), &tier1["estimated"]),
        ("0.0000054", &Value::Bool(false)),
        "the imported eu-west-1 price was dropped by an override that did not name regions: {tier1}"
    );
    assert_eq!(field(tier1, "source"), S3_EU_WEST_1_URL);
}
