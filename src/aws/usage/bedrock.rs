//! Bedrock: the input and output tokens of a model call, in thousands, and the model it invoked.

use base64::Engine as _;
use http::HeaderMap;
use rust_decimal::Decimal;

use crate::aws::wire::percent_decode;

use super::{header, response_document, BodyView, Dimension, Unit, Usage, UsageInput};

/// Tokens from InvokeModel's headers, Converse's `usage`, or the last event of a streamed answer;
/// the model from the request path.
/// Source: https://docs.aws.amazon.com/bedrock/latest/userguide/monitoring.html and the
/// InvokeModel / Converse API references.
pub(super) fn bedrock(input: &UsageInput<'_>, usage: &mut Usage) {
    if let Some(model) = bedrock_model(input.path) {
        usage.dim(Dimension::Model, model);
    }
    let tokens = bedrock_tokens_from_headers(input.response_headers)
        .or_else(|| {
            response_document(input).and_then(|r| {
                let u = r.get("usage")?;
                Some((
                    u.get("inputTokens")?.as_u64()?,
                    u.get("outputTokens")?.as_u64()?,
                ))
            })
        })
        .or_else(|| bedrock_stream_tokens(&input.response_body));
    match tokens {
        Some((input_tokens, output_tokens)) => {
            let thousand = Decimal::from(1000);
            usage.set(Unit::InputTokens1k, Decimal::from(input_tokens) / thousand);
            usage.set(
                Unit::OutputTokens1k,
                Decimal::from(output_tokens) / thousand,
            );
        }
        None if input.status.is_some_and(|s| s < 300) => {
            usage.estimate("Bedrock token counts not found in the response");
        }
        None => {}
    }
}

/// `/model/{modelId}/invoke` and friends; cross-region inference profile prefixes stripped.
pub fn bedrock_model(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/model/")?;
    let id = percent_decode(rest.split('/').next()?);
    let id = [
        "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
    ]
    .iter()
    .find_map(|prefix| id.strip_prefix(prefix))
    .map(str::to_string)
    .unwrap_or(id);
    (!id.is_empty()).then_some(id)
}

fn bedrock_tokens_from_headers(headers: Option<&HeaderMap>) -> Option<(u64, u64)> {
    let count = |name| header(headers, name)?.trim().parse::<u64>().ok();
    Some((
        count("x-amzn-bedrock-input-token-count")?,
        count("x-amzn-bedrock-output-token-count")?,
    ))
}

/// The token counts in a streamed response's last events: ConverseStream's `metadata` event
/// carries `"usage":{"inputTokens":..}`; InvokeModelWithResponseStream's last chunk carries
/// base64 JSON with `amazon-bedrock-invocationMetrics {inputTokenCount, outputTokenCount}`.
fn bedrock_stream_tokens(body: &BodyView<'_>) -> Option<(u64, u64)> {
    let region = if body.truncated { body.tail } else { body.head };
    let text = String::from_utf8_lossy(region);
    if let Some(tokens) = find_token_pair(&text, "\"inputTokens\"", "\"outputTokens\"") {
        return Some(tokens);
    }
    if let Some(tokens) = find_token_pair(&text, "\"inputTokenCount\"", "\"outputTokenCount\"") {
        return Some(tokens);
    }
    // InvokeModelWithResponseStream: chunks are {"bytes":"<base64 JSON>"}; the last has metrics.
    let mut last = None;
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("\"bytes\":\"") {
        rest = &rest[at + 9..];
        let end = rest.find('"').unwrap_or(rest.len());
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(&rest[..end]) {
            let decoded = String::from_utf8_lossy(&decoded);
            if let Some(tokens) =
                find_token_pair(&decoded, "\"inputTokenCount\"", "\"outputTokenCount\"")
            {
                last = Some(tokens);
            }
        }
        rest = &rest[end..];
    }
    last
}

fn find_token_pair(text: &str, input_key: &str, output_key: &str) -> Option<(u64, u64)> {
    let number_after = |key: &str| {
        let at = text.rfind(key)? + key.len();
        let digits: String = text[at..]
            .trim_start_matches([':', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u64>().ok()
    };
    Some((number_after(input_key)?, number_after(output_key)?))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{dec, input, usage, usage_of};
    use super::*;
    use serde_json::json;

    #[test]
    fn bedrock_tokens_from_converse_usage_headers_and_streams() {
        let mut u = usage_of(
            "bedrock-runtime",
            "Converse",
            &json!({}),
            &json!({"usage": {"inputTokens": 1200, "outputTokens": 345, "totalTokens": 1545}}),
        );
        assert_eq!(u.quantity(Unit::InputTokens1k), Some(dec("1.2")));
        assert_eq!(u.quantity(Unit::OutputTokens1k), Some(dec("0.345")));

        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-bedrock-input-token-count", "10".parse().unwrap());
        headers.insert("x-amzn-bedrock-output-token-count", "20".parse().unwrap());
        let empty = HeaderMap::new();
        let mut call = input(
            "bedrock-runtime",
            "InvokeModel",
            &empty,
            b"{}",
            &headers,
            b"{}",
        );
        call.path = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke";
        u = usage(&call);
        assert_eq!(u.quantity(Unit::InputTokens1k), Some(dec("0.01")));
        assert_eq!(u.quantity(Unit::OutputTokens1k), Some(dec("0.02")));
        assert_eq!(
            u.dimension(Dimension::Model),
            Some("anthropic.claude-sonnet-4-20250514-v1:0")
        );

        let metrics = base64::engine::general_purpose::STANDARD.encode(
            br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":9,"invocationLatency":1}}"#,
        );
        let stream = format!("\0\0junk{{\"bytes\":\"{metrics}\"}}\0\0");
        let head = vec![b'x'; 10];
        let mut streamed = input(
            "bedrock-runtime",
            "InvokeModelWithResponseStream",
            &empty,
            b"{}",
            &empty,
            b"",
        );
        streamed.response_body = BodyView {
            head: &head,
            tail: stream.as_bytes(),
            length: 1 << 20,
            truncated: true,
        };
        u = usage(&streamed);
        assert_eq!(u.quantity(Unit::InputTokens1k), Some(dec("0.007")));
        assert_eq!(u.quantity(Unit::OutputTokens1k), Some(dec("0.009")));
    }
}
