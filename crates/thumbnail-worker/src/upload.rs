//! `thumbnail-worker upload`: puts files into the source bucket.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use thumbnail_config::Settings;
use thumbnail_parts::Parts;
use thumbnail_storage::{ObjectKey, PutOptions};

/// How files are uploaded.
#[derive(Clone, Debug, Default)]
pub struct UploadOptions {
    /// Key prefix: keys are `prefix/` plus the file name.
    pub prefix: Option<String>,
    /// The uploader, stored as the objects' `owner` metadata.
    pub owner: Option<String>,
}

/// Puts files into the source bucket (the local folder, or S3, whose notification then announces
/// them); returns how many.
pub async fn upload(
    settings: Settings,
    files: &[PathBuf],
    options: &UploadOptions,
) -> Result<usize> {
    let parts = Parts::connect_for_uploads(settings).await?;
    let source = parts.bucket(&parts.settings().source_bucket)?;
    let mut count = 0;
    for file in files {
        let name = file_name(file)?;
        let key = match options
            .prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
        {
            Some(prefix) => format!("{prefix}/{name}"),
            None => name,
        };
        let key = ObjectKey::new(key)?;
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let content_type = thumbnail_core::ImageFormat::detect(&bytes)
            .map_or("application/octet-stream".to_owned(), |f| {
                format!("image/{f}")
            });
        let mut put = PutOptions::new(content_type);
        if let Some(owner) = &options.owner {
            put = put.with_metadata(thumbnail_pipeline::OWNER_METADATA, owner);
        }
        source.put(&key, bytes, &put).await?;
        println!("{} -> {}/{key}", file.display(), source.name());
        count += 1;
    }
    Ok(count)
}

fn file_name(file: &Path) -> Result<String> {
    Ok(file
        .file_name()
        .with_context(|| format!("{} has no file name", file.display()))?
        .to_string_lossy()
        .into_owned())
}
