//! Which hosts the proxy decrypts. Everything else is tunnelled byte for byte.
//!
//! The list comes from the proxy's caller: the proxy has no hosts of its own.

/// A list of host globs. `*.example.com` matches any name below `example.com`, at any depth
/// (`a.b.example.com` too); other patterns match exactly. Matching ignores ASCII case and a
/// trailing dot.
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
    pub fn new<S: AsRef<str>>(globs: impl IntoIterator<Item = S>) -> Result<Self, BadPattern> {
        let patterns = globs
            .into_iter()
            .map(|glob| parse_pattern(glob.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
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
    fn a_wildcard_matches_names_below_its_domain_only() {
        let matcher = HostMatcher::new(["*.example.com", "*.example.com.cn"]).unwrap();
        for host in [
            "api.example.com",
            "my.bucket.api.region-1.example.com",
            "API.EXAMPLE.COM.",
            "api.region-1.example.com.cn",
        ] {
            assert!(matcher.matches(host), "{host}");
        }
        for host in [
            "example.com",
            "evilexample.com",
            "example.com.evil.net",
            "pypi.org",
            "",
        ] {
            assert!(!matcher.matches(host), "{host}");
        }
    }

    #[test]
    fn exact_and_wildcard_patterns_and_their_domains() {
        let matcher = HostMatcher::new(["localhost.localstack.cloud", "*.emulator.test"]).unwrap();
        assert!(matcher.matches("localhost.localstack.cloud"));
        assert!(!matcher.matches("s3.localhost.localstack.cloud"));
        assert!(matcher.matches("a.b.emulator.test"));
        assert_eq!(
            matcher.domains().collect::<Vec<_>>(),
            ["localhost.localstack.cloud", "emulator.test"]
        );
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        let matcher = HostMatcher::new::<&str>([]).unwrap();
        assert!(!matcher.matches("s3.amazonaws.com"));
        assert_eq!(matcher.domains().count(), 0);
    }

    #[test]
    fn rejects_nonsense() {
        for glob in ["", "*.", "a b", "*.a..b", "http://x"] {
            assert!(HostMatcher::new([glob]).is_err(), "{glob}");
        }
    }
}
