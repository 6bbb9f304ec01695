//! `thumbnail-worker upload`: puts files into the source bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use thumbnail_config::Settings;
use thumbnail_parts::Parts;
use thumbnail_storage::{ObjectKey, PutOptions};

/// One file to upload, and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The file.
    pub file: PathBuf,
    /// Its key in the source bucket.
    pub key: ObjectKey,
}

/// The key of each file: `prefix/` plus its name. Two files that would get one key (`x/a.jpg`
/// and `y/a.jpg`) are refused before anything is uploaded: the second would silently replace
/// the first.
pub fn plan(files: &[PathBuf], prefix: Option<&str>) -> Result<Vec<Upload>> {
    let prefix = prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    let mut seen: BTreeMap<ObjectKey, &Path> = BTreeMap::new();
    files
        .iter()
        .map(|file| {
            let name = file_name(file)?;
            let key = ObjectKey::new(match prefix {
                Some(prefix) => format!("{prefix}/{name}"),
                None => name,
            })?;
            if let Some(first) = seen.insert(key.clone(), file) {
                bail!(
                    "{} and {} would both be uploaded as {key}, the second replacing the first: \
                     upload them with different --prefix values, or rename one",
                    first.display(),
                    file.display()
                );
            }
            Ok(Upload {
                file: file.clone(),
                key,
            })
        })
        .collect()
}

/// Puts files into the source bucket (the local folder, or S3, whose notification then announces
/// them) under their planned keys, with `owner` as their `owner` metadata; returns how many.
pub async fn upload(settings: Settings, uploads: &[Upload], owner: Option<&str>) -> Result<usize> {
    let parts = Parts::connect_for_uploads(settings).await?;
    let source = parts.bucket(&parts.settings().source_bucket)?;
    let mut count = 0;
    for Upload { file, key } in uploads {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let content_type = thumbnail_core::ImageFormat::detect(&bytes)
            .map_or("application/octet-stream".to_owned(), |f| {
                format!("image/{f}")
            });
        let mut put = PutOptions::new(content_type);
        if let Some(owner) = owner {
            put = put.with_metadata(thumbnail_pipeline::OWNER_METADATA, owner);
        }
        source.put(key, bytes, &put).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_keyed_by_name_under_the_prefix() {
        let files = [PathBuf::from("x/a.jpg"), PathBuf::from("y/b.png")];
        let keys: Vec<String> = plan(&files, Some("/albums/"))
            .unwrap()
            .into_iter()
            .map(|u| u.key.to_string())
            .collect();
        assert_eq!(keys, ["albums/a.jpg", "albums/b.png"]);
    }

    #[test]
    fn two_files_of_one_name_are_refused() {
        let files = [PathBuf::from("x/a.jpg"), PathBuf::from("y/a.jpg")];
        let refused = plan(&files, None).unwrap_err().to_string();
        assert!(
            refused.starts_with("x/a.jpg and y/a.jpg would both be uploaded as a.jpg"),
            "{refused}"
        );
    }
}
