//! Where a request would have gone without the endpoint override: a service's endpoint prefix and
//! a region → the AWS host name.
//!
//! The default is `{endpoint prefix}.{region}.{partition's DNS suffix}`, as botocore's endpoint
//! data (`endpoints.json`, "defaults.hostname") builds it for every partition. The exceptions are
//! the global services whose partition endpoint has a host of its own (`iam.amazonaws.com`):
//! [`GLOBAL_HOSTS`], from the same file's `partitionEndpoint: aws-global` entries.
//!
//! Left out, documented in README: FIPS and dual-stack variants (the client asked for neither of
//! the endpoint override), the ISO partitions, and operations whose host carries a prefix built
//! from the request (`{AccountId}.s3-control`): those go to the service's plain host.

/// Global services in the `aws` partition whose host is not the regional default, with the
/// region their calls are signed for (botocore 1.44.8 `endpoints.json`, partition `aws`,
/// `partitionEndpoint: aws-global`).
const GLOBAL_HOSTS: &[(&str, &str)] = &[
    ("budgets", "budgets.amazonaws.com"),
    ("cloudfront", "cloudfront.amazonaws.com"),
    ("health", "global.health.amazonaws.com"),
    ("iam", "iam.amazonaws.com"),
    ("importexport", "importexport.amazonaws.com"),
    ("route53", "route53.amazonaws.com"),
    ("savingsplans", "savingsplans.amazonaws.com"),
    ("waf", "waf.amazonaws.com"),
];

/// The AWS host for `endpoint_prefix` in `region` (the signing region of the request).
pub fn aws_host(endpoint_prefix: &str, region: &str) -> String {
    let suffix = dns_suffix(region);
    if suffix == "amazonaws.com" && (region == "us-east-1" || region == "aws-global") {
        if let Some((_, host)) = GLOBAL_HOSTS
            .iter()
            .find(|(prefix, _)| *prefix == endpoint_prefix)
        {
            return (*host).to_string();
        }
    }
    if region == "aws-global" {
        return format!("{endpoint_prefix}.{suffix}");
    }
    format!("{endpoint_prefix}.{region}.{suffix}")
}

/// The partition's DNS suffix for a region: China's own, else the commercial and GovCloud one.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_global_and_china_hosts() {
        assert_eq!(aws_host("s3", "eu-west-1"), "s3.eu-west-1.amazonaws.com");
        assert_eq!(
            aws_host("dynamodb", "us-east-1"),
            "dynamodb.us-east-1.amazonaws.com"
        );
        assert_eq!(aws_host("iam", "us-east-1"), "iam.amazonaws.com");
        assert_eq!(aws_host("route53", "us-east-1"), "route53.amazonaws.com");
        assert_eq!(
            aws_host("health", "us-east-1"),
            "global.health.amazonaws.com"
        );
        assert_eq!(
            aws_host("sqs", "cn-north-1"),
            "sqs.cn-north-1.amazonaws.com.cn"
        );
        // IAM in China is regional: the global table is the `aws` partition's only.
        assert_eq!(
            aws_host("iam", "cn-north-1"),
            "iam.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            aws_host("sts", "us-gov-west-1"),
            "sts.us-gov-west-1.amazonaws.com"
        );
    }

    /// Every host built here is one the proxy's own host parser reads back as the same service
    /// and region: endpoint mode and proxy mode identify and price the same call alike.
    #[test]
    fn built_hosts_parse_back() {
        for (prefix, region) in [
            ("s3", "eu-west-1"),
            ("dynamodb", "ap-southeast-2"),
            ("sqs", "cn-north-1"),
            ("bedrock-runtime", "us-west-2"),
        ] {
            let host = aws_host(prefix, region);
            let parsed = crate::aws::host::parse(&host).unwrap();
            assert_eq!(
                (parsed.endpoint_prefix, parsed.region),
                (prefix, Some(region))
            );
        }
    }
}
