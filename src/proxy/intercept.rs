//! Which hosts the proxy decrypts. Everything else is tunnelled byte for byte.

/// The hosts intercepted by default: every AWS partition's API domains.
pub const DEFAULT_INTERCEPT: &[&str] = &["*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws"];

/// A list of host globs. `*.example.com` matches any name below `example.com` (at any depth, as
/// AWS names such as `bucket.s3.us-east-1.amazonaws.com` need); other patterns match exactly,
/// ignoring ASCII case and a trailing dot.
#[derive(Debug, Clone)]
pub struct HostMatcher {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*.suffix`: stored as `.suffix`.
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "'{0}' is not a host glob: use a name such as localhost.localstack.cloud or *.example.test"
)]
pub struct BadPattern(String);

impl HostMatcher {
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Self, BadPattern> {
        let patterns = globs
            .iter()
            .map(|glob| parse_pattern(glob.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// The default AWS list plus `extra`.
    pub fn aws_and<S: AsRef<str>>(extra: &[S]) -> Result<Self, BadPattern> {
        let mut matcher = Self::new(DEFAULT_INTERCEPT)?;
        for glob in extra {
            matcher.patterns.push(parse_pattern(glob.as_ref())?);
        }
        Ok(matcher)
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.patterns.iter().any(|pattern| match pattern {
            Pattern::Subdomains(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
            Pattern::Exact(name) => host.eq_ignore_ascii_case(name),
        })
    }

    /// The DNS domain each pattern needs the CA to permit (`*.example.test` needs `example.test`).
    pub fn domains(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|pattern| match pattern {
            Pattern::Subdomains(suffix) => &suffix[1..],
            Pattern::Exact(name) => name.as_str(),
        })
    }
}

fn parse_pattern(glob: &str) -> Result<Pattern, BadPattern> {
    let trimmed = glob.trim().trim_end_matches('.').to_ascii_lowercase();
    let (pattern, name) = match trimmed.strip_prefix("*.") {
        Some(suffix) => (
            Pattern::Subdomains(format!(".{suffix}")),
            suffix.to_string(),
        ),
        None => (Pattern::Exact(trimmed.clone()), trimmed.clone()),
    };
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(pattern)
    } else {
        Err(BadPattern(glob.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_covers_aws_partitions_only() {
        let matcher = HostMatcher::aws_and::<&str>(&[]).unwrap();
        for host in [
            "s3.amazonaws.com",
            "my.bucket.s3.us-east-1.amazonaws.com",
            "STS.AMAZONAWS.COM.",
            "sts.cn-north-1.amazonaws.com.cn",
            "bedrock-runtime.us-east-1.api.aws",
        ] {
            assert!(matcher.matches(host), "{host}");
        }
        for host in [
            "amazonaws.com",
            "evilamazonaws.com",
            "amazonaws.com.evil.net",
            "pypi.org",
            "",
        ] {
            assert!(!matcher.matches(host), "{host}");
        }
    }

    #[test]
    fn extra_patterns_exact_and_wildcard() {
        let matcher =
            HostMatcher::aws_and(&["localhost.localstack.cloud", "*.emulator.test"]).unwrap();
        assert!(matcher.matches("localhost.localstack.cloud"));
        assert!(!matcher.matches("s3.localhost.localstack.cloud"));
        assert!(matcher.matches("a.b.emulator.test"));
        assert_eq!(
            matcher.domains().collect::<Vec<_>>(),
            [
                "amazonaws.com",
                "amazonaws.com.cn",
                "api.aws",
                "localhost.localstack.cloud",
                "emulator.test"
            ]
        );
    }

    #[test]
    fn rejects_nonsense() {
        for glob in ["", "*.", "a b", "*.a..b", "http://x"] {
            assert!(HostMatcher::new(&[glob]).is_err(), "{glob}");
        }
    }
}
