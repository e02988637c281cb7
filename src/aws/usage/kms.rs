//! KMS: whether a call used a symmetric or an asymmetric key, which AWS prices apart.

use super::{request_document, Dimension, Usage, UsageInput};

/// Asymmetric key operations are priced apart from symmetric ones: Sign, Verify, GetPublicKey,
/// and Encrypt/Decrypt with an RSA or SM2 algorithm.
/// Source: https://aws.amazon.com/kms/pricing/
pub(super) fn kms(input: &UsageInput<'_>, usage: &mut Usage) {
    let asymmetric = match input.operation {
        "Sign" | "Verify" | "GetPublicKey" => true,
        "Encrypt" | "Decrypt" | "ReEncrypt" => request_document(input).is_some_and(|r| {
            ["EncryptionAlgorithm", "DestinationEncryptionAlgorithm"]
                .iter()
                .filter_map(|key| r.get(*key)?.as_str())
                .any(|algorithm| algorithm != "SYMMETRIC_DEFAULT")
        }),
        _ => false,
    };
    usage.dim(
        Dimension::KeyType,
        if asymmetric {
            "asymmetric"
        } else {
            "symmetric"
        },
    );
}
