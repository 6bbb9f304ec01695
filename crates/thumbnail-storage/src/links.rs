//! Preview links that work without S3: `http://` URLs, signed like S3 presigned URLs, that the
//! worker's console serves from the thumbnail bucket.
//!
//! A link is `BASE/files/KEY?expires=UNIX_SECONDS&signature=HEX`, the signature being
//! HMAC-SHA256, under a secret kept in the local data folder, over the key and the expiry. Anyone
//! holding the link can open it until it expires; changing the key or the expiry invalidates it;
//! nobody without the secret can make one.
//!
//! The secret file may hold several secrets, 32 bytes each: the first signs, every one verifies.
//! To rotate, put a new secret in front and drop the old one once its last links have expired.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ObjectKey;

/// The secret's length in bytes.
const SECRET_BYTES: usize = 32;

/// The path, under the base URL, that signed links live in.
pub const FILES_PATH: &str = "/files/";

/// Why a link is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    /// Its expiry has passed.
    #[error("the link expired")]
    Expired,
    /// The signature does not match the key and expiry: altered, or made with another secret.
    #[error("the link's signature does not match")]
    BadSignature,
}

/// Why the secret could not be read or created.
#[derive(Debug, thiserror::Error)]
#[error("link secret {path}: {source}")]
pub struct SecretError {
    path: String,
    source: std::io::Error,
}

impl SecretError {
    /// The secret at (or under) `path` failed as `source` says.
    pub fn new(path: &Path, source: std::io::Error) -> Self {
        SecretError {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Signs and checks preview links.
#[derive(Clone)]
pub struct LinkSigner {
    base: String,
    /// The first signs; every one verifies (the others are those being rotated out).
    secrets: Vec<[u8; SECRET_BYTES]>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("LinkSigner")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LinkSigner {
    /// Links under `base` (e.g. `http://127.0.0.1:8080`), signed with the secrets in the file
    /// `secret`, which is created (32 random bytes, readable by its owner only) if missing. Every
    /// process sharing the data folder signs alike, so any of them can serve any link.
    pub fn load_or_create(base: &str, secret: &Path) -> Result<Self, SecretError> {
        let failed = |source| SecretError::new(secret, source);
        let mut bytes = [0u8; SECRET_BYTES];
        let mut secrets = Vec::new();
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(secret)
        {
            Ok(mut file) => {
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut random| random.read_exact(&mut bytes))
                    .map_err(failed)?;
                file.write_all(&bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(failed)?;
                secrets.push(bytes);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Another process may be writing it this instant: a short file is read again.
                for attempt in 0.. {
                    let read = std::fs::read(secret).map_err(failed)?;
                    if !read.is_empty() && read.len() % SECRET_BYTES == 0 {
                        secrets = read
                            .chunks_exact(SECRET_BYTES)
                            .map(|chunk| chunk.try_into().expect("whole chunks"))
                            .collect();
                        break;
                    }
                    if attempt == 50 {
                        return Err(failed(std::io::Error::new(
                            ErrorKind::InvalidData,
                            format!("expected {SECRET_BYTES} bytes, or a multiple of them"),
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Err(e) => return Err(failed(e)),
        }
        let mut signer = LinkSigner::new(base, secrets[0]);
        signer.secrets = secrets;
        Ok(signer)
    }

    /// Links under `base` signed with `secret`.
    pub fn new(base: &str, secret: [u8; SECRET_BYTES]) -> Self {
        LinkSigner {
            base: base.trim_end_matches('/').to_owned(),
            secrets: vec![secret],
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A link to `key` valid for `expires_in` from now.
    pub fn sign(&self, key: &ObjectKey, expires_in: Duration) -> String {
        let expires = (SystemTime::now() + expires_in)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path: String = key
            .segments()
            .map(|segment| {
                url::form_urlencoded::byte_serialize(segment.as_bytes())
                    .collect::<String>()
                    // form encoding writes a space as '+'; a path wants %20.
                    .replace('+', "%20")
            })
            .collect::<Vec<_>>()
            .join("/");
        format!(
            "{}{FILES_PATH}{path}?expires={expires}&signature={}",
            self.base,
            hex::encode(
                mac(&self.secrets[0], key.as_str(), expires)
                    .finalize()
                    .into_bytes()
            )
        )
    }

    /// Checks a link's key (decoded), expiry and signature (hex), at `now`.
    pub fn verify(
        &self,
        key: &str,
        expires: u64,
        signature: &str,
        now: SystemTime,
    ) -> Result<(), LinkError> {
        let signature = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        // Checked before the expiry, so that an altered expiry reads as altered.
        let signed = self
            .secrets
            .iter()
            .any(|secret| mac(secret, key, expires).verify_slice(&signature).is_ok());
        if !signed {
            return Err(LinkError::BadSignature);
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// The MAC of a link to `key` expiring at `expires`, under `secret`.
fn mac(secret: &[u8], key: &str, expires: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    // The key's length first, so no key and expiry pair reads as another.
    mac.update(&(key.len() as u64).to_be_bytes());
    mac.update(key.as_bytes());
    mac.update(&expires.to_be_bytes());
    mac
}

/// The permission bits of `path` that let users other than its owner in (`None`: none do). Others
/// who can read the secret or the data folder can read links; who can write them, forge links.
pub fn shared_permissions(path: &Path) -> std::io::Result<Option<u32>> {
    let shared = std::fs::metadata(path)?.permissions().mode() & 0o077;
    Ok((shared != 0).then_some(shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of a link: decoded key, expiry, signature.
    fn parts(link: &str) -> (String, u64, String) {
        let url = url::Url::parse(link).unwrap();
        let key = url.path().strip_prefix(FILES_PATH).unwrap();
        let key = percent_decode(key);
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        (
            key,
            query["expires"].parse().unwrap(),
            query["signature"].clone(),
        )
    }

    fn percent_decode(path: &str) -> String {
        url::form_urlencoded::parse(format!("k={}", path.replace('+', "%2B")).as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned()
    }

    #[test]
    fn links_verify_until_they_expire_and_not_once_altered() {
        let signer = LinkSigner::new("http://127.0.0.1:8080/", [7; 32]);
        let key = ObjectKey::new("photos/My Cat+1 é.jpg/profile.jpg").unwrap();
        let link = signer.sign(&key, Duration::from_secs(60));
        assert!(link.starts_with("http://127.0.0.1:8080/files/photos/My%20Cat%2B1%20%C3%A9.jpg/"));
        let (decoded, expires, signature) = parts(&link);
        assert_eq!(decoded, key.as_str());
        let now = SystemTime::now();
        assert_eq!(signer.verify(&decoded, expires, &signature, now), Ok(()));
        let later = UNIX_EPOCH + Duration::from_secs(expires);
        assert_eq!(
            signer.verify(&decoded, expires, &signature, later),
            Err(LinkError::Expired)
        );
        let bad = Err(LinkError::BadSignature);
        assert_eq!(
            signer.verify("photos/other.jpg", expires, &signature, now),
            bad
        );
        assert_eq!(signer.verify(&decoded, expires + 1, &signature, now), bad);
        assert_eq!(signer.verify(&decoded, expires, "zz", now), bad);
        let flipped = format!("{}0", &signature[..signature.len() - 1]);
        let flipped = if flipped == signature {
            signature.replace('0', "1")
        } else {
            flipped
        };
        assert_eq!(signer.verify(&decoded, expires, &flipped, now), bad);
        let other = LinkSigner::new("http://127.0.0.1:8080", [8; 32]);
        assert_eq!(other.verify(&decoded, expires, &signature, now), bad);
    }

    #[test]
    fn the_secret_is_made_once_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("thumbnail-links-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("link-secret");
        let _ = std::fs::remove_file(&path);
        let first = LinkSigner::load_or_create("http://a", &path).unwrap();
        let second = LinkSigner::load_or_create("http://a", &path).unwrap();
        assert_eq!(first.secrets, second.secrets);
        assert_eq!(first.secrets.len(), 1);
        assert_ne!(first.secrets[0], [0; 32]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(shared_permissions(&path).unwrap(), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(shared_permissions(&path).unwrap(), Some(0o066));
        std::fs::write(&path, b"short").unwrap();
        let error = LinkSigner::load_or_create("http://a", &path).unwrap_err();
        assert!(error.to_string().contains("expected 32 bytes"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_rotated_secret_signs_while_the_old_one_still_verifies() {
        let dir = std::env::temp_dir().join(format!("thumbnail-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("link-secret");
        std::fs::write(&path, [1u8; 32]).unwrap();
        let old = LinkSigner::load_or_create("http://a", &path).unwrap();
        let key = ObjectKey::new("a/profile.jpg").unwrap();
        let (decoded, expires, old_signature) = parts(&old.sign(&key, Duration::from_secs(60)));
        // The new secret in front, the old one behind it.
        std::fs::write(&path, [[2u8; 32], [1u8; 32]].concat()).unwrap();
        let rotated = LinkSigner::load_or_create("http://a", &path).unwrap();
        let now = SystemTime::now();
        assert_eq!(
            rotated.verify(&decoded, expires, &old_signature, now),
            Ok(())
        );
        let (_, expires, new_signature) = parts(&rotated.sign(&key, Duration::from_secs(60)));
        assert_ne!(new_signature, old_signature, "signed with the new secret");
        assert_eq!(
            rotated.verify(&decoded, expires, &new_signature, now),
            Ok(())
        );
        assert_eq!(
            LinkSigner::new("http://a", [2; 32]).verify(&decoded, expires, &new_signature, now),
            Ok(())
        );
        // Once the old secret is dropped, its links stop working.
        std::fs::write(&path, [2u8; 32]).unwrap();
        let dropped = LinkSigner::load_or_create("http://a", &path).unwrap();
        assert_eq!(
            dropped.verify(&decoded, expires, &old_signature, now),
            Err(LinkError::BadSignature)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
