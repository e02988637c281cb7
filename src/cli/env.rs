//! `tollgate env`: the exports for a running `tollgate serve`, for `eval "$(tollgate env)"`.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::client_env::ClientEnv;
use super::serve::{ServeState, STATE_FILE};
use crate::home;

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Print the endpoint-mode exports instead (AWS_ENDPOINT_URL, and PYTHONPATH for call
    /// sites), for a serve started with --endpoint-listen.
    #[arg(long)]
    endpoint: bool,
}

pub fn execute(args: EnvArgs) -> anyhow::Result<ExitCode> {
    let path = home::data_dir()?.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no `tollgate serve` is running (no {}); start one first",
                path.display()
            )
        }
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let state: ServeState = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is damaged; restart `tollgate serve`", path.display()))?;
    if kill(Pid::from_raw(state.pid as i32), None).is_err() {
        bail!(
            "the `tollgate serve` that wrote {} (pid {}) is no longer running; start it again",
            path.display(),
            state.pid
        );
    }
    let client_env = ClientEnv::new(state.listen, &state.bundle)
        .with_node(state.node_preload)
        .with_python(state.python_callsites)
        .with_endpoint(state.endpoint);
    if args.endpoint {
        if state.endpoint.is_none() {
            bail!(
                "the running `tollgate serve` (pid {}) has no endpoint: start it with \
                 --endpoint-listen 127.0.0.1:PORT",
                state.pid
            );
        }
        super::print(&client_env.endpoint_exports())?;
    } else {
        super::print(&client_env.shell_exports())?;
    }
    Ok(ExitCode::SUCCESS)
}
