//! Who uploaded an image: read from where applications already put it, so that notifications go
//! to that person only (an SNS subscription filter policy on the `owner` attribute) and not to
//! every subscriber of the topic.
//!
//! ```
//! use std::collections::BTreeMap;
//! use thumbnail_pipeline::OwnerRules;
//!
//! let rules: OwnerRules = "metadata,users/{owner}/".parse()?;
//! // The object's user metadata (`x-amz-meta-owner`) comes first...
//! let metadata = BTreeMap::from([("owner".to_owned(), "bob".to_owned())]);
//! assert_eq!(rules.owner("users/alice/cat.jpg", Some(&metadata)).as_deref(), Some("bob"));
//! // ...then the key.
//! assert_eq!(rules.owner("users/alice/cat.jpg", None).as_deref(), Some("alice"));
//! assert_eq!(rules.owner("cat.jpg", None), None);
//! # Ok::<(), String>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The user metadata key naming an upload's owner (`x-amz-meta-owner` on S3).
pub const OWNER_METADATA: &str = "owner";

/// The longest owner, in bytes.
pub const MAX_OWNER_BYTES: usize = 128;

/// One place an owner is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OwnerSource {
    /// The object's user metadata, [`OWNER_METADATA`].
    Metadata,
    /// A key pattern with one `{owner}`: `users/{owner}/` takes `alice` from `users/alice/cat.jpg`.
    Key { before: String, after: String },
}

/// Where owners are read from, in order: the first that gives a valid owner wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRules(Vec<OwnerSource>);

impl Default for OwnerRules {
    /// The object's user metadata only.
    fn default() -> Self {
        OwnerRules(vec![OwnerSource::Metadata])
    }
}

impl FromStr for OwnerRules {
    type Err = String;

    /// Comma-separated: `metadata`, and key patterns with one `{owner}` (`users/{owner}/`), in the
    /// order they are tried; `none` for no owners.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut sources = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "none" {
                continue;
            }
            if item == "metadata" {
                sources.push(OwnerSource::Metadata);
                continue;
            }
            let (before, after) = item.split_once("{owner}").ok_or_else(|| {
                format!("takes `metadata` or a key pattern with {{owner}}, like users/{{owner}}/, not {item:?}")
            })?;
            if after.contains("{owner}") || !(after.is_empty() || after.starts_with('/')) {
                return Err(format!(
                    "{item:?}: {{owner}} must appear once and stand for a whole key segment"
                ));
            }
            sources.push(OwnerSource::Key {
                before: before.to_owned(),
                after: after.to_owned(),
            });
        }
        Ok(OwnerRules(sources))
    }
}

impl fmt::Display for OwnerRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|source| match source {
                OwnerSource::Metadata => "metadata".to_owned(),
                OwnerSource::Key { before, after } => format!("{before}{{owner}}{after}"),
            })
            .collect();
        match items.is_empty() {
            true => f.write_str("none"),
            false => f.write_str(&items.join(",")),
        }
    }
}

impl OwnerRules {
    /// The owner of the object `key`, from its user `metadata` when read (else from the key
    /// alone). A value that breaks [`check_owner`] is refused with a warning, which does not name
    /// it (it may be anything), and the next source is tried.
    pub fn owner(&self, key: &str, metadata: Option<&BTreeMap<String, String>>) -> Option<String> {
        self.0.iter().find_map(|source| {
            let (value, from) = match source {
                OwnerSource::Metadata => (metadata?.get(OWNER_METADATA)?.as_str(), "metadata"),
                OwnerSource::Key { before, after } => {
                    let rest = key.strip_prefix(before.as_str())?;
                    let end = match after.as_str() {
                        "" => rest.find('/').unwrap_or(rest.len()),
                        after => rest.find(after)?,
                    };
                    (&rest[..end], "key")
                }
            };
            match check_owner(value) {
                Ok(()) => Some(value.to_owned()),
                Err(why) => {
                    tracing::warn!(from, "owner refused ({why}); the image is made without it");
                    None
                }
            }
        })
    }
}

/// An owner is 1 to [`MAX_OWNER_BYTES`] bytes of letters, digits and `. _ - @ + = :`: what user
/// ids, e-mail addresses and tenant names use, and nothing a filter policy, a log line or a key
/// could misread.
pub fn check_owner(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("empty".into());
    }
    if value.len() > MAX_OWNER_BYTES {
        return Err(format!(
            "{} bytes, more than {MAX_OWNER_BYTES}",
            value.len()
        ));
    }
    match value
        .chars()
        .find(|c| !(c.is_alphanumeric() || "._-@+=:".contains(*c)))
    {
        Some(c) if c.is_control() => Err("a control character".into()),
        Some(c) => Err(format!("the character {c:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print_back() {
        for text in ["metadata", "metadata,users/{owner}/", "{owner}/", "none"] {
            let rules: OwnerRules = text.parse().unwrap();
            assert_eq!(rules.to_string(), text);
        }
        assert!("users".parse::<OwnerRules>().is_err());
        assert!("users/{owner}-x/".parse::<OwnerRules>().is_err());
        assert!("{owner}/{owner}/".parse::<OwnerRules>().is_err());
    }

    #[test]
    fn key_patterns_take_one_segment() {
        let rules: OwnerRules = "users/{owner}/".parse().unwrap();
        assert_eq!(
            rules.owner("users/alice/a/b.jpg", None).as_deref(),
            Some("alice")
        );
        assert_eq!(rules.owner("users/alice.jpg", None), None);
        assert_eq!(rules.owner("people/alice/b.jpg", None), None);
        assert_eq!(rules.owner("users//b.jpg", None), None);
        let top: OwnerRules = "{owner}".parse().unwrap();
        assert_eq!(
            top.owner("tenant-7/x.jpg", None).as_deref(),
            Some("tenant-7")
        );
    }

    #[test]
    fn bad_owners_are_refused_and_the_next_source_tried() {
        let rules: OwnerRules = "metadata,users/{owner}/".parse().unwrap();
        for bad in [
            "x".repeat(10 << 10),
            "a\nb".into(),
            "a\u{0}".into(),
            "a b".into(),
            String::new(),
        ] {
            let metadata = BTreeMap::from([(OWNER_METADATA.to_owned(), bad.clone())]);
            assert!(check_owner(&bad).is_err(), "{bad:?}");
            assert_eq!(
                rules.owner("users/carol/x.jpg", Some(&metadata)).as_deref(),
                Some("carol")
            );
            assert_eq!(rules.owner("x.jpg", Some(&metadata)), None);
        }
        assert!(check_owner("alice@example.com").is_ok());
        assert!(check_owner("Zoë").is_ok());
    }
}
