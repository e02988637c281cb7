//! `tollgate pricing update`: the AWS Price List bulk offer files for the services and regions the
//! table prices, fetched over HTTPS (or read from a mirror), cached in the data directory, and
//! handed to [`super::import`].
//!
//! The Price List is public (no account, no credentials). Its layout, from
//! https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-the-aws-price-list-bulk-api-fetching-price-list-files-manually.html:
//!
//! - the offer index, `/offers/v1.0/aws/index.json`: `offers.<offerCode>.currentRegionIndexUrl`;
//! - each offer's region index: `regions.<regionCode>.currentVersionUrl`;
//! - each region's offer file, `/offers/v1.0/aws/<offerCode>/<version>/<region>/index.json`,
//!   whose path names its version: a file already cached under that path is never fetched again.
//!
//! The two indexes change when AWS publishes; they are asked for with `If-None-Match` /
//! `If-Modified-Since`, so an unchanged index costs a `304`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

/// Where AWS publishes the Price List.
pub const PRICE_LIST: &str = "https://pricing.us-east-1.amazonaws.com";
/// The offer index, under the Price List's base.
pub const OFFER_INDEX: &str = "/offers/v1.0/aws/index.json";

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "cannot fetch {url}: {cause}\n  offline? `--from DIR` reads a mirror of the Price List (the \
         same paths under DIR); behind a proxy, set HTTPS_PROXY (tollgate honours it); a private \
         CA, `--ca FILE`"
    )]
    Fetch { url: String, cause: String },
    #[error("{url} answered HTTP {status}; expected the AWS Price List there (see `--from`)")]
    Status { url: String, status: u16 },
    #[error(
        "{url} is not what the AWS Price List serves there ({what}): AWS may have changed its \
         format; update tollgate, or report it"
    )]
    Shape { url: String, what: String },
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("cannot set up HTTPS: {0}")]
    Tls(String),
}

/// Where the Price List is read from.
pub enum Source {
    /// A server: AWS's (the default) or an HTTP(S) mirror.
    Http {
        base: String,
        client: reqwest::Client,
    },
    /// A directory holding the same paths (`DIR/offers/v1.0/aws/index.json`, ...), for
    /// air-gapped machines.
    Dir(PathBuf),
}

impl Source {
    /// A server at `base`, trusted through `roots` (the system's plus any `--ca`). HTTPS_PROXY
    /// and NO_PROXY are honoured.
    pub fn http(base: &str, roots: Arc<rustls::RootCertStore>) -> Result<Self, UpdateError> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|error| UpdateError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            // Between bytes, not for the whole file: a slow link still finishes.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| UpdateError::Tls(error.to_string()))?;
        Ok(Self::Http {
            base: base.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// Where `path` is, as shown in messages.
    fn shown(&self, path: &str) -> String {
        match self {
            Self::Http { base, .. } => format!("{base}{path}"),
            Self::Dir(dir) => dir.join(path.trim_start_matches('/')).display().to_string(),
        }
    }
}

/// What to fetch: offer codes (`AmazonS3`) and region codes (`eu-west-1`).
#[derive(Debug, Clone)]
pub struct Wanted {
    pub offers: Vec<String>,
    pub regions: Vec<String>,
}

/// One regional offer file, ready to import.
#[derive(Debug, Clone)]
pub struct OfferFile {
    pub offer: String,
    pub region: String,
    /// Its path on the Price List (`/offers/v1.0/aws/AmazonS3/20260701000000/eu-west-1/index.json`).
    pub url_path: String,
    pub file: PathBuf,
    pub origin: FileOrigin,
    pub bytes: u64,
}

/// Where an update found an offer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrigin {
    /// Downloaded now.
    Fetched,
    /// This version was in the cache already: not fetched again.
    Cached,
    /// Read from a mirror directory (`--from DIR`).
    Mirror,
}

impl FileOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetched => "fetched",
            Self::Cached => "unchanged",
            Self::Mirror => "read",
        }
    }
}

/// What an update found.
#[derive(Debug, Default)]
pub struct Fetched {
    pub files: Vec<OfferFile>,
    /// (offer, region) pairs the Price List has no file for: the service is not offered there.
    pub not_offered: Vec<(String, String)>,
    /// Offers the index does not list.
    pub unknown_offers: Vec<String>,
    /// Bytes downloaded, indexes included.
    pub downloaded: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferIndex {
    offers: BTreeMap<String, OfferIndexEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfferIndexEntry {
    current_region_index_url: String,
}

#[derive(Deserialize)]
struct RegionIndex {
    regions: BTreeMap<String, RegionIndexEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegionIndexEntry {
    current_version_url: String,
}

/// Fetches (or finds in `cache`) the offer file of every wanted offer in every wanted region.
pub async fn fetch(source: &Source, cache: &Path, wanted: &Wanted) -> Result<Fetched, UpdateError> {
    let mut fetched = Fetched::default();
    let (index, bytes) = get_index::<OfferIndex>(source, cache, OFFER_INDEX).await?;
    fetched.downloaded += bytes;
    for offer in &wanted.offers {
        let Some(entry) = index.offers.get(offer) else {
            fetched.unknown_offers.push(offer.clone());
            continue;
        };
        let path = checked_path(source, &entry.current_region_index_url)?;
        let (regions, bytes) = get_index::<RegionIndex>(source, cache, &path).await?;
        fetched.downloaded += bytes;
        for region in &wanted.regions {
            let Some(entry) = regions.regions.get(region) else {
                fetched.not_offered.push((offer.clone(), region.clone()));
                continue;
            };
            let url_path = checked_path(source, &entry.current_version_url)?;
            let (file, origin, bytes) = get_offer_file(source, cache, &url_path).await?;
            if origin == FileOrigin::Fetched {
                fetched.downloaded += bytes;
            }
            fetched.files.push(OfferFile {
                offer: offer.clone(),
                region: region.clone(),
                url_path,
                file,
                origin,
                bytes,
            });
        }
    }
    Ok(fetched)
}

/// A path from an index: absolute on the Price List's host, no `..`.
fn checked_path(source: &Source, path: &str) -> Result<String, UpdateError> {
    if !path.starts_with("/offers/") || path.split('/').any(|part| part == "..") {
        return Err(UpdateError::Shape {
            url: source.shown(OFFER_INDEX),
            what: format!("an index names `{path}`, not a path under /offers/"),
        });
    }
    Ok(path.to_string())
}

/// Where a Price List path is cached.
fn cached(cache: &Path, path: &str) -> PathBuf {
    cache.join(path.trim_start_matches('/'))
}

/// An index (small, changes when AWS publishes), parsed; with the bytes downloaded for it (0 when
/// the server said it had not changed).
async fn get_index<T: for<'de> Deserialize<'de>>(
    source: &Source,
    cache: &Path,
    path: &str,
) -> Result<(T, u64), UpdateError> {
    let (file, bytes) = match source {
        Source::Dir(dir) => (dir.join(path.trim_start_matches('/')), 0),
        Source::Http { base, client } => {
            let file = cached(cache, path);
            let validators = file.with_extension("json.validators");
            let mut request = client.get(format!("{base}{path}"));
            if file.is_file() {
                if let Ok(text) = std::fs::read_to_string(&validators) {
                    for line in text.lines() {
                        if let Some((name, value)) = line.split_once(": ") {
                            request = request.header(name, value);
                        }
                    }
                }
            }
            let url = source.shown(path);
            let response = request
                .send()
                .await
                .map_err(|error| fetch_error(&url, &error))?;
            if response.status() == reqwest::StatusCode::NOT_MODIFIED {
                (file, 0)
            } else {
                let conditional = conditional_headers(response.headers());
                let bytes = download(response, &url, &file, None).await?;
                write_file(&validators, conditional.as_bytes())?;
                (file, bytes)
            }
        }
    };
    let shown = file.display().to_string();
    let text = std::fs::read(&file).map_err(|error| UpdateError::Read { path: shown, error })?;
    let parsed = serde_json::from_slice(&text).map_err(|error| UpdateError::Shape {
        url: source.shown(path),
        what: error.to_string(),
    })?;
    Ok((parsed, bytes))
}

/// An offer file: from the cache when this version is already there, else downloaded with a
/// progress bar. Returns (file, where it came from, its size).
async fn get_offer_file(
    source: &Source,
    cache: &Path,
    path: &str,
) -> Result<(PathBuf, FileOrigin, u64), UpdateError> {
    let (file, origin) = match source {
        Source::Dir(dir) => (dir.join(path.trim_start_matches('/')), FileOrigin::Mirror),
        Source::Http { base, client } => {
            let file = cached(cache, path);
            if file.is_file() {
                (file, FileOrigin::Cached)
            } else {
                let url = source.shown(path);
                let response = client
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .map_err(|error| fetch_error(&url, &error))?;
                let bar = progress_bar(response.content_length(), path);
                download(response, &url, &file, Some(&bar)).await?;
                bar.finish_and_clear();
                (file, FileOrigin::Fetched)
            }
        }
    };
    let bytes = std::fs::metadata(&file)
        .map_err(|error| UpdateError::Read {
            path: file.display().to_string(),
            error,
        })?
        .len();
    Ok((file, origin, bytes))
}

/// Forgets a cached offer file (one the import refused), so the next update fetches it again. A
/// mirror's files are not tollgate's to delete.
pub fn forget(file: &OfferFile) {
    if file.origin != FileOrigin::Mirror {
        let _ = std::fs::remove_file(&file.file);
    }
}

fn fetch_error(url: &str, error: &reqwest::Error) -> UpdateError {
    // reqwest's own message is "error sending request for url (...)"; its causes say why.
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(error) = source {
        cause = error.to_string();
        source = error.source();
    }
    if cause.is_empty() {
        cause = error.to_string();
    }
    UpdateError::Fetch {
        url: url.to_string(),
        cause,
    }
}

/// The validators to send next time: `If-None-Match` from the ETag, `If-Modified-Since` from
/// Last-Modified, one `name: value` per line.
fn conditional_headers(headers: &reqwest::header::HeaderMap) -> String {
    let mut out = String::new();
    for (have, send) in [
        ("etag", "If-None-Match"),
        ("last-modified", "If-Modified-Since"),
    ] {
        if let Some(value) = headers.get(have).and_then(|v| v.to_str().ok()) {
            out.push_str(&format!("{send}: {value}\n"));
        }
    }
    out
}

fn progress_bar(length: Option<u64>, path: &str) -> ProgressBar {
    // Hidden by itself when stderr is not a terminal (CI logs stay clean).
    let bar = ProgressBar::with_draw_target(length, indicatif::ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let name: Vec<&str> = path.split('/').collect();
    // `/offers/v1.0/aws/AmazonS3/<version>/eu-west-1/index.json` → `AmazonS3 eu-west-1`.
    let shown = match name.as_slice() {
        [.., offer, _version, region, _file] => format!("{offer} {region}"),
        _ => path.to_string(),
    };
    bar.set_message(shown);
    bar
}

/// Streams a 200 answer's body into `file` (through a temporary file, renamed when complete, so a
/// cut transfer leaves nothing behind). Returns its size.
async fn download(
    mut response: reqwest::Response,
    url: &str,
    file: &Path,
    bar: Option<&ProgressBar>,
) -> Result<u64, UpdateError> {
    let status = response.status();
    if !status.is_success() {
        return Err(UpdateError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let write_error = |error| UpdateError::Write {
        path: file.display().to_string(),
        error,
    };
    let dir = file.parent().expect("a cached path has a directory");
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let partial = dir.join(format!(
        ".{}.partial-{}",
        file.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    // Read before the body: what reqwest knows of the length shrinks as the body is read.
    let expected = response.content_length();
    let result = async {
        let mut out = std::fs::File::create(&partial).map_err(write_error)?;
        let mut bytes = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| fetch_error(url, &error))?
        {
            out.write_all(&chunk).map_err(write_error)?;
            bytes += chunk.len() as u64;
            if let Some(bar) = bar {
                bar.inc(chunk.len() as u64);
            }
        }
        if let Some(expected) = expected.filter(|&n| n != bytes) {
            return Err(UpdateError::Fetch {
                url: url.to_string(),
                cause: format!("the transfer ended after {bytes} of {expected} bytes"),
            });
        }
        out.sync_all().map_err(write_error)?;
        std::fs::rename(&partial, file).map_err(write_error)?;
        Ok(bytes)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), UpdateError> {
    std::fs::write(path, contents).map_err(|error| UpdateError::Write {
        path: path.display().to_string(),
        error,
    })
}
