//! The reliability suites: the real worker binary, on the local backend and on the S3/SQS/SNS test
//! server, under crashes, outages, duplicates, shutdown under load, hostile inputs and hostile keys,
//! several workers sharing one queue, a notifier down, backfills after a change of presets, and a
//! job past its deadline.
//! Each suite writes what it measured to `target/tmp/reliability/` (the figures in docs/reliability.md).
//!
//! The crash suite's size is set by `TEST_THUMBNAIL_CRASH_IMAGES` and `TEST_THUMBNAIL_CRASH_KILLS` (200 and 5
//! by default; the long mode in docs/reliability.md uses more), and its kill moments by `TEST_THUMBNAIL_SEED`.

#[macro_use]
pub(crate) mod rig;
mod backfill;
mod crash;
mod deadline;
mod duplicates;
mod hostile;
mod keys;
mod notifier;
mod outage;
mod shutdown;
mod workers;
