//! Admission control: an image that cannot fit in the memory budget is refused from its header,
//! before it is downloaded.

use std::collections::BTreeMap;

use thumbnail_core::Engine;
use thumbnail_notify::Notifier;
use thumbnail_storage::{ObjectKey, ObjectStore};

use crate::{Pipeline, ProcessError};

impl<S: ObjectStore, D: ObjectStore, N: Notifier> Pipeline<S, D, N> {
    /// Refuses an image that cannot fit in `budget`, from its size and, when its first bytes hold
    /// the header, its dimensions: one ranged GET instead of a download.
    /// The answer carries the object's user metadata: it is kept in `metadata`.
    pub(crate) async fn admit(
        &self,
        key: &ObjectKey,
        budget: u64,
        metadata: &mut Option<BTreeMap<String, String>>,
    ) -> Result<(), ProcessError> {
        // Enough for the header behind large EXIF and ICC blocks.
        const HEADER_BYTES: u64 = 256 << 10;
        let mut head = self.source.get_prefix(key, HEADER_BYTES).await?;
        *metadata = Some(std::mem::take(&mut head.info.metadata));
        let wont_fit = |needed| ProcessError::WontFit {
            key: key.to_string(),
            needed,
            budget,
        };
        let size = head.info.size;
        let limits = self.config.limits;
        // Past the byte limit, the download refuses it, for that plainer reason and before reading
        // it: the budget has nothing to add.
        if size > limits.max_bytes {
            return Ok(());
        }
        if size > budget {
            return Err(wont_fit(size));
        }
        let engine = Engine::new(limits);
        // Past the pixel limit (refused from the header again), not an image, or a header beyond
        // the first bytes: the decode will tell.
        if let Ok(info) = engine.probe(&head.bytes)
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
