//! S3, or any S3-compatible server (`AWS_ENDPOINT_URL`), through the official SDK.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use thumbnail_aws_errors::{Class, Failure, classify};

use crate::{
    ListPage, MAX_LIST_PAGE, MAX_PREVIEW_EXPIRY, Object, ObjectInfo, ObjectKey, ObjectStore,
    PutOptions, StorageError,
};

/// Settings of an [`S3Store`] beyond what the SDK's configuration chain gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`: needed by most
    /// S3-compatible servers (moto, MinIO, LocalStack on localhost).
    pub force_path_style: bool,
}

/// A bucket on S3.
///
/// Region, credentials, endpoint (`AWS_ENDPOINT_URL`) and retries come from the `SdkConfig` the
/// binary loads once (`aws_config::load_defaults`); nothing is hard-coded here.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    /// A store for `bucket` with the SDK configuration `config`.
    pub fn new(
        config: &aws_config::SdkConfig,
        bucket: impl Into<String>,
        options: S3Options,
    ) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(options.force_path_style)
            .build();
        S3Store::from_client(Client::from_conf(s3_config), bucket)
    }

    /// A store for `bucket` using an existing client.
    pub fn from_client(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
        }
    }

    /// The SDK client (e.g. to configure the bucket's notifications).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the bucket in the client's region, or does nothing when this account has it already.
    /// Outside `us-east-1`, S3 wants the region named again as the location constraint.
    pub async fn create_bucket(&self) -> Result<(), StorageError> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        if let Some(region) = self.client.config().region().map(|r| r.as_ref())
            && region != "us-east-1"
        {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(StorageError::Bucket {
                operation: "create_bucket",
                store: format!("s3://{}", self.bucket),
                message: classify(&e).to_string(),
            }),
        }
    }

    /// The error of `operation` on `key` (for a listing: its prefix).
    fn error(&self, operation: &'static str, key: &str, failure: Failure) -> StorageError {
        let (store, key) = (format!("s3://{}", self.bucket), key.to_owned());
        let message = failure.to_string();
        match failure.class {
            Class::NotFound => StorageError::NotFound { store, key },
            Class::AccessDenied => StorageError::AccessDenied {
                store,
                key,
                message,
            },
            Class::Transient => StorageError::Transient {
                operation,
                store,
                key,
                message,
            },
            Class::Permanent => StorageError::Permanent {
                operation,
                store,
                key,
                message,
            },
        }
    }
}

/// S3 quotes ETags; the other stores do not.
fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn metadata(map: Option<&HashMap<String, String>>) -> std::collections::BTreeMap<String, String> {
    map.map(|m| {
        m.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()
    })
    .unwrap_or_default()
}

impl S3Store {
    /// A PUT of `body`, `size` bytes.
    async fn send(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        size: u64,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let output = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .body(body)
            .content_length(size as i64)
            .set_content_type(options.content_type.clone())
            .set_cache_control(options.cache_control.clone())
            .set_metadata(Some(options.metadata.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| self.error("put", key.as_str(), classify(&e)))?;
        Ok(ObjectInfo {
            key: key.clone(),
            size,
            content_type: options.content_type.clone(),
            cache_control: options.cache_control.clone(),
            etag: unquote(output.e_tag()),
            version: output.version_id().map(str::to_owned),
            metadata: options.metadata.clone(),
        })
    }

    /// A GET, of `range` if given; refuses with [`StorageError::TooLarge`] a body of more than
    /// `max_bytes`, from the response headers, before reading it.
    async fn download(
        &self,
        key: &ObjectKey,
        range: Option<String>,
        max_bytes: u64,
    ) -> Result<Object, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_range(range)
            .send()
            .await
            .map_err(|e| self.error("get", key.as_str(), classify(&e)))?;
        let too_large = |size| StorageError::TooLarge {
            store: format!("s3://{}", self.bucket),
            key: key.to_string(),
            size,
            limit: max_bytes,
        };
        // Refused from the header when it gives the length; a response without one (chunked, as
        // some S3-compatible servers and proxies send) is counted as it arrives instead.
        let length = output.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(length) = length.filter(|&length| length > max_bytes) {
            return Err(too_large(length));
        }
        let mut info = ObjectInfo {
            key: key.clone(),
            size: 0,
            content_type: output.content_type().map(str::to_owned),
            cache_control: output.cache_control().map(str::to_owned),
            etag: unquote(output.e_tag()),
            version: output.version_id().map(str::to_owned),
            metadata: metadata(output.metadata()),
        };
        // A ranged answer names the whole size after the slash: `bytes 0-1023/52133`.
        let whole = output
            .content_range()
            .and_then(|r| r.rsplit_once('/')?.1.parse().ok());
        let broke_off = |e: &dyn std::fmt::Display| StorageError::Transient {
            operation: "get",
            store: format!("s3://{}", self.bucket),
            key: key.to_string(),
            message: format!("the download broke off: {e}"),
        };
        let mut body = output.body;
        let mut bytes = Vec::with_capacity(length.unwrap_or(0).min(max_bytes) as usize);
        while let Some(chunk) = body.try_next().await.map_err(|e| broke_off(&e))? {
            let read = bytes.len() as u64 + chunk.len() as u64;
            if read > max_bytes {
                return Err(too_large(read));
            }
            bytes.extend_from_slice(&chunk);
        }
        info.size = whole.or(length).unwrap_or(bytes.len() as u64);
        Ok(Object { info, bytes })
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn name(&self) -> &str {
        &self.bucket
    }

    async fn get(&self, key: &ObjectKey, max_bytes: u64) -> Result<Object, StorageError> {
        self.download(key, None, max_bytes).await
    }

    async fn get_prefix(&self, key: &ObjectKey, len: u64) -> Result<Object, StorageError> {
        let range = format!("bytes=0-{}", len.max(1) - 1);
        match self.download(key, Some(range), u64::MAX).await {
            // An empty object has no byte 0: S3 answers 416.
            Err(StorageError::Permanent { .. })
                if self.head(key).await?.is_some_and(|i| i.size == 0) =>
            {
                self.download(key, None, 0).await
            }
            result => result,
        }
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, StorageError> {
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(e) => {
                let failure = classify(&e);
                return match failure.class {
                    Class::NotFound => Ok(None),
                    _ => Err(self.error("head", key.as_str(), failure)),
                };
            }
        };
        Ok(Some(ObjectInfo {
            key: key.clone(),
            size: output.content_length().unwrap_or(0).max(0) as u64,
            content_type: output.content_type().map(str::to_owned),
            cache_control: output.cache_control().map(str::to_owned),
            etag: unquote(output.e_tag()),
            version: output.version_id().map(str::to_owned),
            metadata: metadata(output.metadata()),
        }))
    }

    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        let size = bytes.len() as u64;
        self.send(key, ByteStream::from(bytes), size, options).await
    }

    async fn put_file(
        &self,
        key: &ObjectKey,
        mut file: std::fs::File,
        options: &PutOptions,
    ) -> Result<ObjectInfo, StorageError> {
        use std::io::Seek;
        let unreadable = |e: &dyn std::fmt::Display| StorageError::Permanent {
            operation: "read the file for",
            store: self.bucket.clone(),
            key: key.to_string(),
            message: e.to_string(),
        };
        let size = file
            .rewind()
            .and_then(|()| file.metadata())
            .map_err(|e| unreadable(&e))?
            .len();
        // Read in chunks as it is sent, never whole.
        let body = ByteStream::read_from()
            .file(tokio::fs::File::from_std(file))
            .length(aws_sdk_s3::primitives::Length::Exact(size))
            .build()
            .await
            .map_err(|e| unreadable(&e))?;
        self.send(key, body, size, options).await
    }

    async fn preview_url(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let presigning =
            PresigningConfig::expires_in(expires_in.min(MAX_PREVIEW_EXPIRY)).map_err(|e| {
                StorageError::Permanent {
                    operation: "preview_url",
                    store: format!("s3://{}", self.bucket),
                    key: key.to_string(),
                    message: e.to_string(),
                }
            })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning)
            .await
            .map_err(|e| self.error("preview_url", key.as_str(), classify(&e)))?;
        Ok(request.uri().to_owned())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StorageError> {
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(limit.clamp(1, MAX_LIST_PAGE) as i32)
            .send()
            .await
            .map_err(|e| self.error("list", prefix, classify(&e)))?;
        let mut page = ListPage::default();
        for object in output.contents() {
            let key = object.key().unwrap_or_default().to_owned();
            let size = object.size().unwrap_or(0).max(0) as u64;
            page.push(key, size, unquote(object.e_tag()));
        }
        if output.is_truncated() == Some(true) {
            page.next = output
                .contents()
                .last()
                .and_then(|o| o.key())
                .map(str::to_owned);
        }
        Ok(page)
    }
}
