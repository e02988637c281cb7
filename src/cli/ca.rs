//! `tollgate ca init | show | path | bundle | rotate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::ca::{CaPaths, LocalCa};
use crate::home;
use crate::roots::Roots;

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA if there is none, and show it.
    Init {
        /// Also permit DOMAIN and its subdomains (e.g. localhost.localstack.cloud). Repeatable.
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// Show the CA: subject, fingerprint, validity, permitted domains, files.
    Show,
    /// Print the path of the CA certificate.
    Path,
    /// Write the system roots plus the tollgate CA as one PEM: the file clients should trust.
    Bundle {
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Replace the CA with a new key and certificate (clients must trust the new bundle).
    Rotate {
        /// Permit DOMAIN too (the old CA's domains are kept). Repeatable.
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
}

pub fn execute(command: CaCommand) -> anyhow::Result<ExitCode> {
    let paths = CaPaths::new(home::data_dir().context("cannot find tollgate's data directory")?);
    match command {
        CaCommand::Init { domains } => {
            let (ca, created) = LocalCa::load_or_create(&paths, &ca_domains(&domains))?;
            if !created && !domains.iter().all(|domain| ca.permits(domain)) {
                anyhow::bail!(
                    "a CA already exists and does not permit every --domain given; \
                     `tollgate ca rotate --domain ...` replaces it"
                );
            }
            eprintln!(
                "tollgate: {} CA in {}",
                if created {
                    "created a"
                } else {
                    "using the existing"
                },
                paths.dir.display()
            );
            super::print(&describe(&ca))?;
        }
        CaCommand::Show => super::print(&describe(&LocalCa::load(&paths)?))?,
        CaCommand::Path => {
            LocalCa::load_or_create(&paths, &ca_domains(&[]))?;
            super::print(&format!("{}\n", paths.cert().display()))?;
        }
        CaCommand::Bundle { output } => {
            let (ca, _) = LocalCa::load_or_create(&paths, &ca_domains(&[]))?;
            let bundle = Roots::system().bundle_with(ca.cert_pem());
            match output {
                Some(path) => home::write_output(&path, bundle.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => super::print(&bundle)?,
            }
        }
        CaCommand::Rotate { domains } => {
            let mut all = ca_domains(&domains);
            if let Ok(old) = LocalCa::load(&paths) {
                all.extend(old.permitted_domains().iter().cloned());
            }
            let ca = LocalCa::create(&paths, &all)?;
            eprintln!("tollgate: new CA in {}; clients trusting the old one must trust the new bundle (`tollgate ca bundle`)", paths.dir.display());
            super::print(&describe(&ca))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a new CA may issue for: the AWS API domains (the CA knows nothing of AWS), then `extra`.
pub(crate) fn ca_domains(extra: &[String]) -> Vec<String> {
    crate::aws::host::API_DOMAINS
        .iter()
        .map(|domain| domain.to_string())
        .chain(extra.iter().cloned())
        .collect()
}

fn describe(ca: &LocalCa) -> String {
    let paths = ca.paths();
    format!(
        "certificate:   {}\nprivate key:   {}\nbundle:        {}\nSHA-256:       {}\nvalid:         {} to {}\npermits:       {} (and their subdomains; no IP addresses)\n",
        paths.cert().display(),
        paths.key().display(),
        paths.bundle().display(),
        ca.fingerprint_sha256(),
        ca.not_before().date(),
        ca.not_after().date(),
        ca.permitted_domains().join(", "),
    )
}
