//! What an AWS host name says: the endpoint prefix, the region, and any labels in front of them
//! (an S3 bucket, an account id, an operation's host prefix).

/// The parts of an AWS endpoint host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsHost<'a> {
    /// The label naming the service's endpoint (`s3`, `dynamodb`, `bedrock-runtime`), without a
    /// `-fips` suffix.
    pub endpoint_prefix: &'a str,
    /// `None` for global endpoints (`iam.amazonaws.com`, `s3.amazonaws.com`).
    pub region: Option<&'a str>,
    /// Labels before the endpoint prefix: a virtual-hosted bucket (which may contain dots), an
    /// account id, or an operation's host prefix. Empty when there are none.
    pub leading: &'a str,
    pub fips: bool,
    pub dualstack: bool,
    pub partition_suffix: &'a str,
}

/// Every AWS partition's API domains: the hosts tollgate intercepts, and the names its CA may
/// issue for (given to the CA by the command line: the CA knows nothing of AWS).
pub const API_DOMAINS: &[&str] = &["amazonaws.com", "amazonaws.com.cn", "api.aws"];

/// [`API_DOMAINS`] with their dot, longest first (checked by a test).
const SUFFIXES: &[&str] = &[".amazonaws.com.cn", ".amazonaws.com", ".api.aws"];

/// [`API_DOMAINS`] as host globs (`*.domain` is any name below `domain`): the hosts tollgate
/// intercepts whatever else it is told to (checked by a test).
pub const INTERCEPT_GLOBS: &[&str] = &["*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws"];

/// [`INTERCEPT_GLOBS`] followed by `extra` (`--intercept`): the hosts to give the proxy.
pub fn intercept_globs<S: AsRef<str>>(extra: &[S]) -> impl Iterator<Item = &str> {
    INTERCEPT_GLOBS
        .iter()
        .copied()
        .chain(extra.iter().map(AsRef::as_ref))
}

/// Parses `host` (no port, lower case) if it is under an AWS API domain.
pub fn parse(host: &str) -> Option<AwsHost<'_>> {
    let host = host.trim_end_matches('.');
    let (stem, partition_suffix) = SUFFIXES.iter().find_map(|suffix| {
        host.strip_suffix(suffix)
            .map(|stem| (stem, &host[host.len() - suffix.len() + 1..]))
    })?;
    if stem.is_empty() {
        return None;
    }
    let mut labels: Vec<&str> = stem.split('.').collect();

    // Read from the right, as endpoints are built: `[leading.]prefix[.dualstack][.region][.vpce]`.
    // The region is only ever the last label (before a PrivateLink `vpce`), so a bucket named
    // like a region (`us-west-2.s3.amazonaws.com`) is not taken for one.
    let privatelink = labels.len() > 1 && labels.last() == Some(&"vpce");
    if privatelink {
        labels.pop();
    }
    let mut region = None;
    if labels.len() > 1 {
        let last = *labels.last().expect("at least two labels");
        if is_region(last) {
            region = Some(last);
            labels.pop();
        } else if last == "global" {
            // `codecatalyst.global.api.aws`: a global endpoint spelled out.
            labels.pop();
        }
    } else if is_region(labels[0]) || labels[0] == "global" {
        // `us-east-1.amazonaws.com` alone names no service.
        return None;
    }
    let dualstack = labels.len() > 1 && labels.last() == Some(&"dualstack");
    if dualstack {
        labels.pop();
    }
    let prefix_at = labels.len() - 1;
    let raw_prefix = labels[prefix_at];
    let (endpoint_prefix, region, fips) =
        legacy_s3_dash_region(raw_prefix, region).unwrap_or_else(|| {
            match raw_prefix.strip_suffix("-fips") {
                Some(prefix) => (prefix, region, true),
                None => (raw_prefix, region, false),
            }
        });
    // A PrivateLink endpoint id (`vpce-0a1b2c-xyz`) sits between a bucket and the prefix.
    let mut leading_labels = &labels[..prefix_at];
    if leading_labels
        .last()
        .is_some_and(|label| label.starts_with("vpce-"))
    {
        leading_labels = &leading_labels[..leading_labels.len() - 1];
    }
    let leading_len: usize = leading_labels.iter().map(|l| l.len() + 1).sum();
    let leading = &stem[..leading_len.saturating_sub(1)];
    Some(AwsHost {
        endpoint_prefix,
        region,
        leading,
        fips,
        dualstack,
        partition_suffix,
    })
}

/// `s3-us-west-2` and `s3-external-1`: S3's legacy dash-region endpoints.
fn legacy_s3_dash_region<'a>(
    label: &'a str,
    region: Option<&'a str>,
) -> Option<(&'a str, Option<&'a str>, bool)> {
    let rest = label.strip_prefix("s3-")?;
    if region.is_some() {
        return None;
    }
    if rest == "external-1" {
        return Some(("s3", Some("us-east-1"), false));
    }
    let (rest, fips) = match rest.strip_prefix("fips-") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    is_region(rest).then_some(("s3", Some(rest), fips))
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`, `ap-southeast-5`...
pub fn is_region(label: &str) -> bool {
    let mut parts = label.split('-');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    if area.len() != 2 || !area.bytes().all(|b| b.is_ascii_lowercase()) || rest.len() < 2 {
        return false;
    }
    let (number, words) = rest.split_last().expect("at least two parts");
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && words.len() <= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three lists of the AWS domains say the same.
    #[test]
    fn the_suffixes_and_globs_are_the_api_domains() {
        let mut suffixes: Vec<String> = API_DOMAINS.iter().map(|d| format!(".{d}")).collect();
        suffixes.sort_by_key(|s| std::cmp::Reverse(s.len()));
        assert_eq!(SUFFIXES, suffixes);
        let globs: Vec<String> = API_DOMAINS.iter().map(|d| format!("*.{d}")).collect();
        assert_eq!(INTERCEPT_GLOBS, globs);
    }

    #[test]
    fn the_intercept_globs_are_the_domains_parse_knows() {
        let mut globbed: Vec<_> = INTERCEPT_GLOBS
            .iter()
            .map(|glob| glob.strip_prefix('*').expect("a wildcard glob"))
            .collect();
        let mut suffixes = SUFFIXES.to_vec();
        globbed.sort_unstable();
        suffixes.sort_unstable();
        assert_eq!(globbed, suffixes);
    }

    #[test]
    fn intercept_globs_put_the_aws_domains_first() {
        assert_eq!(
            intercept_globs(&["localhost.localstack.cloud"]).collect::<Vec<_>>(),
            [
                "*.amazonaws.com",
                "*.amazonaws.com.cn",
                "*.api.aws",
                "localhost.localstack.cloud"
            ]
        );
    }

    fn check(host: &str, prefix: &str, region: Option<&str>, leading: &str) {
        let parsed = parse(host).unwrap_or_else(|| panic!("{host} not parsed"));
        assert_eq!(
            (parsed.endpoint_prefix, parsed.region, parsed.leading),
            (prefix, region, leading),
            "{host}"
        );
    }

    #[test]
    fn regional_global_and_partition_hosts() {
        check("sqs.us-east-1.amazonaws.com", "sqs", Some("us-east-1"), "");
        check("iam.amazonaws.com", "iam", None, "");
        check(
            "sts.cn-north-1.amazonaws.com.cn",
            "sts",
            Some("cn-north-1"),
            "",
        );
        check(
            "ec2.us-gov-west-1.amazonaws.com",
            "ec2",
            Some("us-gov-west-1"),
            "",
        );
        check(
            "bedrock-runtime.us-west-2.api.aws",
            "bedrock-runtime",
            Some("us-west-2"),
            "",
        );
    }

    #[test]
    fn s3_buckets_dualstack_fips_and_legacy_forms() {
        check(
            "my.bucket.s3.us-east-1.amazonaws.com",
            "s3",
            Some("us-east-1"),
            "my.bucket",
        );
        check("logs.s3.amazonaws.com", "s3", None, "logs");
        check(
            "b.s3.dualstack.eu-west-1.amazonaws.com",
            "s3",
            Some("eu-west-1"),
            "b",
        );
        check("b.s3-us-west-2.amazonaws.com", "s3", Some("us-west-2"), "b");
        check(
            "b.s3-external-1.amazonaws.com",
            "s3",
            Some("us-east-1"),
            "b",
        );
        let fips = parse("dynamodb-fips.us-east-1.amazonaws.com").unwrap();
        assert!(fips.fips);
        assert_eq!(fips.endpoint_prefix, "dynamodb");
        let dual = parse("s3.dualstack.us-east-1.amazonaws.com").unwrap();
        assert!(dual.dualstack && dual.leading.is_empty());
    }

    #[test]
    fn privatelink_and_region_named_buckets() {
        check(
            "vpce-0a1b-xyz.s3.us-east-1.vpce.amazonaws.com",
            "s3",
            Some("us-east-1"),
            "",
        );
        check(
            "bkt.vpce-0a1b-xyz.s3.us-east-1.vpce.amazonaws.com",
            "s3",
            Some("us-east-1"),
            "bkt",
        );
        check("us-west-2.s3.amazonaws.com", "s3", None, "us-west-2");
        check(
            "us-west-2.s3.eu-west-1.amazonaws.com",
            "s3",
            Some("eu-west-1"),
            "us-west-2",
        );
        assert!(parse("global.api.aws").is_none());
    }

    #[test]
    fn account_and_host_prefixed() {
        check(
            "123456789012.s3-control.us-east-1.amazonaws.com",
            "s3-control",
            Some("us-east-1"),
            "123456789012",
        );
        check(
            "data-ats.iot.us-east-1.amazonaws.com",
            "iot",
            Some("us-east-1"),
            "data-ats",
        );
    }

    #[test]
    fn not_aws() {
        assert!(parse("example.com").is_none());
        assert!(parse("amazonaws.com").is_none());
        assert!(parse("us-east-1.amazonaws.com").is_none());
        assert!(!is_region("s3"));
        assert!(!is_region("us-east"));
        assert!(is_region("ap-southeast-5"));
    }
}
