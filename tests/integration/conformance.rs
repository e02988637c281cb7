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

#[test]
fn botocore_requests_for_every_operation_are_identified() {
    let model = Model::embedded();
    let identifier = Identifier::new(model);
    let file = std::fs::File::open(corpus()).unwrap();
    let mut total = 0usize;
    let mut misses: Vec<(String, String, String)> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap();
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        let field = |name: &str| record[name].as_str().unwrap().to_string();
        let (service, operation) = (field("service"), field("operation"));
        let url: http::Uri = field("url").parse().unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in record["headers"].as_object().unwrap() {
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
            Identity::Unknown { service_guess, .. } => {
                (service_guess.unwrap_or_default(), "(unknown)".into())
            }
            Identity::NotAws => ("(not aws)".into(), String::new()),
        };
        if got != (service.clone(), operation.clone()) {
            misses.push((service, operation, format!("{} {}", got.0, got.1)));
        }
    }
    assert_eq!(
        total,
        model.operation_count(),
        "the corpus holds {total} of the model's {} operations: botocore could not produce the \
         others (see conformance-corpus.errors.jsonl beside the corpus)",
        model.operation_count()
    );
    let identified = total - misses.len();
    let identical = misses
        .iter()
        .filter(|(service, operation, got)| {
            let mut got = got.split(' ');
            let got = (got.next().unwrap(), got.next().unwrap_or(""));
            wire_identical(model, (service, operation), got)
        })
        .count();
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
