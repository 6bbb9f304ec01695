//! Admission control: an image that cannot fit in the memory budget is refused from its header,
//! before it is downloaded.

use std::collections::BTreeMap;

use thumbnail_core::Engine;
use thumbnail_notify::Notifier;
use thumbnail_storage::{Object, ObjectKey, ObjectStore};

use crate::{Pipeline, ProcessError};

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Pipeline<S, D, N> {
    /// Refuses an image that cannot fit in `budget`, from its size and, when its first bytes hold
    /// the header, its dimensions: one ranged GET instead of a download.
    /// The answer carries the object's user metadata: it is kept in `metadata`. When those first
    /// bytes were the whole object (most profile pictures are under them), the object is given
    /// back, so that it is not read a second time.
    pub(crate) async fn admit(
        &self,
        key: &ObjectKey,
        budget: u64,
        metadata: &mut Option<BTreeMap<String, String>>,
    ) -> Result<Option<Object>, ProcessError> {
        // Enough for the header behind large EXIF and ICC blocks.
        const HEADER_BYTES: u64 = 256 << 10;
        let head = self.source.get_prefix(key, HEADER_BYTES).await?;
        *metadata = Some(head.info.metadata.clone());
        let size = head.info.size;
        // Past the byte limit, the download refuses it, for that plainer reason and before reading
        // it: the budget has nothing to add.
        if size > self.config.limits.max_bytes {
            return Ok(None);
        }
        self.check_budget(key, &head.bytes, size, budget)?;
        Ok((head.bytes.len() as u64 == size).then_some(head))
    }

    /// Refuses an image of `size` bytes that cannot fit in `budget`, from its size and, when
    /// `bytes` (its first bytes, or all of them) hold its header, its dimensions. Called before
    /// the download with the first bytes, and after it with the whole file, so a header the
    /// first bytes did not reach (behind more APPn data than they cover, a TIFF directory at the
    /// end) is checked before any pixel is decoded, never waved through.
    pub(crate) fn check_budget(
        &self,
        key: &ObjectKey,
        bytes: &[u8],
        size: u64,
        budget: u64,
    ) -> Result<(), ProcessError> {
        let wont_fit = |needed| ProcessError::WontFit {
            key: key.to_string(),
            needed,
            budget,
        };
        if size > budget {
            return Err(wont_fit(size));
        }
        let limits = self.config.limits;
        let engine = Engine::new(limits);
        // Past the pixel limit (refused from the header again), not an image, or a header beyond
        // these bytes: the decode, or the check after the download, will tell.
        if let Ok(info) = engine.probe(bytes)
            && info.pixels() <= limits.max_pixels
        {
            let needed = size + engine.memory_estimate(&info, &self.config.specs);
            if needed > budget {
                return Err(wont_fit(needed));
            }
        }
        Ok(())
    }
}
