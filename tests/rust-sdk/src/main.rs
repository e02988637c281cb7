//! A workload for tollgate's Rust SDK test (`tests/integration/rust_sdk.rs`): S3, DynamoDB and SQS
//! calls made by the AWS SDK for Rust exactly as an application would make them, with the default
//! HTTPS client, `BehaviorVersion::latest()`, no endpoint override. Meant to run under
//! `tollgate run --upstream <moto>`, which gives it `HTTPS_PROXY` (the default client honours it
//! from behaviour version 2025-08-07 on) and `SSL_CERT_FILE` (read by rustls-native-certs, which
//! the default client loads its roots from).
//!
//! An interceptor on every client counts what the SDK itself did: each execution (one logical
//! call, `read_before_serialization`) and each HTTP attempt (`read_before_transmit`), by service and
//! operation. At the end one JSON line goes to stdout:
//!
//! `{"attempts": N, "operations": {"s3.PutObject": attempts, ...}, "calls": {"s3.PutObject": executions, ...}}`
//!
//! Service names are botocore's (`s3`, `dynamodb`, `sqs`; the SDK's `Metadata` says `S3`, `DynamoDB`,
//! `SQS`), operation names the Smithy ones (the same as botocore's). On stderr: the first request of
//! each operation (and of each content encoding it was sent in), method, URL and the headers that
//! tell how it was encoded, for comparing the Rust SDK's wire format with botocore's.
//!
//! Every client also carries the few lines tollgate's README shows for naming call sites in the
//! Rust SDK: an interceptor that sets `x-tollgate-callsite` to the line that built the client.
//! The counter reads the header back from each request it counts (`"callsites"` in the JSON), so
//! the test compares tollgate's `report --by callsite` with what the SDK sent.
//!
//! Exits non-zero, with the SDK's error, if any call that should succeed fails.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use aws_sdk_s3::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const REGION: &str = "us-east-1";
const BUCKET: &str = "tollgate-rust-sdk-test";
const OBJECTS: usize = 30;
const PAGE_SIZE: i32 = 10;
const TABLE: &str = "tollgate-rust-sdk-test";
const QUEUE: &str = "tollgate-rust-sdk-test";
/// For the DynamoDB client whose credentials carry an account id: the SDK then sends its calls to
/// the account-based endpoint `<account>.ddb.<region>.amazonaws.com`.
const ACCOUNT_ID: &str = "123456789012";

/// Headers whose values say how a request was encoded (the rest are listed by name only).
const SHOWN_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "expect",
    "x-amz-target",
    "x-amzn-query-mode",
    "smithy-protocol",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "amz-sdk-request",
];

#[derive(Default)]
struct Counts {
    attempts: u64,
    /// `service.Operation` → HTTP attempts.
    attempts_by_operation: BTreeMap<String, u64>,
    /// `service.Operation` → executions (logical calls, paginator pages included).
    calls_by_operation: BTreeMap<String, u64>,
    /// `x-tollgate-callsite` → HTTP attempts.
    attempts_by_callsite: BTreeMap<String, u64>,
    /// (`service.Operation`, content encoding) of the requests printed on stderr.
    described: std::collections::BTreeSet<(String, String)>,
}

/// Counts executions and attempts of every client it is added to.
#[derive(Clone, Default)]
struct Counter {
    counts: Arc<Mutex<Counts>>,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counter")
    }
}

/// `s3.ListObjectsV2`: botocore's lower-case service name and the Smithy operation name.
fn operation_key(cfg: &ConfigBag) -> std::result::Result<String, BoxError> {
    let metadata = cfg
        .load::<Metadata>()
        .ok_or("no operation metadata in the config bag")?;
    let service = match metadata.service().to_ascii_lowercase().as_str() {
        "s3" => "s3",
        "dynamodb" => "dynamodb",
        "sqs" => "sqs",
        other => return Err(format!("unexpected service {other}").into()),
    };
    Ok(format!("{service}.{}", metadata.name()))
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "TollgateTestCounter"
    }

    // Not `read_before_execution`: a client's interceptors see that before the operation's
    // configuration (and its `Metadata`) is in the bag. This one also runs once per execution.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let key = operation_key(cfg)?;
        let mut counts = self.counts.lock().expect("counts lock");
        *counts.calls_by_operation.entry(key).or_default() += 1;
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let key = operation_key(cfg)?;
        let mut counts = self.counts.lock().expect("counts lock");
        counts.attempts += 1;
        *counts.attempts_by_operation.entry(key.clone()).or_default() += 1;
        if let Some(site) = context.request().headers().get(CALLSITE_HEADER) {
            *counts
                .attempts_by_callsite
                .entry(site.to_string())
                .or_default() += 1;
        }
        // Each operation's first request, and its first in another content encoding (PutObject
        // with a body in memory, then one streamed from a file as `aws-chunked`).
        let request = context.request();
        let encoding = request
            .headers()
            .get("content-encoding")
            .unwrap_or_default()
            .to_string();
        if counts.described.insert((key.clone(), encoding)) {
            eprintln!("rust-sdk request {key}: {}", describe(request));
        }
        Ok(())
    }
}

/// The header tollgate reads (and removes) to name the line that made a call.
const CALLSITE_HEADER: &str = "x-tollgate-callsite";

/// What tollgate's README shows for the Rust SDK: an interceptor that names the call site of
/// every request its client sends. Here the site is the line that built the client.
#[derive(Debug, Clone)]
struct CallSite(String);

impl CallSite {
    /// `src/main.rs:231 s3`: the caller's file and line, and a name.
    #[track_caller]
    fn here(name: &str) -> Self {
        let at = std::panic::Location::caller();
        CallSite(format!("{}:{} {name}", at.file(), at.line()))
    }
}

impl Intercept for CallSite {
    fn name(&self) -> &'static str {
        "TollgateCallSite"
    }

    // After signing: the header is not signed, so tollgate can remove it.
    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert(CALLSITE_HEADER, self.0.clone());
        Ok(())
    }
}

/// Method, URL and encoding headers of a request, without credentials.
fn describe(request: &aws_smithy_runtime_api::http::Request) -> String {
    let mut out = format!("{} {}", request.method(), request.uri());
    let mut others = Vec::new();
    for (name, value) in request.headers().iter() {
        let lower = name.to_ascii_lowercase();
        // Only these values: never `authorization` or `x-amz-security-token`.
        if SHOWN_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-amz-checksum-") {
            let _ = write!(out, " | {lower}: {value}");
        } else {
            others.push(lower);
        }
    }
    others.sort();
    let _ = write!(out, " | other headers: {}", others.join(", "));
    out
}

impl Counter {
    fn json(&self) -> String {
        let counts = self.counts.lock().expect("counts lock");
        let map = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(name, count)| format!("\"{name}\": {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{{\"attempts\": {}, \"operations\": {{{}}}, \"calls\": {{{}}}, \"callsites\": {{{}}}}}",
            counts.attempts,
            map(&counts.attempts_by_operation),
            map(&counts.calls_by_operation),
            map(&counts.attempts_by_callsite)
        )
    }
}

#[tokio::main]
async fn main() {
    let counter = Counter::default();
    let outcome = run(&counter).await;
    // The counts go out also on failure: they say how far the workload got.
    println!("{}", counter.json());
    if let Err(error) = outcome {
        eprintln!("rust-sdk workload failed: {}", DisplayErrorContext(&*error));
        std::process::exit(1);
    }
    eprintln!("rust-sdk workload: ok");
}

async fn run(counter: &Counter) -> Result<()> {
    for name in ["HTTPS_PROXY", "https_proxy", "SSL_CERT_FILE"] {
        eprintln!(
            "rust-sdk env {name}={}",
            std::env::var(name).unwrap_or_else(|_| "(unset)".into())
        );
    }
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "AKIDTOLLGATERUSTSDK",
            "tollgate-rust-sdk-dummy-secret",
            None,
            None,
            "tollgate-rust-sdk-test",
        ))
        .load()
        .await;

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .interceptor(CallSite::here("s3"))
            .interceptor(counter.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(CallSite::here("dynamodb"))
            .interceptor(counter.clone())
            .build(),
    );
    let dynamodb_by_account = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .credentials_provider(
                Credentials::builder()
                    .access_key_id("AKIDTOLLGATERUSTSDK")
                    .secret_access_key("tollgate-rust-sdk-dummy-secret")
                    .account_id(ACCOUNT_ID)
                    .provider_name("tollgate-rust-sdk-test")
                    .build(),
            )
            .interceptor(CallSite::here("dynamodb_by_account"))
            .interceptor(counter.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(CallSite::here("sqs"))
            .interceptor(counter.clone())
            .build(),
    );

    s3_workload(&s3).await?;
    dynamodb_workload(&dynamodb, &dynamodb_by_account).await?;
    sqs_workload(&sqs).await?;
    Ok(())
}

fn object_key(index: usize) -> String {
    format!("data/object-{index:03}.txt")
}

async fn s3_workload(s3: &aws_sdk_s3::Client) -> Result<()> {
    s3.create_bucket().bucket(BUCKET).send().await?;
    for index in 0..OBJECTS {
        let body = format!("object {index}\n").repeat(100 + index * 10);
        s3.put_object()
            .bucket(BUCKET)
            .key(object_key(index))
            .content_type("text/plain")
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await?;
    }

    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("data/")
        .max_keys(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut listed = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page?;
        listed.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
    }
    if listed.len() != OBJECTS {
        return Err(format!("listed {} objects, put {OBJECTS}", listed.len()).into());
    }

    for index in [0, 7, 29] {
        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(object_key(index))
            .send()
            .await?;
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(object_key(index))
            .send()
            .await?;
        let bytes = got.body.collect().await?.into_bytes();
        if Some(bytes.len() as i64) != head.content_length() {
            return Err(format!(
                "{}: got {} bytes, HeadObject said {:?}",
                object_key(index),
                bytes.len(),
                head.content_length()
            )
            .into());
        }
    }

    // A 404 the workload expects: one attempt, one error, not retried.
    match s3
        .head_object()
        .bucket(BUCKET)
        .key("data/no-such-object")
        .send()
        .await
    {
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(error) => return Err(error.into()),
        Ok(_) => return Err("HeadObject found an object that was never put".into()),
    }

    let streamed = streamed_uploads(s3).await?;

    // Two one by one, the rest in one DeleteObjects.
    for key in &listed[..2] {
        s3.delete_object().bucket(BUCKET).key(key).send().await?;
    }
    let identifiers = listed[2..]
        .iter()
        .chain(&streamed)
        .map(|key| ObjectIdentifier::builder().key(key).build())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let deleted = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(Delete::builder().set_objects(Some(identifiers)).build()?)
        .send()
        .await?;
    if deleted.deleted().len() != OBJECTS - 2 + streamed.len() || !deleted.errors().is_empty() {
        return Err(format!("DeleteObjects: {deleted:?}").into());
    }
    s3.delete_bucket().bucket(BUCKET).send().await?;
    Ok(())
}

/// Uploads whose bodies are streams (from a file), not bytes in memory: the SDK sends these
/// `aws-chunked`, its checksum in a trailer, where an in-memory body gets a checksum header. One
/// PutObject and one multipart upload of two parts. Returns the keys it wrote.
async fn streamed_uploads(s3: &aws_sdk_s3::Client) -> Result<Vec<String>> {
    const PART: usize = 5 * 1024 * 1024; // S3's (and moto's) smallest part but the last
    const LAST_PART: usize = 512 * 1024;
    let path =
        std::env::temp_dir().join(format!("tollgate-rust-sdk-test-{}.bin", std::process::id()));
    let data: Vec<u8> = (0..PART + LAST_PART).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data)?;
    let outcome = upload_file(s3, &path, PART as u64, LAST_PART as u64).await;
    let _ = std::fs::remove_file(&path);
    outcome
}

async fn upload_file(
    s3: &aws_sdk_s3::Client,
    path: &std::path::Path,
    part: u64,
    last_part: u64,
) -> Result<Vec<String>> {
    use aws_sdk_s3::primitives::Length;
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

    let single = "streamed/single.bin";
    s3.put_object()
        .bucket(BUCKET)
        .key(single)
        .body(
            ByteStream::read_from()
                .path(path)
                .length(Length::Exact(last_part))
                .build()
                .await?,
        )
        .send()
        .await?;

    let multipart = "streamed/multipart.bin";
    let upload = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(multipart)
        .send()
        .await?;
    let upload_id = upload
        .upload_id()
        .ok_or("CreateMultipartUpload: no upload id")?;
    let mut completed = Vec::new();
    for (number, offset, length) in [(1, 0, part), (2, part, last_part)] {
        let body = ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(Length::Exact(length))
            .build()
            .await?;
        let uploaded = s3
            .upload_part()
            .bucket(BUCKET)
            .key(multipart)
            .upload_id(upload_id)
            .part_number(number)
            .body(body)
            .send()
            .await?;
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(String::from))
                .set_checksum_crc32(uploaded.checksum_crc32().map(String::from))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(BUCKET)
        .key(multipart)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await?;
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key(multipart)
        .send()
        .await?;
    if head.content_length() != Some((part + last_part) as i64) {
        return Err(format!(
            "the multipart object has {:?} bytes, not {}",
            head.content_length(),
            part + last_part
        )
        .into());
    }
    Ok(vec![single.to_string(), multipart.to_string()])
}

fn item(pk: &str, sk: i64, payload: &str) -> std::collections::HashMap<String, AttributeValue> {
    [
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::N(sk.to_string())),
        (
            "payload".to_string(),
            AttributeValue::S(payload.to_string()),
        ),
    ]
    .into_iter()
    .collect()
}

async fn dynamodb_workload(
    dynamodb: &aws_sdk_dynamodb::Client,
    by_account: &aws_sdk_dynamodb::Client,
) -> Result<()> {
    dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::N)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await?;
    dynamodb.describe_table().table_name(TABLE).send().await?;

    for sk in 0..5 {
        dynamodb
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item("user#1", sk, &format!("item {sk}"))))
            .send()
            .await?;
    }
    let writes = (0..3)
        .map(|sk| {
            PutRequest::builder()
                .set_item(Some(item("user#2", sk, "batch")))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    dynamodb
        .batch_write_item()
        .request_items(TABLE, writes)
        .send()
        .await?;

    for sk in [0, 3] {
        let got = dynamodb
            .get_item()
            .table_name(TABLE)
            .key("pk", AttributeValue::S("user#1".into()))
            .key("sk", AttributeValue::N(sk.to_string()))
            .send()
            .await?;
        if got.item().is_none() {
            return Err(format!("GetItem user#1/{sk}: no item").into());
        }
    }
    let queried = dynamodb
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("user#1".into()))
        .send()
        .await?;
    if queried.count() != 5 {
        return Err(format!("Query found {} items, not 5", queried.count()).into());
    }
    dynamodb
        .update_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("user#1".into()))
        .key("sk", AttributeValue::N("1".into()))
        .update_expression("SET payload = :p")
        .expression_attribute_values(":p", AttributeValue::S("updated".into()))
        .send()
        .await?;

    // The account-based endpoint: `<account>.ddb.us-east-1.amazonaws.com`.
    let got = by_account
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("user#1".into()))
        .key("sk", AttributeValue::N("1".into()))
        .send()
        .await?;
    if got.item().is_none() {
        return Err("GetItem through the account endpoint: no item".into());
    }

    for sk in [0, 1] {
        dynamodb
            .delete_item()
            .table_name(TABLE)
            .key("pk", AttributeValue::S("user#1".into()))
            .key("sk", AttributeValue::N(sk.to_string()))
            .send()
            .await?;
    }
    dynamodb.list_tables().send().await?;
    dynamodb.delete_table().table_name(TABLE).send().await?;
    Ok(())
}

async fn sqs_workload(sqs: &aws_sdk_sqs::Client) -> Result<()> {
    let created = sqs.create_queue().queue_name(QUEUE).send().await?;
    let url = created.queue_url().ok_or("CreateQueue returned no URL")?;
    let looked_up = sqs.get_queue_url().queue_name(QUEUE).send().await?;
    if looked_up.queue_url() != Some(url) {
        return Err(format!("GetQueueUrl: {:?}, not {url}", looked_up.queue_url()).into());
    }

    for index in 0..3 {
        sqs.send_message()
            .queue_url(url)
            .message_body(format!("message {index}"))
            .send()
            .await?;
    }
    let entries = (0..3)
        .map(|index| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("batch-{index}"))
                .message_body(format!("batch message {index}"))
                .build()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let sent = sqs
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await?;
    if sent.successful().len() != 3 {
        return Err(format!("SendMessageBatch: {sent:?}").into());
    }
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await?;

    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .send()
        .await?;
    let messages = received.messages();
    if messages.len() < 2 {
        return Err(format!(
            "ReceiveMessage got {} messages, wanted 2 or more",
            messages.len()
        )
        .into());
    }
    let handle = |index: usize| {
        messages[index]
            .receipt_handle()
            .ok_or("a message without a receipt handle")
    };
    sqs.delete_message()
        .queue_url(url)
        .receipt_handle(handle(0)?)
        .send()
        .await?;
    let deletes = (1..messages.len())
        .map(|index| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("delete-{index}"))
                .receipt_handle(handle(index)?)
                .build()
                .map_err(Into::into)
        })
        .collect::<Result<Vec<_>>>()?;
    let deleted = sqs
        .delete_message_batch()
        .queue_url(url)
        .set_entries(Some(deletes))
        .send()
        .await?;
    if !deleted.failed().is_empty() {
        return Err(format!("DeleteMessageBatch: {deleted:?}").into());
    }
    sqs.delete_queue().queue_url(url).send().await?;
    Ok(())
}
