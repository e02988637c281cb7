//! Issue 13 (accuracy): a REST operation newer than tollgate's model is named by the client's
//! own SDK. The model in use here is the bundled one less S3's `HeadObject` (installed into the
//! data directory as a newer model, the way `tollgate model update` installs one), so every
//! HeadObject is a REST request the model cannot identify. boto3 (through tollgate's Python
//! bootstrap) and the JS SDK v3 (through the Node preload) run their call-site workloads under
//! `tollgate run --upstream <moto>`: each HeadObject is recorded under its real name, flagged
//! "not in model"; with `--no-callsites` (no bootstrap, no preload labels) the same calls are
//! unknown, never dropped.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{tollgate_command, workload_constant as constant};
use crate::moto::{dummy_aws_env, python_with_moto as python, run_bounded, Moto, MANIFEST_DIR};

const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Writes the bundled model less s3 HeadObject into `home`'s models folder, as a newer model.
fn install_model_without_head_object(home: &Path) {
    let bundled = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("models/aws-model.json"))
        .expect("the bundled model");
    let mut model: Value = serde_json::from_str(&bundled).unwrap();
    model["botocore_version"] = Value::from("99.0.0");
    let s3 = model["services"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|service| service["name"] == "s3")
        .expect("s3 in the bundled model");
    let operations = s3["operations"].as_array_mut().unwrap();
    let before = operations.len();
    operations.retain(|operation| operation["name"] != "HeadObject");
    assert_eq!(operations.len(), before - 1);
    let dir = home.join("models");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("aws-model.json"), model.to_string()).unwrap();
}

/// The run's S3 operations from `report --format json`: (operation, attempts, not in model).
fn s3_operations(home: &Path, db: &Path) -> Vec<(String, u64, u64)> {
    let output = tollgate_command(home)
        .args(["report", "--last", "--format", "json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["service"] == "s3")
        .map(|op| {
            (
                op["operation"].as_str().unwrap().to_string(),
                op["attempts"].as_u64().unwrap(),
                op["not_in_model"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn named_by_the_client(program: &[&str], workload: &str, heads: u64, ok: &str) {
    let python = python();
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let home = scratch.join("tollgate-home");
    install_model_without_head_object(&home);
    let moto = Moto::start(&python, scratch);
    for callsites in [true, false] {
        let db = scratch.join(format!("history-{callsites}.db"));
        let mut command = tollgate_command(&home);
        command
            .current_dir(MANIFEST_DIR)
            .env_remove("PYTHONPATH")
            .arg("run");
        if !callsites {
            command.arg("--no-callsites");
        }
        command
            .arg("--db")
            .arg(&db)
            .args(["--upstream", &moto.url(), "-q", "--"])
            .args(program)
            .arg(workload);
        dummy_aws_env(&mut command, scratch);
        let run = run_bounded(command, scratch, "stale-model", RUN_LIMIT);
        let context = format!("{}\n{}", run.describe(), moto.log_tail());
        assert!(run.status.success(), "{context}");
        assert!(
            run.stdout.contains(ok) || run.stderr.contains(ok),
            "{context}"
        );
        let operations = s3_operations(&home, &db);
        let all = format!("callsites={callsites}: {operations:?}\n{context}");
        let head = operations.iter().find(|(name, ..)| name == "HeadObject");
        let unknown: u64 = operations
            .iter()
            .filter(|(name, ..)| name.starts_with("unknown: HEAD "))
            .map(|(_, attempts, _)| attempts)
            .sum();
        if callsites {
            assert_eq!(head, Some(&("HeadObject".into(), heads, heads)), "{all}");
            assert_eq!(unknown, 0, "{all}");
        } else {
            assert_eq!(head, None, "{all}");
            assert_eq!(unknown, heads, "{all}");
        }
        // Every other S3 operation is the model's own, not named by the client.
        for (name, _, not_in_model) in &operations {
            if name != "HeadObject" {
                assert_eq!(*not_in_model, 0, "{name}: {all}");
            }
        }
    }
}

#[test]
fn boto3_names_rest_operations_the_model_lacks() {
    let workload = "tests/e2e/callsites_workload.py";
    let source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(workload)).unwrap();
    let heads = constant(&source, "HEAD_A") + constant(&source, "HEAD_B");
    let python = python();
    named_by_the_client(
        &[python.to_str().unwrap()],
        workload,
        heads,
        "callsites_workload: ok",
    );
}

#[test]
fn the_js_sdk_names_rest_operations_the_model_lacks() {
    crate::node_sdk::workload();
    let workload = "tests/node/callsites.mjs";
    let source = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(workload)).unwrap();
    let heads = constant(&source, "HEAD_A") + constant(&source, "HEAD_B");
    let node = crate::node_sdk::first_node();
    named_by_the_client(
        &[node.to_str().unwrap()],
        workload,
        heads,
        "node callsites: ok",
    );
}
