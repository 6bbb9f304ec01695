//! A test rig for the reliability suites: one worker setup on either backend (the local folders, or
//! S3/SQS/SNS on the test server), with what a suite needs to check from the outside: upload,
//! thumbnails present, notifications received, messages left in the queue, dead letters, logs.
//! The suites run the same scenario on both backends through it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::{aws_settings, set_up, unique};

/// Which backend a rig drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    Aws,
}

/// One worker configuration, its scratch folder, and (on AWS) the clients that look at its buckets
/// and queues.
pub struct Rig {
    /// The worker's environment.
    pub env: BTreeMap<String, String>,
    dir: PathBuf,
    runtime: tokio::runtime::Runtime,
    aws: Option<AwsSide>,
    logs: Mutex<u32>,
    /// Every worker started, so none outlives a failed test.
    workers: Mutex<Vec<u32>>,
}

struct AwsSide {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    inbox: String,
    /// Notifications drained from the inbox so far (a queue, read once).
    received: Mutex<Vec<serde_json::Value>>,
    /// Dead letters drained so far.
    dead: Mutex<Vec<String>>,
}

impl Rig {
    /// A rig on `backend` (`None`: AWS asked for, but no test server configured) with the worker
    /// settings `settings` (`THUMBNAIL_*` without the prefix, lower case: `visibility`, ...).
    pub fn new(backend: Backend, name: &str, settings: &[(&str, &str)]) -> Option<Rig> {
        let id = unique();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut env: BTreeMap<String, String> = settings
            .iter()
            .map(|(k, v)| (format!("THUMBNAIL_{}", k.to_uppercase()), (*v).to_owned()))
            .collect();
        env.entry("THUMBNAIL_PRESETS".into())
            .or_insert_with(|| "profile,wide=300x".into());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let aws = match backend {
            Backend::Local => {
                env.insert("THUMBNAIL_LOCAL_DIR".into(), path_str(&dir.join("data")));
                None
            }
            Backend::Aws => {
                let config = runtime.block_on(thumbnail_test_aws::config())?;
                for (key, value) in aws_settings(name, &id) {
                    env.entry(key).or_insert(value);
                }
                set_up(&mut env);
                let inbox = runtime.block_on(thumbnail_test_aws::subscribed_queue(
                    &config,
                    &env["THUMBNAIL_TOPIC"],
                    &format!("{name}-inbox-{id}"),
                ));
                let s3 = aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&config)
                        .force_path_style(true)
                        .build(),
                );
                Some(AwsSide {
                    s3,
                    sqs: aws_sdk_sqs::Client::new(&config),
                    inbox,
                    received: Mutex::default(),
                    dead: Mutex::default(),
                })
            }
        };
        Some(Rig {
            env,
            dir,
            runtime,
            aws,
            logs: Mutex::new(0),
            workers: Mutex::default(),
        })
    }

    /// The rig's async runtime, for helpers that run beside the worker.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// The worker binary with this rig's settings.
    pub fn worker(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"));
        command.args(args).envs(&self.env);
        command
    }

    /// Starts `run` with extra `--set` arguments, its log going to a file of the rig's (see
    /// [`Rig::logs`]).
    pub fn start(&self, sets: &[&str]) -> Child {
        let mut args = vec!["run"];
        for set in sets {
            args.extend(["--set", set]);
        }
        self.spawn(&args)
    }

    /// Starts the worker with `args`, its log going to a file of the rig's.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let number = {
            let mut count = self.logs.lock().unwrap();
            *count += 1;
            *count
        };
        let log = std::fs::File::create(self.dir.join(format!("worker-{number}.log"))).unwrap();
        let child = self
            .worker(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.workers.lock().unwrap().push(child.id());
        child
    }

    /// Waits for `child` to exit by itself, failing the test (and killing it) after `timeout`.
    pub fn wait_exit(&self, child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                panic!(
                    "the worker did not exit within {timeout:?}\n{}",
                    tail(&self.logs(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything the workers started by [`Rig::start`] logged, in order.
    pub fn logs(&self) -> String {
        self.worker_logs().concat()
    }

    /// What each worker started by [`Rig::start`] or [`Rig::spawn`] logged, in starting order.
    pub fn worker_logs(&self) -> Vec<String> {
        let count = *self.logs.lock().unwrap();
        (1..=count)
            .map(|n| std::fs::read_to_string(self.dir.join(format!("worker-{n}.log"))).unwrap())
            .collect()
    }

    fn local(&self, bucket: &str) -> PathBuf {
        self.dir.join("data/buckets").join(bucket)
    }

    /// Puts `bytes` into the source bucket under `key`, as a user's upload.
    pub fn upload(&self, key: &str, bytes: &[u8]) {
        match &self.aws {
            None => {
                // Written beside, hidden, then renamed: the watcher never sees half a file.
                let path = self.local("uploads").join(key);
                let parent = path.parent().unwrap();
                std::fs::create_dir_all(parent).unwrap();
                let temporary = parent.join(format!(".upload-{}", unique()));
                std::fs::write(&temporary, bytes).unwrap();
                std::fs::rename(temporary, path).unwrap();
            }
            Some(aws) => {
                self.runtime
                    .block_on(
                        aws.s3
                            .put_object()
                            .bucket(&self.env["THUMBNAIL_SOURCE_BUCKET"])
                            .key(key)
                            .body(ByteStream::from(bytes.to_vec()))
                            .send(),
                    )
                    .unwrap_or_else(|e| panic!("uploading {key:?}: {e:?}"));
            }
        }
    }

    /// Whether the thumbnail bucket holds `key`.
    pub fn has_thumbnail(&self, key: &str) -> bool {
        match &self.aws {
            None => self.local("thumbnails").join(key).is_file(),
            Some(aws) => self
                .runtime
                .block_on(
                    aws.s3
                        .head_object()
                        .bucket(&self.env["THUMBNAIL_DEST_BUCKET"])
                        .key(key)
                        .send(),
                )
                .is_ok(),
        }
    }

    /// The bytes of the thumbnail `key`.
    pub fn thumbnail(&self, key: &str) -> Vec<u8> {
        match &self.aws {
            None => std::fs::read(self.local("thumbnails").join(key)).unwrap(),
            Some(aws) => self.runtime.block_on(async {
                let object = aws
                    .s3
                    .get_object()
                    .bucket(&self.env["THUMBNAIL_DEST_BUCKET"])
                    .key(key)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
                object.body.collect().await.unwrap().to_vec()
            }),
        }
    }

    /// Every key in the thumbnail bucket.
    pub fn thumbnail_keys(&self) -> std::collections::BTreeSet<String> {
        match &self.aws {
            None => {
                let root = self.local("thumbnails");
                let mut keys = std::collections::BTreeSet::new();
                let mut dirs = vec![root.clone()];
                while let Some(dir) = dirs.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for entry in entries {
                        let path = entry.unwrap().path();
                        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
                            continue; // the store's metadata and temporary files
                        } else if path.is_dir() {
                            dirs.push(path);
                        } else {
                            let key = path.strip_prefix(&root).unwrap();
                            keys.insert(key.to_str().unwrap().to_owned());
                        }
                    }
                }
                keys
            }
            Some(aws) => self.runtime.block_on(async {
                let mut pages = aws
                    .s3
                    .list_objects_v2()
                    .bucket(&self.env["THUMBNAIL_DEST_BUCKET"])
                    .into_paginator()
                    .send();
                let mut keys = std::collections::BTreeSet::new();
                while let Some(page) = pages.next().await {
                    let page = page.unwrap();
                    keys.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
                }
                keys
            }),
        }
    }

    /// Sends one more S3 event for the source `key` to the job queue, as a queue redelivering a
    /// message (or S3 announcing an upload twice) would.
    pub fn send_event(&self, key: &str) {
        let encoded: String =
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let body = serde_json::json!({"Records": [{
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": self.env.get("THUMBNAIL_SOURCE_BUCKET").map_or("uploads", String::as_str)},
                "object": {"key": encoded},
            },
        }]})
        .to_string();
        match &self.aws {
            None => {
                let queue =
                    thumbnail_queue::LocalQueue::open(self.dir.join("data/queues/thumbnail-jobs"))
                        .unwrap();
                let message = thumbnail_queue::OutgoingMessage::new(body);
                self.runtime
                    .block_on(thumbnail_queue::Queue::send(&queue, message))
                    .unwrap();
            }
            Some(aws) => {
                self.runtime
                    .block_on(
                        aws.sqs
                            .send_message()
                            .queue_url(&self.env["THUMBNAIL_QUEUE"])
                            .message_body(body)
                            .send(),
                    )
                    .unwrap();
            }
        }
    }

    /// Every notification published so far: `{"subject": ..., "data": {...}}`.
    pub fn notifications(&self) -> Vec<serde_json::Value> {
        match &self.aws {
            None => std::fs::read_to_string(self.dir.join("data/notifications.jsonl"))
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Some(aws) => {
                let mut received = aws.received.lock().unwrap();
                let bodies = aws.drain(&self.runtime, &aws.inbox, None);
                received.extend(bodies.into_iter().map(|(body, _)| {
                    let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
                    serde_json::json!({
                        "subject": envelope["Subject"],
                        "data": serde_json::from_str::<serde_json::Value>(
                            envelope["Message"].as_str().unwrap()
                        ).unwrap(),
                    })
                }));
                received.clone()
            }
        }
    }

    /// The failure reasons of the messages in the dead-letter queue so far.
    pub fn dead_letters(&self) -> Vec<String> {
        const REASON: &str = "thumbnail-failure-reason";
        match &self.aws {
            None => {
                let spool = self.dir.join("data/queues/thumbnail-dead-letters/messages");
                // The queue writes a record beside (`.ID.tmp`) and renames it: a listing can
                // name a file gone by the time it is read. Only records, read if still there.
                std::fs::read_dir(spool)
                    .map(|entries| {
                        entries
                            .map(|e| e.unwrap().path())
                            .filter(|path| {
                                path.extension().is_some_and(|x| x == "json")
                                    && !path.file_name().unwrap().to_string_lossy().starts_with('.')
                            })
                            .filter_map(|path| std::fs::read(path).ok())
                            .map(|bytes| {
                                let record: serde_json::Value =
                                    serde_json::from_slice(&bytes).unwrap();
                                record["attributes"][REASON].as_str().unwrap().to_owned()
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Some(aws) => {
                let mut dead = aws.dead.lock().unwrap();
                let drained = aws.drain(&self.runtime, &self.env["THUMBNAIL_DLQ"], Some(REASON));
                dead.extend(drained.into_iter().map(|(_, reason)| reason.unwrap()));
                dead.clone()
            }
        }
    }

    /// Messages still in the job queue, visible or not (0 once everything is settled).
    pub fn queued(&self) -> usize {
        match &self.aws {
            // A missing spool is an error, not an empty queue: a wrong path would otherwise
            // make every "nothing left" check pass.
            None => self
                .spool()
                .filter(|path| path.extension().is_some_and(|x| x == "json"))
                .count(),
            Some(aws) => {
                let (visible, hidden) = aws.depth(&self.runtime, &self.env["THUMBNAIL_QUEUE"]);
                visible + hidden
            }
        }
    }

    /// Messages in the job queue that a receive would get now (not held by a worker).
    pub fn visible(&self) -> usize {
        match &self.aws {
            None => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64;
                self.spool()
                    .filter_map(|path| {
                        let bytes = std::fs::read(path).ok()?;
                        serde_json::from_slice::<serde_json::Value>(&bytes).ok()
                    })
                    .filter(|record| record["visible_at_ms"].as_u64().unwrap_or(0) <= now)
                    .count()
            }
            Some(aws) => aws.depth(&self.runtime, &self.env["THUMBNAIL_QUEUE"]).0,
        }
    }

    /// How long [`Rig::wait_for`] sleeps between two looks: a look at the local folders costs
    /// microseconds; one at the test server is a few requests that compete with the worker's own.
    fn poll(&self) -> Duration {
        match self.aws {
            None => Duration::from_millis(10),
            Some(_) => Duration::from_millis(100),
        }
    }

    /// The files of the local job queue's spool; fails the test when the spool is missing.
    fn spool(&self) -> impl Iterator<Item = PathBuf> {
        let spool = self.dir.join("data/queues/thumbnail-jobs/messages");
        std::fs::read_dir(&spool)
            .unwrap_or_else(|e| panic!("the job queue's spool {}: {e}", spool.display()))
            .map(|entry| entry.unwrap().path())
    }

    /// Waits until `done` holds, looking every few milliseconds, and failing the test after
    /// `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}\n{}",
                tail(&self.logs(), 40)
            );
            std::thread::sleep(self.poll());
        }
    }
}

impl AwsSide {
    /// Receives and deletes every message of `queue` now there: (body, value of `attribute`).
    fn drain(
        &self,
        runtime: &tokio::runtime::Runtime,
        queue: &str,
        attribute: Option<&str>,
    ) -> Vec<(String, Option<String>)> {
        runtime.block_on(async {
            let url = self.url(queue).await;
            let mut out = Vec::new();
            loop {
                let batch = self
                    .sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .message_attribute_names("All")
                    .wait_time_seconds(0)
                    .send()
                    .await
                    .unwrap();
                if batch.messages().is_empty() {
                    return out;
                }
                for message in batch.messages() {
                    let value = attribute.and_then(|a| {
                        message
                            .message_attributes()?
                            .get(a)?
                            .string_value()
                            .map(str::to_owned)
                    });
                    out.push((message.body().unwrap().to_owned(), value));
                    self.sqs
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(message.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
            }
        })
    }

    /// The URL of `queue`, a name or a URL.
    async fn url(&self, queue: &str) -> String {
        if queue.starts_with("http") {
            return queue.to_owned();
        }
        let found = self.sqs.get_queue_url().queue_name(queue).send().await;
        found.unwrap().queue_url().unwrap().to_owned()
    }

    /// (visible, in flight or delayed) messages of `queue`.
    fn depth(&self, runtime: &tokio::runtime::Runtime, queue: &str) -> (usize, usize) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        runtime.block_on(async {
            let url = self.url(queue).await;
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(A::All)
                .send()
                .await
                .unwrap();
            let count = |name: A| -> usize {
                attributes
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .map_or(0, |v| v.parse().unwrap())
            };
            (
                count(A::ApproximateNumberOfMessages),
                count(A::ApproximateNumberOfMessagesNotVisible)
                    + count(A::ApproximateNumberOfMessagesDelayed),
            )
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Those a test already stopped are gone: `kill` fails for them, harmlessly.
        for pid in self.workers.lock().unwrap().drain(..) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Peak resident memory of a running process, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// CPU time (user + system) a running process has used.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Writes what suite `suite` measured on `backend` where docs/reliability.md's figures and the CI log take
/// them from (`target/tmp/reliability/<suite>-<backend>.txt`), and to the test's output.
pub fn report(suite: &str, backend: Backend, text: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("{suite}-{backend:?}").to_lowercase();
    std::fs::write(dir.join(format!("{name}.txt")), format!("{text}\n")).unwrap();
    eprintln!("{text}");
}

/// The tests `local` and `aws` of a scenario `fn(Backend)`: the same run on both backends.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        #[test]
        fn local() {
            $scenario($crate::reliability::rig::Backend::Local);
        }

        #[test]
        fn aws() {
            $scenario($crate::reliability::rig::Backend::Aws);
        }
    };
}

/// A small deterministic random sequence (xorshift), seeded from the clock unless
/// `TEST_THUMBNAIL_SEED` says otherwise; the seed is in the report, to replay a run.
pub struct Random(pub u64);

impl Random {
    pub fn new() -> Self {
        let seed = std::env::var("TEST_THUMBNAIL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        Random(seed)
    }

    /// A number in `range`.
    pub fn between(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + self.0 % (range.end - range.start)
    }
}
