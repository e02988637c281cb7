//! `tollgate model update | status`: the AWS model identification uses. The bundled model is
//! botocore's as of this build; AWS ships new operations every week, so `update` builds the model
//! from the user's own botocore (the same generator, `models/generate.py`, that builds the
//! bundled one) into the data directory, where it is used while it is newer than the bundled one.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::aws::model::{compare_versions, Model, ModelSource};
use crate::home;

/// The generator of the bundled model, run by `update` against the user's botocore.
const GENERATOR: &str = include_str!("../../models/generate.py");

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Build the AWS model from a botocore installation (the one the Python on PATH imports, or
    /// --from-botocore PATH) into tollgate's data directory. It is used instead of the bundled
    /// model while it is newer.
    Update(UpdateArgs),
    /// Show the bundled and the installed model, which one is in use, and warn when the
    /// botocore on this machine is newer than the model in use.
    Status,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// A botocore installation: its package directory (…/site-packages/botocore) or the
    /// directory holding it (…/site-packages). Default: the botocore that `python3` on PATH
    /// imports.
    #[arg(long, value_name = "PATH")]
    from_botocore: Option<PathBuf>,
}

/// Where `update` installs the model, in the data directory.
pub fn installed_model_path() -> std::io::Result<PathBuf> {
    Ok(home::data_dir()?.join("models").join("aws-model.json"))
}

pub fn execute(command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Update(args) => update(&args),
        ModelCommand::Status => status(),
    }
}

/// A botocore that Python can import: its version and where it is.
struct Botocore {
    version: String,
    location: PathBuf,
}

/// The Python that runs the generator: `python3` on PATH (any Python with botocore's
/// dependencies will do; with --from-botocore, the directory is put first on its path).
fn python(pythonpath: Option<&Path>) -> Command {
    let mut command = Command::new("python3");
    if let Some(dir) = pythonpath {
        let mut path = std::ffi::OsString::from(dir);
        if let Some(existing) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(existing);
        }
        command.env("PYTHONPATH", path);
    }
    command
}

/// Which botocore `python3` imports (with `pythonpath` first), if any.
fn find_botocore(pythonpath: Option<&Path>) -> anyhow::Result<Botocore> {
    let output = python(pythonpath)
        .args([
            "-c",
            "import botocore, os; print(botocore.__version__); print(os.path.dirname(botocore.__file__))",
        ])
        .stdin(Stdio::null())
        .output()
        .context("cannot run python3 (is Python installed and on PATH?)")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        bail!("python3 cannot import botocore ({last})");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(version), Some(location)) if !version.trim().is_empty() => Ok(Botocore {
            version: version.trim().to_string(),
            location: PathBuf::from(location.trim()),
        }),
        _ => bail!("python3 did not say which botocore it imports"),
    }
}

/// The directory to put on Python's path for the botocore at `path` (its package directory, or
/// the directory holding it).
fn botocore_parent(path: &Path) -> anyhow::Result<PathBuf> {
    if path.join("botocore").join("__init__.py").is_file() {
        return Ok(path.to_path_buf());
    }
    if path.join("__init__.py").is_file() && path.join("data").is_dir() {
        if let Some(parent) = path.parent() {
            return Ok(parent.to_path_buf());
        }
    }
    bail!(
        "no botocore at {}: give its package directory (…/site-packages/botocore) or the \
         directory holding it",
        path.display()
    )
}

fn update(args: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let pythonpath = args
        .from_botocore
        .as_deref()
        .map(botocore_parent)
        .transpose()?;
    let botocore = find_botocore(pythonpath.as_deref())?;
    if let Some(parent) = &pythonpath {
        // Another botocore earlier on Python's path would be used instead of the one named.
        let wanted = std::fs::canonicalize(parent.join("botocore")).unwrap_or_default();
        let found = std::fs::canonicalize(&botocore.location).unwrap_or_default();
        if wanted != found {
            bail!(
                "python3 imports the botocore in {}, not the one in {}",
                botocore.location.display(),
                parent.display()
            );
        }
    }
    let target = installed_model_path().context("cannot find tollgate's data directory")?;
    let dir = target.parent().expect("the model file is in a directory");
    home::ensure_private_dir(dir.parent().expect("models/ is in the data directory"))
        .and_then(|()| home::ensure_private_dir(dir))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let work = dir.join(format!(".update-{}", std::process::id()));
    home::ensure_private_dir(&work)?;
    let result = generate(&work, pythonpath.as_deref());
    let _ = std::fs::remove_dir_all(&work);
    let text = result?;
    let text: &'static str = Box::leak(text.into_boxed_str());
    let model = Model::parse_checked(text)
        .map_err(|reason| anyhow::anyhow!("the generated model cannot be read: {reason}"))?;
    home::write_atomically(&target, text.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", target.display()))?;
    let bundled = Model::embedded_botocore_version();
    say!(
        "tollgate: built the AWS model from botocore {} in {}: {} services, {} operations, \
         written to {}",
        model.botocore_version,
        botocore.location.display(),
        model.services.len(),
        model.operation_count(),
        target.display()
    );
    if compare_versions(model.botocore_version, bundled).is_gt() {
        say!(
            "tollgate: it is newer than the bundled model (botocore {bundled}) and identifies \
             calls from now on"
        );
    } else {
        say!(
            "tollgate: it is not newer than the bundled model (botocore {bundled}), which stays \
             in use"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the generator in `work` and returns the model it wrote.
fn generate(work: &Path, pythonpath: Option<&Path>) -> anyhow::Result<String> {
    let script = work.join("generate.py");
    let out = work.join("aws-model.json");
    std::fs::write(&script, GENERATOR)?;
    let output = python(pythonpath)
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .context("cannot run python3")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("generating the model failed:\n{}", tail.join("\n"));
    }
    std::fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))
}

fn status() -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    let bundled = Model::embedded_botocore_version();
    text.push_str(&format!("bundled model:   botocore {bundled}\n"));
    let installed = installed_model_path().ok();
    match &installed {
        Some(path) => match Model::file_botocore_version(path) {
            Ok(Some(version)) => text.push_str(&format!(
                "installed model: botocore {version} ({})\n",
                path.display()
            )),
            Ok(None) => text.push_str(&format!(
                "installed model: none (`tollgate model update` writes {})\n",
                path.display()
            )),
            Err(error) => text.push_str(&format!("installed model: unusable: {error}\n")),
        },
        None => text.push_str("installed model: none (no data directory)\n"),
    }
    let choice = Model::choice();
    let source = match choice.source {
        ModelSource::Bundled => "the bundled model",
        ModelSource::Installed(_) => "the installed model",
    };
    text.push_str(&format!(
        "in use:          botocore {} ({source})\n",
        choice.botocore_version
    ));
    let local = find_botocore(None);
    match &local {
        Ok(botocore) => text.push_str(&format!(
            "python3 botocore: {} ({})\n",
            botocore.version,
            botocore.location.display()
        )),
        Err(error) => text.push_str(&format!("python3 botocore: none ({error:#})\n")),
    }
    super::print(&text)?;
    if let Ok(botocore) = local {
        if compare_versions(&botocore.version, &choice.botocore_version).is_gt() {
            say!(
                "tollgate: warning: your botocore {} is newer than the model in use (botocore \
                 {}): operations added since are not in it (unpriced, and those of REST APIs unnamed). Run `tollgate \
                 model update` to build the model from it.",
                botocore.version,
                choice.botocore_version
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
