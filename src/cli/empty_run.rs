//! What `run` says when the command ended and no client connected to tollgate at all: an empty
//! summary alone reads as "no AWS calls", when far more often the calls went around tollgate.
//! The likely cause comes from what was run and the environment it ran in.

use std::ffi::OsString;
use std::path::Path;

/// What the explanation is made from.
pub struct RunFacts<'a> {
    /// The command as given (`node app.mjs`, `bun test`).
    pub command: &'a [OsString],
    /// Whether the Node preload was loaded into the command's Node processes.
    pub node_preload: bool,
    /// The NO_PROXY entries that cover AWS hosts (`.amazonaws.com`), if any.
    pub no_proxy_bypass: Vec<String>,
    /// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` variables set in the environment.
    pub endpoint_vars: Vec<String>,
}

/// Programs that start Node processes (and load NODE_OPTIONS).
const NODE_PROGRAMS: &[&str] = &[
    "node",
    "nodejs",
    "npm",
    "npx",
    "yarn",
    "pnpm",
    "pnpx",
    "ts-node",
    "tsx",
    "jest",
    "vitest",
    "mocha",
    "nx",
    "turbo",
    "cdk",
    "serverless",
    "sls",
];

/// The lines to print, each starting `tollgate: `.
pub fn explain(facts: &RunFacts) -> String {
    let program = facts
        .command
        .first()
        .map(|program| {
            Path::new(program)
                .file_name()
                .unwrap_or(program.as_os_str())
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let mut causes: Vec<String> = Vec::new();
    if !facts.no_proxy_bypass.is_empty() {
        causes.push(format!(
            "NO_PROXY covers AWS hosts ({}), so clients go around the proxy: run without those \
             entries (e.g. `env -u NO_PROXY -u no_proxy tollgate run ...`)",
            facts.no_proxy_bypass.join(", ")
        ));
    }
    if !facts.endpoint_vars.is_empty() {
        causes.push(format!(
            "{} set: an SDK sends its calls straight to that endpoint, never through a proxy for \
             AWS hosts; unset it and use `tollgate run --upstream URL` to reach an emulator",
            facts.endpoint_vars.join(", ")
        ));
    }
    match program.as_str() {
        "bun" | "bunx" | "deno" => causes.push(format!(
            "`{program}` does not load tollgate's Node preload (NODE_OPTIONS), which the AWS SDK \
             for JavaScript needs to go through tollgate: run the program with `node` (or `npx`)"
        )),
        "java" | "mvn" | "mvnw" | "gradle" | "gradlew" | "sbt" | "kotlin" => causes.push(
            "the JVM ignores HTTPS_PROXY: give it -Dhttps.proxyHost and -Dhttps.proxyPort (in \
             JAVA_TOOL_OPTIONS) and a truststore with the tollgate CA (`tollgate ca bundle`)"
                .to_string(),
        ),
        name if NODE_PROGRAMS.contains(&name) && !facts.node_preload => causes.push(
            "the Node preload is off (--no-node-preload): the AWS SDK for JavaScript ignores \
             HTTPS_PROXY and goes straight to AWS; run without --no-node-preload"
                .to_string(),
        ),
        _ => {}
    }
    let python = program.starts_with("python") || program == "pytest" || program == "ipython";
    let mut out = String::from(
        "tollgate: no client connected to tollgate during this run, so none of its AWS calls \
         were seen (if it made any).\n",
    );
    if causes.is_empty() {
        out += "tollgate: likely causes: a client that ignores HTTPS_PROXY (set a proxy in its \
                own settings), an endpoint set in the code (endpoint_url, --endpoint-url, \
                `endpoint:`; use `tollgate run --upstream URL` for an emulator instead), or a \
                command that makes no AWS calls.\n";
    } else {
        for cause in causes {
            out += &format!("tollgate: likely cause: {cause}.\n");
        }
    }
    if python {
        out += "tollgate: in Python, pyarrow (and pandas' read_parquet/to_parquet on s3://) use \
                the AWS SDK for C++, which ignores HTTPS_PROXY: give it \
                `S3FileSystem(proxy_options=os.environ['HTTPS_PROXY'], \
                tls_ca_file_path=os.environ['SSL_CERT_FILE'])`; duckdb's httpfs follows the proxy \
                but needs `SET ca_cert_file` to trust tollgate.\n";
    }
    out
}

/// The `AWS_ENDPOINT_URL*` variables set (not empty) among `vars` (the environment's).
pub fn endpoint_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<String> {
    let mut names: Vec<String> = vars
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("AWS_ENDPOINT_URL"))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explained(command: &[&str], preload: bool, no_proxy: &[&str], endpoints: &[&str]) -> String {
        let command: Vec<OsString> = command.iter().map(OsString::from).collect();
        explain(&RunFacts {
            command: &command,
            node_preload: preload,
            no_proxy_bypass: no_proxy.iter().map(|s| s.to_string()).collect(),
            endpoint_vars: endpoints.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Issue 24: a Python data script whose pyarrow calls went around tollgate was told only
    /// the generic causes.
    #[test]
    fn a_python_run_names_the_data_stack_clients_that_ignore_the_proxy() {
        let python = explained(&["python3", "lake.py"], true, &[], &[]);
        assert!(
            python.contains("pyarrow") && python.contains("proxy_options"),
            "{python}"
        );
        assert!(python.contains("SET ca_cert_file"), "{python}");
        assert!(
            python.contains("likely causes: a client that ignores HTTPS_PROXY"),
            "{python}"
        );
        let node = explained(&["node", "app.mjs"], true, &[], &[]);
        assert!(!node.contains("pyarrow"), "{node}");
    }

    #[test]
    fn the_cause_follows_what_was_run() {
        let bun = explained(&["/usr/local/bin/bun", "run", "app.ts"], true, &[], &[]);
        assert!(
            bun.contains("`bun` does not load tollgate's Node preload"),
            "{bun}"
        );
        let off = explained(&["npx", "jest"], false, &[], &[]);
        assert!(off.contains("--no-node-preload"), "{off}");
        // With the preload on, Node is not the suspect: the generic causes are given.
        let on = explained(&["node", "app.mjs"], true, &[], &[]);
        assert!(
            on.contains("likely causes: a client that ignores HTTPS_PROXY"),
            "{on}"
        );
        let java = explained(&["java", "-jar", "app.jar"], true, &[], &[]);
        assert!(java.contains("-Dhttps.proxyHost"), "{java}");
        let both = explained(
            &["python3", "x.py"],
            true,
            &[".amazonaws.com"],
            &["AWS_ENDPOINT_URL"],
        );
        assert!(
            both.contains("NO_PROXY covers AWS hosts (.amazonaws.com)"),
            "{both}"
        );
        assert!(both.contains("AWS_ENDPOINT_URL set"), "{both}");
        assert!(!both.contains("likely causes:"), "{both}");
        for text in [bun, off, on, java, both] {
            assert!(text.starts_with("tollgate: no client connected to tollgate"));
            assert!(
                text.lines().all(|line| line.starts_with("tollgate: ")),
                "{text}"
            );
        }
    }

    #[test]
    fn endpoint_variables_that_are_set() {
        assert_eq!(
            endpoint_vars(
                [
                    ("AWS_ENDPOINT_URL_S3", "http://localhost:4566"),
                    ("AWS_ENDPOINT_URL", ""),
                    ("AWS_REGION", "us-east-1"),
                ]
                .map(|(name, value)| (OsString::from(name), OsString::from(value)))
            ),
            ["AWS_ENDPOINT_URL_S3"]
        );
    }
}
