//! Conformance against botocore itself: every operation of every service, serialised, resolved
//! and signed by botocore (`tests/conformance/generate_corpus.py`), must be identified as the
//! operation it is. Misses are allowed only when listed, with their reason, in
//! `tests/conformance/known-misses.txt`, and must stay under 0.5%.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tollgate::aws::identify::{Identifier, Identity, Request};
use tollgate::aws::model::Model;

fn corpus() -> PathBuf {
    if let Ok(path) = std::env::var("TOLLGATE_CONFORMANCE_CORPUS") {
        return path.into();
    }
    // Generate it with the pinned botocore, once per target directory.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-corpus.jsonl");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let inputs_newer = [
        root.join("models/aws-model.json"),
        root.join("tests/conformance/generate_corpus.py"),
    ]
    .iter()
    .any(|input| modified(input) > modified(&out));
    if !out.exists() || inputs_newer {
        let status = crate::common::hermetic_command(crate::common::python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/generate_corpus.py"))
            .arg(&out)
            .status()
            .expect("run generate_corpus.py (scripts/test.sh sets up the Python environment)");
        assert!(status.success(), "generate_corpus.py failed");
    }
    out
}

/// Listed misses: (service, operation) → reason.
fn known_misses() -> std::collections::BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/known-misses.txt"),
    )
    .unwrap();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut words = line.splitn(3, ' ');
            let service = words.next().unwrap().to_string();
            let operation = words.next().expect("service operation reason").to_string();
            let reason = words.next().unwrap_or("").trim().to_string();
            assert!(
                !reason.is_empty(),
                "no reason given for {service} {operation}"
            );
            ((service, operation), reason)
        })
        .collect()
}

/// A request URI with label names blanked: `{ThingName}` and `{thingName}` are the same on the wire.
fn label_blind(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut in_label = false;
    for c in uri.chars() {
        match c {
            '{' => {
                in_label = true;
                out.push('{');
            }
            '}' => {
                in_label = false;
                out.push('}');
            }
            '+' if in_label => out.push('+'),
            _ if in_label => {}
            _ => out.push(c),
        }
    }
    out
}

/// Whether the model itself says two operations are sent identically: same protocol and the same
/// routing facts (target, action and version, or method, URI and required members).
fn wire_identical(model: &Model, expected: (&str, &str), got: (&str, &str)) -> bool {
    let find = |(service, operation): (&str, &str)| {
        let s = model.service_named(service)?;
        let o = model.operation_named(s, operation)?;
        Some((model.service(s), model.operation(s, o)))
    };
    let (Some((es, eo)), Some((gs, go))) = (find(expected), find(got)) else {
        return false;
    };
    let same_signing = es.signing_name == gs.signing_name;
    let rest = |s: &tollgate::aws::model::ServiceModel| s.protocols[0].starts_with("rest-");
    match (es.protocols[0], gs.protocols[0]) {
        ("query", "query") | ("ec2", "ec2") => {
            same_signing && es.api_version == gs.api_version && eo.name == go.name
        }
        ("json", "json") => es.target_prefix == gs.target_prefix && eo.name == go.name,
        _ if rest(es) && rest(gs) => {
            same_signing
                && eo.method == go.method
                && label_blind(eo.uri) == label_blind(go.uri)
                && eo.required_query == go.required_query
                && eo.required_headers == go.required_headers
        }
        _ => false,
    }
}

/// One botocore request as the corpus holds it.
struct Corpus {
    path: PathBuf,
}

/// A replay's outcome: how many requests, and the ones not identified as botocore's operation
/// (expected service, expected operation, what was identified: `service operation`, with the
/// operation `(unknown)` for an unknown call and `(not in model) NAME` for one named from the
/// wire).
struct Replay {
    total: usize,
    misses: Vec<(String, String, String)>,
    /// Requests identified as an operation the model lacks, named from the wire.
    not_in_model: usize,
    /// Of those, the ones whose operation name is not botocore's (`expected -> named`).
    misnamed: Vec<String>,
}

/// Identifies every request of the corpus with `model`: as recorded, or, with
/// `without_bootstrap`, less the headers tollgate's Python bootstrap adds (`x-tollgate-*`), as a
/// client without it sends them.
fn replay_as(model: &Model, corpus: &Corpus, without_bootstrap: bool) -> Replay {
    let identifier = Identifier::new(model);
    let file = std::fs::File::open(&corpus.path).unwrap();
    let mut total = 0usize;
    let mut not_in_model = 0usize;
    let mut misnamed = Vec::new();
    let mut misses: Vec<(String, String, String)> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap();
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        let field = |name: &str| record[name].as_str().unwrap().to_string();
        let (service, operation) = (field("service"), field("operation"));
        let url: http::Uri = field("url").parse().unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in record["headers"].as_object().unwrap() {
            if without_bootstrap && name.to_ascii_lowercase().starts_with("x-tollgate-") {
                continue;
            }
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
            );
        }
        let body = base64::engine::general_purpose::STANDARD
            .decode(record["body_b64"].as_str().unwrap())
            .unwrap();
        let method = Method::from_bytes(field("method").as_bytes()).unwrap();
        let host = url.host().unwrap().to_ascii_lowercase();
        let identification = identifier.identify(&Request {
            method: &method,
            host: &host,
            path: url.path(),
            query: url.query(),
            headers: &headers,
            body: &body,
        });
        total += 1;
        let got = match identification.identity {
            Identity::Operation {
                service: s,
                operation: o,
                ..
            } => (
                model.service(s).name.to_string(),
                model.operation(s, o).name.to_string(),
            ),
            Identity::NotInModel {
                service: named_service,
                operation: named,
                ..
            } => {
                not_in_model += 1;
                if named != operation {
                    misnamed.push(format!("{service} {operation} -> {named_service} {named}"));
                }
                (named_service, named)
            }
            Identity::Unknown { service_guess, .. } => {
                (service_guess.unwrap_or_default(), "(unknown)".into())
            }
            Identity::NotAws => ("(not aws)".into(), String::new()),
        };
        if got != (service.clone(), operation.clone()) {
            misses.push((service, operation, format!("{} {}", got.0, got.1)));
        }
    }
    Replay {
        total,
        misses,
        not_in_model,
        misnamed,
    }
}

/// Identifies every request of the corpus with `model`, as recorded.
fn replay(model: &Model, corpus: &Corpus) -> Replay {
    replay_as(model, corpus, false)
}

/// How many misses the model itself proves to be wire-identical to the operation reported.
fn wire_identical_misses(model: &Model, misses: &[(String, String, String)]) -> usize {
    misses
        .iter()
        .filter(|(service, operation, got)| {
            let mut got = got.split(' ');
            let got = (got.next().unwrap(), got.next().unwrap_or(""));
            wire_identical(model, (service, operation), got)
        })
        .count()
}

#[test]
fn botocore_requests_for_every_operation_are_identified() {
    let model = Model::embedded();
    let Replay { total, misses, .. } = replay(model, &Corpus { path: corpus() });
    assert_eq!(
        total,
        model.operation_count(),
        "the corpus holds {total} of the model's {} operations: botocore could not produce the \
         others (see conformance-corpus.errors.jsonl beside the corpus)",
        model.operation_count()
    );
    let identified = total - misses.len();
    let identical = wire_identical_misses(model, &misses);
    let rate = identified as f64 / total as f64 * 100.0;
    let distinguishable = identified as f64 / (total - identical) as f64 * 100.0;
    let figure = format!(
        "conformance: {identified} of {total} operations identified exactly ({rate:.2}%); \
         {identical} of the {} misses are wire-identical to the operation reported (the model \
         proves it), so {distinguishable:.2}% of the {} distinguishable operations",
        misses.len(),
        total - identical
    );
    println!("{figure}");
    // scripts/test.sh prints it: cargo test keeps a passing test's output to itself.
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-summary.txt"),
        format!("{figure}\n"),
    );
    let known = known_misses();
    let unexplained: Vec<String> = misses
        .iter()
        .filter(|(service, operation, _)| {
            !known.contains_key(&(service.clone(), operation.clone()))
        })
        .map(|(service, operation, got)| format!("{service} {operation} -> {got}"))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} misses not in known-misses.txt:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    let missed: BTreeSet<(String, String)> = misses
        .iter()
        .map(|(service, operation, _)| (service.clone(), operation.clone()))
        .collect();
    let stale: Vec<&(String, String)> = known
        .keys()
        .filter(|entry| !missed.contains(entry))
        .collect();
    assert!(
        stale.is_empty(),
        "known-misses.txt lists operations now identified: {stale:?}"
    );
    // A listed "identical wire shape" must be one the model confirms.
    for (service, operation, got) in &misses {
        let reason = &known[&(service.clone(), operation.clone())];
        if reason.starts_with("identical wire shape") {
            let mut got_parts = got.split(' ');
            let got_pair = (got_parts.next().unwrap(), got_parts.next().unwrap_or(""));
            assert!(
                wire_identical(model, (service, operation), got_pair),
                "{service} {operation} is listed as wire-identical to {got}, but the model says otherwise"
            );
        }
    }
    assert!(
        distinguishable >= 99.5,
        "only {distinguishable:.2}% of distinguishable operations identified"
    );
}

/// The Python of a botocore newer than the bundled model's (requirements-newer-botocore.txt;
/// scripts/python-env.sh installs it, scripts/test.sh points TOLLGATE_TEST_NEWER_BOTOCORE_PYTHON
/// at it).
fn newer_botocore_python() -> PathBuf {
    let python = std::env::var_os("TOLLGATE_TEST_NEWER_BOTOCORE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-newer-botocore/bin/python")
        });
    assert!(
        python.exists(),
        "no newer botocore at {}: run scripts/python-env.sh (scripts/test.sh does)",
        python.display()
    );
    python
}

/// The botocore `python` imports: its version, and the directory that holds it.
fn botocore_of(python: &Path) -> (String, PathBuf) {
    let output = crate::common::hermetic_command(python)
        .args([
            "-c",
            "import botocore, os; print(botocore.__version__); \
             print(os.path.dirname(os.path.dirname(botocore.__file__)))",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    (
        lines.next().unwrap().to_string(),
        PathBuf::from(lines.next().unwrap()),
    )
}

/// A corpus of the newer botocore's requests, one per operation it knows, made under
/// `tollgate run` so that each request carries what tollgate's Python bootstrap adds to it
/// (generated once per target directory and botocore version). The generator answers every
/// request itself, in botocore's `before-send`: nothing reaches the proxy.
fn newer_corpus(python: &Path, version: &str) -> Corpus {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "conformance-corpus-botocore-{version}-under-run.jsonl"
    ));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/conformance/generate_corpus.py");
    let bootstrap = root.join("src/cli/sitecustomize.py");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if !out.exists() || modified(&script) > modified(&out) || modified(&bootstrap) > modified(&out)
    {
        let home = tempfile::tempdir().unwrap();
        // `--model ''`: every operation botocore itself knows, not the bundled model's list.
        let status = crate::common::tollgate_command(home.path())
            .args(["run", "--no-record", "--"])
            .arg(python)
            .arg(&script)
            .arg(&out)
            .args(["--model", ""])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "generate_corpus.py under tollgate run failed"
        );
    }
    Corpus { path: out }
}

/// Issue 13 (accuracy): requests from a botocore newer than the bundled model, replayed with the
/// bundled model alone (operations it lacks are named from the wire: `X-Amz-Target`, `Action=`,
/// the RPCv2 CBOR path) and with the model `tollgate model update` builds from that botocore.
#[test]
fn a_newer_botocore_is_named_from_the_wire_and_identified_after_model_update() {
    let python = newer_botocore_python();
    let (version, site_packages) = botocore_of(&python);
    let bundled = Model::embedded();
    assert!(
        tollgate::aws::model::compare_versions(&version, bundled.botocore_version).is_gt(),
        "botocore {version} is not newer than the bundled model's {}",
        bundled.botocore_version
    );
    let corpus = newer_corpus(&python, &version);

    // The bundled model alone, with what the wire says (without the bootstrap's headers).
    let before = replay_as(bundled, &corpus, true);
    // The bundled model alone, the requests as `tollgate run` sees them: the bootstrap names
    // REST operations the model lacks (`x-tollgate-operation`).
    let with_bootstrap = replay(bundled, &corpus);
    let in_bundled = |service: &str, operation: &str| {
        bundled
            .service_named(service)
            .and_then(|s| bundled.operation_named(s, operation))
            .is_some()
    };
    let lacking: usize = {
        let text = std::fs::read_to_string(&corpus.path).unwrap();
        text.lines()
            .filter(|line| {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                !in_bundled(
                    record["service"].as_str().unwrap(),
                    record["operation"].as_str().unwrap(),
                )
            })
            .count()
    };
    // Misses of operations the bundled model lacks: REST calls, whose operation is not on the
    // wire (unknown, under the service their endpoint names), and services the wire names
    // otherwise than botocore does.
    let mut unnamed_rest = 0usize;
    let mut other_misses: Vec<String> = Vec::new();
    for (service, operation, got) in &before.misses {
        if in_bundled(service, operation) {
            continue;
        }
        if got.ends_with(" (unknown)") {
            unnamed_rest += 1;
        } else {
            other_misses.push(format!("{service} {operation} -> {got}"));
        }
    }
    let known_but_missed: Vec<&(String, String, String)> = before
        .misses
        .iter()
        .filter(|(service, operation, _)| in_bundled(service, operation))
        .collect();
    let identical_before = wire_identical_misses(
        bundled,
        &known_but_missed
            .iter()
            .map(|m| (*m).clone())
            .collect::<Vec<_>>(),
    );
    let identified_before = before.total - before.misses.len();
    let rate_before = identified_before as f64 / before.total as f64 * 100.0;
    let distinguishable_before =
        identified_before as f64 / (before.total - identical_before) as f64 * 100.0;

    let identical_with_bootstrap = wire_identical_misses(
        bundled,
        &with_bootstrap
            .misses
            .iter()
            .filter(|(service, operation, _)| in_bundled(service, operation))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let identified_with_bootstrap = with_bootstrap.total - with_bootstrap.misses.len();
    let distinguishable_with_bootstrap = identified_with_bootstrap as f64
        / (with_bootstrap.total - identical_with_bootstrap) as f64
        * 100.0;
    let still_unknown = with_bootstrap
        .misses
        .iter()
        .filter(|(service, operation, got)| {
            !in_bundled(service, operation) && got.ends_with(" (unknown)")
        })
        .count();

    // `tollgate model update --from-botocore` into a fresh data directory, then that model.
    let home = tempfile::tempdir().unwrap();
    let path_with_newer = std::env::join_paths(
        std::iter::once(python.parent().unwrap().to_path_buf()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();
    let status = |home: &Path| {
        let output = crate::common::tollgate_command(home)
            .args(["model", "status"])
            .env("PATH", &path_with_newer)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        (
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (shown, warned) = status(home.path());
    assert!(
        shown.contains(&format!(
            "in use:          botocore {}",
            bundled.botocore_version
        )),
        "{shown}"
    );
    assert!(
        warned.contains(&format!(
            "your botocore {version} is newer than the model in use"
        )),
        "{shown}\n{warned}"
    );
    let update = crate::common::tollgate_command(home.path())
        .args(["model", "update", "--from-botocore"])
        .arg(&site_packages)
        .output()
        .unwrap();
    assert!(update.status.success(), "{update:?}");
    let (shown, warned) = status(home.path());
    assert!(
        shown.contains(&format!(
            "in use:          botocore {version} (the installed model)"
        )),
        "{shown}"
    );
    assert!(!warned.contains("newer than the model in use"), "{warned}");
    let updated = Model::load_file(&home.path().join("models/aws-model.json")).unwrap();
    assert_eq!(updated.botocore_version, version);
    let after = replay_as(&updated, &corpus, true);
    let identified_after = after.total - after.misses.len();
    let identical_after = wire_identical_misses(&updated, &after.misses);
    let rate_after = identified_after as f64 / after.total as f64 * 100.0;
    let distinguishable_after =
        identified_after as f64 / (after.total - identical_after) as f64 * 100.0;

    let figure = format!(
        "conformance with botocore {version} (newer than the bundled {bundled_version}): \
         {total} operations, {lacking} of them not in the bundled model.\n  \
         bundled model alone: {identified_before} identified exactly ({rate_before:.2}%; \
         {distinguishable_before:.2}% of the distinguishable), {named} of them named from the \
         wire; {unnamed_rest} REST operations not in the model recorded as unknown (the wire \
         does not name them), {wrong} other misses\n  \
         bundled model, requests as `tollgate run` sends them (the Python bootstrap names the \
         operation): {identified_with_bootstrap} identified exactly \
         ({distinguishable_with_bootstrap:.2}% of the distinguishable), {named_by_bootstrap} \
         named from the wire or by the bootstrap, {still_unknown} unknown\n  \
         after `tollgate model update`: {identified_after} identified exactly ({rate_after:.2}%; \
         {distinguishable_after:.2}% of the {distinguishable} distinguishable)",
        bundled_version = bundled.botocore_version,
        total = before.total,
        named = before.not_in_model,
        named_by_bootstrap = with_bootstrap.not_in_model,
        wrong = other_misses.len(),
        distinguishable = after.total - identical_after,
    );
    println!("{figure}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance-newer-summary.txt"),
        format!("{figure}\n"),
    );
    assert!(
        distinguishable_after >= 99.9,
        "after model update only {distinguishable_after:.2}%: {:?}",
        &after.misses[..after.misses.len().min(20)]
    );
    // The acceptance figure: with the bootstrap, the bundled model alone identifies at least
    // 99.5% of what can be told apart.
    assert!(
        distinguishable_with_bootstrap >= 99.5,
        "with the bootstrap only {distinguishable_with_bootstrap:.2}%: {:?}",
        &with_bootstrap.misses[..with_bootstrap.misses.len().min(20)]
    );
    assert!(
        with_bootstrap.misnamed.is_empty(),
        "operations named by the bootstrap wrongly:\n{}",
        with_bootstrap.misnamed.join("\n")
    );
    // What the wire names is the operation botocore sent, every time.
    assert!(
        before.misnamed.is_empty(),
        "operations named from the wire wrongly:\n{}",
        before.misnamed.join("\n")
    );
    // Of the operations the bundled model lacks, all but REST ones (and a handful the wire
    // names otherwise: an SDK-local endpoint, a new S3 sub-resource that routes as an older
    // operation) are named exactly.
    assert!(
        before.not_in_model + unnamed_rest + other_misses.len() >= lacking,
        "{} named, {unnamed_rest} REST, {} other, of {lacking}",
        before.not_in_model,
        other_misses.len()
    );
    assert!(
        other_misses.len() * 50 <= lacking,
        "operations the bundled model lacks, misidentified:\n{}",
        other_misses.join("\n")
    );
}
