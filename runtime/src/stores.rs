//! Tables in object stores: `s3://BUCKET/KEY` (Amazon S3 and S3-compatible servers) and
//! `gs://BUCKET/KEY` (Google Cloud Storage) paths, through DataFusion's `object_store`.
//!
//! Every session segql makes (the engine's, the probe's, a Ballista scheduler's and
//! executors') resolves URLs with one registry per process ([`registry`]): a bucket's store
//! is made from the process's environment the first time a URL names it (`AWS_*` or
//! `GOOGLE_*` variables, as `object_store`'s `from_env` builders read them) and kept. So the
//! client, the scheduler and every executor each read the data with their own credentials.
//!
//! A table's files are found here (a key, a "directory" of keys, or a glob over keys, as
//! local paths are) and named by their URLs; the readers of headers and Parquet footers that
//! local files are read with directly take their bytes from here.

use crate::error::RuntimeError;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use url::Url;

/// The URL schemes segql reads tables from.
pub const SCHEMES: [&str; 2] = ["s3", "gs"];

/// How often a failed request to an object store is tried again (after the first try), and
/// for how long at most: an unreachable endpoint or credential server fails in seconds.
pub const MAX_RETRIES: usize = 3;

/// The longest a request and its retries take together.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// The bytes read from the end of a Parquet file first (its footer; more when it is larger).
const FOOTER_GUESS: u64 = 64 * 1024;

/// The bytes read from the start of a CSV file for its header line (more when it is longer).
const HEADER_GUESS: u64 = 64 * 1024;

/// Whether a configured path is an object-store URL (`SCHEME://...` with any scheme: one
/// segql does not read is refused by [`parse`], never taken for a local path).
pub fn is_url(path: &str) -> bool {
    path.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// A configured URL: its store's root (`s3://BUCKET`) and the key or pattern after it.
#[derive(Debug, Clone)]
pub struct StoreUrl {
    /// `s3` or `gs`.
    pub scheme: String,
    /// The bucket.
    pub bucket: String,
    /// The key (or glob over keys) after the bucket, without a leading `/`.
    pub key: String,
}

impl StoreUrl {
    /// The store's root URL, `SCHEME://BUCKET`.
    pub fn root(&self) -> Url {
        // `parse` checked that it parses.
        Url::parse(&format!("{}://{}", self.scheme, self.bucket)).expect("a valid bucket URL")
    }

    /// The URL of the object at `key` in the same bucket.
    pub fn object(&self, key: &Key) -> String {
        format!("{}://{}/{}", self.scheme, self.bucket, key.as_ref())
    }
}

/// Splits `text` into its scheme, bucket and key; `Err` says what is wrong.
pub fn parse(text: &str) -> Result<StoreUrl, String> {
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let scheme = scheme.to_ascii_lowercase();
    if !SCHEMES.contains(&scheme.as_str()) {
        return Err(format!(
            "segql reads tables from local paths, s3:// and gs:// URLs, not `{scheme}://`"
        ));
    }
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!(
            "`{text}` names no bucket: give it like {scheme}://BUCKET/KEY"
        ));
    }
    if let Err(e) = Url::parse(&format!("{scheme}://{bucket}")) {
        return Err(format!("`{bucket}` is not a bucket name ({e})"));
    }
    Ok(StoreUrl {
        scheme,
        bucket: bucket.to_string(),
        key: key.trim_start_matches('/').to_string(),
    })
}

/// DataFusion's registry of object stores, which makes the store of an `s3://` or `gs://`
/// bucket from the environment when a URL first names it.
#[derive(Debug, Default)]
pub struct ObjectStores {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        if !SCHEMES.contains(&url.scheme()) {
            return self.known.get_store(url);
        }
        let bucket = url.host_str().unwrap_or_default();
        let store = from_env(url.scheme(), bucket)
            .map_err(|e| datafusion::error::DataFusionError::ObjectStore(Box::new(e)))?;
        let root = Url::parse(&format!("{}://{bucket}", url.scheme()))
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        self.known.register_store(&root, store.clone());
        Ok(store)
    }
}

/// The store of `bucket` for `scheme`, configured from this process's environment.
fn from_env(scheme: &str, bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    let retry = RetryConfig {
        max_retries: MAX_RETRIES,
        retry_timeout: RETRY_TIMEOUT,
        ..RetryConfig::default()
    };
    Ok(match scheme {
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .build()?,
        ),
        _ => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .build()?,
        ),
    })
}

static REGISTRY: LazyLock<Arc<ObjectStores>> = LazyLock::new(Default::default);

/// This process's registry: every session shares its stores.
pub fn registry() -> Arc<ObjectStores> {
    REGISTRY.clone()
}

/// A runtime environment resolving URLs with [`registry`] (DataFusion's defaults otherwise).
pub fn runtime_env() -> Arc<RuntimeEnv> {
    RuntimeEnvBuilder::new()
        .with_object_store_registry(registry())
        .build_arc()
        .expect("a runtime environment without limits builds")
}

/// What to check when an object store cannot be read, for `scheme`.
fn help(scheme: &str) -> String {
    match scheme {
        "gs" => "gs:// is read with the GOOGLE_* environment variables: GOOGLE_SERVICE_ACCOUNT \
                 (or GOOGLE_APPLICATION_CREDENTIALS: a service account's key file) or the \
                 machine's own account on Google Cloud; check the bucket's name and that every \
                 process reading it (the executors too) has them"
            .into(),
        _ => "s3:// is read with the AWS_* environment variables: AWS_ACCESS_KEY_ID and \
              AWS_SECRET_ACCESS_KEY (or the machine's role), AWS_REGION, and AWS_ENDPOINT_URL \
              for another S3-compatible server (AWS_ALLOW_HTTP=true for http://); check the \
              bucket's name and that every process reading it (the executors too) has them"
            .into(),
    }
}

/// The error for `path` of `table` that its store failed to answer.
fn failed(table: &str, path: &str, scheme: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::ObjectStore {
        table: table.into(),
        path: path.into(),
        reason: tidy(&e.to_string()),
        help: help(scheme),
    }
}

/// A store's error with the XML document of its answer (S3's and GCS's) cut down to the
/// error's code and message (`NoSuchBucket: The specified bucket does not exist`), and
/// without how long the request took (` in 153.039365ms`).
fn tidy(reason: &str) -> String {
    let reason = &without_durations(reason);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = reason.find(&open)? + open.len();
        let end = reason[start..].find(&format!("</{name}>"))? + start;
        Some(reason[start..end].trim().to_string())
    };
    let Some(at) = reason.find("<?xml").or_else(|| reason.find("<Error>")) else {
        return reason.to_string();
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{}{code}: {message}", &reason[..at]),
        (Some(code), None) => format!("{}{code}", &reason[..at]),
        _ => reason.to_string(),
    }
}

/// `text` without ` in DURATION` (`in 610.676508ms`, `in 2.5s`).
fn without_durations(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(" in ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        let digits = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        let unit = ["ns", "µs", "ms", "s"]
            .into_iter()
            .find(|u| after[digits..].starts_with(u));
        match unit {
            Some(u) if digits > 0 => rest = &after[digits + u.len()..],
            _ => {
                out.push_str(" in ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The store holding `url` (a bucket's URL) and the key.
fn store_of(table: &str, path: &str, url: &StoreUrl) -> Result<Arc<dyn ObjectStore>, RuntimeError> {
    registry()
        .get_store(&url.root())
        .map_err(|e| failed(table, path, &url.scheme, e))
}

/// An object in a store, found by [`list`].
#[derive(Debug, Clone)]
pub struct Object {
    /// Its URL.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The objects a configured `path` names, sorted by URL, as a local path names files: the
/// object at the key; else the objects directly under it (`s3://b/data` or `s3://b/data/`)
/// whose names say a format segql reads; or, when the key has `*`, `?` or `[`, the keys the
/// glob matches (`*` within one level, `**` across levels). `Err` for a URL segql does not
/// read and a store that does not answer; no objects is `Ok` (empty).
pub async fn list(table: &str, path: &str) -> Result<Vec<Object>, RuntimeError> {
    let url = parse(path).map_err(|message| RuntimeError::Usage {
        message: format!("the {table} path `{path}`: {message}"),
        help: Some(
            "give a local path (a file, a directory or a glob), or an s3:// or gs:// URL of one"
                .into(),
        ),
    })?;
    let store = store_of(table, path, &url)?;
    let fail = |e: object_store::Error| failed(table, path, &url.scheme, e);
    let mut found = Vec::new();
    if let Some(at) = url.key.find(['*', '?', '[']) {
        // A glob: list below the directory before its first pattern, keep what matches.
        let dir = url.key[..at].rfind('/').map_or("", |i| &url.key[..i]);
        let pattern = glob::Pattern::new(&url.key).map_err(|e| RuntimeError::Usage {
            message: format!("invalid glob `{path}`: {e}"),
            help: None,
        })?;
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let prefix = (!dir.is_empty()).then(|| Key::from(dir));
        let objects: Vec<_> = store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(fail)?;
        for o in objects {
            if pattern.matches_with(o.location.as_ref(), options) {
                found.push((o.location, o.size));
            }
        }
    } else {
        let key = url.key.trim_end_matches('/');
        let mut is_object = false;
        if !key.is_empty() && !url.key.ends_with('/') {
            match store.head(&Key::from(key)).await {
                Ok(o) => {
                    found.push((o.location, o.size));
                    is_object = true;
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(fail(e)),
            }
        }
        if !is_object {
            // A "directory": the objects directly under the key, of a format segql reads.
            let prefix = (!key.is_empty()).then(|| Key::from(key));
            let listed = store
                .list_with_delimiter(prefix.as_ref())
                .await
                .map_err(fail)?;
            for o in listed.objects {
                let name = o.location.filename().unwrap_or_default();
                if crate::sources::discovery::format_of(std::path::Path::new(name)).is_some() {
                    found.push((o.location, o.size));
                }
            }
        }
    }
    let mut objects: Vec<Object> = found
        .into_iter()
        .map(|(key, size)| Object {
            url: url.object(&key),
            size,
        })
        .collect();
    objects.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(objects)
}

/// The store and key of an object's URL (one [`list`] returned).
fn object_of(url: &str) -> Result<(Arc<dyn ObjectStore>, Key, StoreUrl), RuntimeError> {
    let u = parse(url).map_err(|message| RuntimeError::Usage {
        message,
        help: None,
    })?;
    let store = store_of("", url, &u)?;
    let key = Key::from(u.key.as_str());
    Ok((store, key, u))
}

/// The `RuntimeError::Io` for the object at `url`.
fn io(url: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Io {
        path: url.into(),
        reason: e.to_string(),
    }
}

/// The whole object at `url` (a file of a table, read whole only to explain a failed read or
/// to count a CSV file's records).
pub async fn read_all(url: &str) -> Result<Vec<u8>, RuntimeError> {
    let (store, key, _) = object_of(url)?;
    let got = store.get(&key).await.map_err(|e| io(url, e))?;
    got.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| io(url, e))
}

/// The start of the object at `url` up to and including its first line end (or all of it).
pub async fn read_first_line(url: &str) -> Result<Vec<u8>, RuntimeError> {
    let (store, key, _) = object_of(url)?;
    let size = store.head(&key).await.map_err(|e| io(url, e))?.size;
    let mut want = HEADER_GUESS.min(size);
    loop {
        let bytes = store
            .get_range(&key, 0..want)
            .await
            .map_err(|e| io(url, e))?;
        if want == size || bytes.contains(&b'\n') {
            return Ok(bytes.to_vec());
        }
        want = (want * 4).min(size);
    }
}

/// The footer metadata of the Parquet object at `url`, from ranges read off its end.
pub async fn parquet_metadata(
    url: &str,
) -> Result<datafusion::parquet::file::metadata::ParquetMetaData, RuntimeError> {
    use datafusion::parquet::errors::ParquetError;
    use datafusion::parquet::file::metadata::ParquetMetaDataReader;
    let (store, key, _) = object_of(url)?;
    let size = store.head(&key).await.map_err(|e| io(url, e))?.size;
    let mut want = FOOTER_GUESS.min(size);
    loop {
        let tail = store
            .get_range(&key, size - want..size)
            .await
            .map_err(|e| io(url, e))?;
        let mut reader = ParquetMetaDataReader::new();
        match reader.try_parse_sized(&tail, size) {
            Ok(()) => return reader.finish().map_err(|e| io(url, e)),
            Err(ParquetError::NeedMoreData(n)) if (n as u64) > want && (n as u64) <= size => {
                want = n as u64;
            }
            Err(e) => return Err(io(url, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths_and_split() {
        assert!(is_url("s3://bucket/data/*.parquet"));
        assert!(is_url("gs://bucket"));
        assert!(is_url("az://container/x.csv"));
        assert!(!is_url("data/*.parquet"));
        assert!(!is_url("/abs/path.csv"));
        assert!(!is_url("C:\\data\\x.csv"));
        let u = parse("s3://b/data/x.csv").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.bucket.as_str(), u.key.as_str()),
            ("s3", "b", "data/x.csv")
        );
        assert_eq!(u.root().as_str(), "s3://b");
        assert!(parse("az://c/x.csv").unwrap_err().contains("not `az://`"));
        assert!(
            parse("s3://my bucket/x.csv")
                .unwrap_err()
                .contains("`my bucket` is not a bucket name")
        );
        assert!(
            parse("s3:///x.csv")
                .unwrap_err()
                .contains("names no bucket")
        );
    }

    #[test]
    fn a_stores_xml_answer_is_cut_to_its_code_and_message() {
        let answer = "list request: 404 Not Found: <?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><RequestId>X</RequestId></Error>";
        assert_eq!(
            tidy(answer),
            "list request: 404 Not Found: NoSuchBucket: The specified bucket does not exist"
        );
        assert_eq!(tidy("no connection"), "no connection");
        assert_eq!(
            tidy("GET http://h/b in 610.676508ms, after 3 retries in 2s - refused in the end"),
            "GET http://h/b, after 3 retries - refused in the end"
        );
    }
}
