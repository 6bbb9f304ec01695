//! `thumbnail-worker upload` and `run` on the embedded local backends, as a user runs them: the real
//! binary, real files, real signals.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use thumbnail_storage::conformance::fetch;
use thumbnail_tests::{JpegOptions, free_port, jpeg, quadrants, sigterm, size_of, succeeded};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("files")).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join("files").join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn data(&self) -> PathBuf {
        self.0.join("data")
    }

    fn thumbnail(&self, key: &str) -> PathBuf {
        self.data().join("buckets/thumbnails").join(key)
    }

    fn notifications(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.data().join("notifications.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn worker(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"));
        command
            .args(args)
            .env("THUMBNAIL_LOCAL_DIR", self.data())
            .env("THUMBNAIL_PRESETS", "profile,wide=300x");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.worker(args).output().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn photo(width: u32, height: u32) -> Vec<u8> {
    jpeg(&quadrants(width, height), &JpegOptions::default())
}

#[test]
fn uploads_get_thumbnails_failures_are_dead_lettered_and_nothing_is_done_twice() {
    let dir = Scratch::new("pipeline");
    let good = dir.file("My Photo é+1.jpg", &photo(800, 600));
    let corrupt = dir.file("broken.jpg", &photo(800, 600)[..3000]);
    succeeded(&dir.run(&["upload", good.to_str().unwrap(), corrupt.to_str().unwrap()]));
    succeeded(&dir.run(&["run", "--exit-when-idle"]));

    assert_eq!(
        size_of(&dir.thumbnail("My Photo é+1.jpg/profile.jpg")),
        (128, 128)
    );
    assert_eq!(
        size_of(&dir.thumbnail("My Photo é+1.jpg/wide.jpg")),
        (300, 225)
    );
    assert!(!dir.thumbnail("broken.jpg").exists());

    let notifications = dir.notifications();
    let subjects: Vec<&str> = notifications
        .iter()
        .map(|n| n["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects.contains(&"Thumbnails ready: My Photo ?+1.jpg")
            && subjects.contains(&"Thumbnails failed: broken.jpg")
    );
    let ready = notifications
        .iter()
        .find(|n| n["subject"].as_str().unwrap().contains("ready"))
        .unwrap();
    let url = ready["data"]["thumbnails"][0]["url"].as_str().unwrap();
    assert!(url.starts_with("file://"), "{url}");

    // The corrupt upload sits in the dead-letter queue with its reason.
    let dead = dir.data().join("queues/thumbnail-dead-letters/messages");
    let buried: Vec<serde_json::Value> = std::fs::read_dir(&dead)
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert_eq!(buried.len(), 1);
    assert!(
        buried[0]["attributes"]["thumbnail-failure-reason"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{}",
        buried[0]
    );

    // A second run finds nothing new; a file added while the worker was down is picked up.
    succeeded(&dir.run(&["run", "--exit-when-idle"]));
    assert_eq!(dir.notifications().len(), 2, "nothing announced twice");
    let later = dir.file("later.jpg", &photo(640, 480));
    succeeded(&dir.run(&["upload", "--prefix", "albums/2026", later.to_str().unwrap()]));
    succeeded(&dir.run(&["run", "--exit-when-idle"]));
    assert_eq!(
        size_of(&dir.thumbnail("albums/2026/later.jpg/profile.jpg")),
        (128, 128)
    );
    assert_eq!(dir.notifications().len(), 3);
}

/// `upload x/a.jpg y/a.jpg` would put both under `a.jpg`, the second replacing the first: refused
/// before anything is uploaded. `a.jpg` and `a.png` are two images, each with its own thumbnails.
#[test]
fn files_of_one_name_are_refused_and_names_differing_by_extension_are_kept_apart() {
    let dir = Scratch::new("names");
    let x = dir.0.join("files/x");
    let y = dir.0.join("files/y");
    for folder in [&x, &y] {
        std::fs::create_dir_all(folder).unwrap();
    }
    std::fs::write(x.join("a.jpg"), photo(400, 300)).unwrap();
    std::fs::write(y.join("a.jpg"), photo(300, 400)).unwrap();
    let (first, second) = (x.join("a.jpg"), y.join("a.jpg"));
    let refused = dir.run(&["upload", first.to_str().unwrap(), second.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("{} and {}", first.display(), second.display())),
        "{stderr}"
    );
    assert!(
        !dir.data().join("buckets/uploads").join("a.jpg").exists(),
        "nothing uploaded"
    );

    let png = dir.file(
        "a.png",
        &thumbnail_tests::encode(
            &image::DynamicImage::ImageRgb8(quadrants(300, 600)),
            image::ImageFormat::Png,
        ),
    );
    succeeded(&dir.run(&["upload", first.to_str().unwrap(), png.to_str().unwrap()]));
    succeeded(&dir.run(&["run", "--exit-when-idle"]));
    assert_eq!(size_of(&dir.thumbnail("a.jpg/wide.jpg")), (300, 225));
    assert_eq!(size_of(&dir.thumbnail("a.png/wide.jpg")), (300, 600));
    let sources: Vec<serde_json::Value> = dir
        .notifications()
        .iter()
        .map(|n| n["data"]["source"]["key"].clone())
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    let backfill = dir.run(&["backfill", "--dry-run"]);
    succeeded(&backfill);
    assert_eq!(String::from_utf8_lossy(&backfill.stdout), "", "both made");
}

/// `THUMBNAIL_FAIL_ON`: by default a file cut short fails (a failure notice, a dead letter);
/// with `none` the same upload, sent again, gets thumbnails and the log says what was tolerated.
#[test]
fn fail_on_decides_whether_a_truncated_upload_gets_thumbnails() {
    let dir = Scratch::new("fail-on");
    let good = photo(800, 600);
    let cut = dir.file("cut.jpg", &good[..good.len() * 3 / 4]);
    succeeded(&dir.run(&["upload", cut.to_str().unwrap()]));
    succeeded(&dir.run(&["run", "--exit-when-idle"]));
    let subjects = |dir: &Scratch| -> Vec<String> {
        dir.notifications()
            .iter()
            .map(|n| n["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(subjects(&dir), ["Thumbnails failed: cut.jpg"]);
    assert!(!dir.thumbnail("cut.jpg").exists());

    succeeded(&dir.run(&["dead-letters", "redrive"]));
    let tolerant = dir
        .worker(&["run", "--exit-when-idle"])
        .env("THUMBNAIL_FAIL_ON", "none")
        .output()
        .unwrap();
    succeeded(&tolerant);
    assert_eq!(
        subjects(&dir),
        ["Thumbnails failed: cut.jpg", "Thumbnails ready: cut.jpg"]
    );
    assert_eq!(size_of(&dir.thumbnail("cut.jpg/profile.jpg")), (128, 128));
    let log = String::from_utf8_lossy(&tolerant.stderr);
    assert!(log.contains("thumbnailed despite faults"), "{log}");
}

/// Waits until `done` holds, looking every 5 ms (a look is a few file checks), failing the test
/// after `timeout`.
fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn start(dir: &Scratch, args: &[&str]) -> Child {
    dir.worker(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_stops_the_worker_cleanly() {
    let dir = Scratch::new("sigterm");
    let file = dir.file("a.jpg", &photo(400, 300));
    succeeded(&dir.run(&["upload", file.to_str().unwrap()]));
    let worker = start(&dir, &["run"]);
    wait_for("the thumbnail", Duration::from_secs(30), || {
        dir.thumbnail("a.jpg/manifest.json").exists()
    });
    let status = sigterm(worker, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_worker_killed_mid_batch_loses_nothing() {
    let dir = Scratch::new("kill");
    let files: Vec<PathBuf> = (0..20)
        .map(|i| dir.file(&format!("p{i:02}.jpg"), &photo(1600 + i * 10, 1200)))
        .collect();
    let mut upload = vec!["upload"];
    upload.extend(files.iter().map(|f| f.to_str().unwrap()));
    succeeded(&dir.run(&upload));
    let done = |dir: &Scratch| {
        (0..20)
            .filter(|i| {
                dir.thumbnail(&format!("p{i:02}.jpg/manifest.json"))
                    .exists()
            })
            .count()
    };

    let mut worker = start(
        &dir,
        &["run", "--set", "visibility=2", "--set", "concurrency=2"],
    );
    wait_for("the first thumbnails", Duration::from_secs(60), || {
        done(&dir) >= 1
    });
    // SIGKILL within a look of the first manifest: mid-batch however fast the machine, since a
    // 1600x1200 image takes more than the 5 ms of a look.
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(done(&dir) < 20, "killed before the end");

    // Messages held by the killed worker come back after their visibility timeout: the next run
    // waits for them instead of taking "nothing visible" for "nothing left".
    succeeded(&dir.run(&["run", "--exit-when-idle", "--set", "visibility=2"]));
    assert_eq!(done(&dir), 20);
    for i in 0..20 {
        assert_eq!(
            size_of(&dir.thumbnail(&format!("p{i:02}.jpg/profile.jpg"))),
            (128, 128)
        );
    }
}

/// One bucket for sources and thumbnails (under `thumbs/`), with `/healthz` and `/metrics`: the
/// thumbnails written into the watched folder, and an upload under the prefix, are never processed;
/// a second upload of the same file is not decoded again; the metrics count all of it.
#[test]
fn one_shared_bucket_with_metrics() {
    let dir = Scratch::new("shared");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str| String::from_utf8(fetch(&format!("{base}{path}"))).unwrap();
    let shared = |args: &[&str]| {
        let mut command = dir.worker(args);
        command
            .env("THUMBNAIL_DEST_BUCKET", "uploads")
            .env("THUMBNAIL_DEST_PREFIX", "thumbs")
            .env("THUMBNAIL_METRICS_ADDR", format!("127.0.0.1:{port}"));
        command
    };
    let uploads = dir.data().join("buckets/uploads");
    let photo_file = dir.file("a.jpg", &photo(800, 600));
    let broken = dir.file("broken.jpg", &photo(800, 600)[..3000]);
    let intruder = dir.file("intruder.jpg", &photo(640, 480));
    for (file, prefix) in [(&photo_file, ""), (&broken, ""), (&intruder, "thumbs")] {
        let output = shared(&["upload", "--prefix", prefix, file.to_str().unwrap()])
            .output()
            .unwrap();
        succeeded(&output);
    }
    let worker = shared(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let metric = |name: &str| -> f64 {
        get("/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    wait_for("the worker's HTTP port", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert_eq!(get("/healthz"), "ok\n");
    wait_for(
        "the thumbnails and the failure",
        Duration::from_secs(60),
        || {
            uploads.join("thumbs/a.jpg/manifest.json").exists()
                && metric(r#"thumbnail_images_failed_total{reason="corrupt"}"#) == 1.0
        },
    );
    // The same file again: announced (it changed on disk), found done, not decoded.
    std::thread::sleep(Duration::from_millis(20));
    succeeded(
        &shared(&["upload", photo_file.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    wait_for("the duplicate", Duration::from_secs(30), || {
        metric(r#"thumbnail_images_processed_total{outcome="already_done"}"#) == 1.0
    });
    // Let the events of the thumbnails themselves (written into the watched folder) be seen.
    wait_for(
        "our own objects to be recognised",
        Duration::from_secs(30),
        || {
            // intruder.jpg, profile.jpg, wide.jpg, manifest.json
            metric(r#"thumbnail_images_processed_total{outcome="ours"}"#) >= 4.0
        },
    );

    assert_eq!(
        metric(r#"thumbnail_images_processed_total{outcome="made"}"#),
        1.0
    );
    assert_eq!(metric("thumbnail_processing_seconds_count"), 1.0);
    assert!(metric("thumbnail_source_bytes_total") > 3000.0);
    assert!(metric("thumbnail_output_bytes_total") > 1000.0);
    assert!(metric("thumbnail_receive_latency_seconds_count") >= 7.0);
    assert!(
        !uploads.join("thumbs/thumbs").exists(),
        "a thumbnail of a thumbnail"
    );
    assert_eq!(dir.notifications().len(), 2, "one ready, one failed");

    let status = sigterm(worker, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

/// Locally, the owner comes from the key (`users/{owner}/`) or from `upload --owner`; the log and
/// `notifications.jsonl` carry it.
#[test]
fn owners_from_keys_and_uploads_reach_the_log_and_the_notifications_file() {
    let dir = Scratch::new("owners");
    let a = dir.file("a.jpg", &photo(300, 200));
    let b = dir.file("b.jpg", &photo(200, 300));
    let rules = "owner_from=metadata,users/{owner}/";
    succeeded(&dir.run(&[
        "upload",
        "--set",
        rules,
        "--prefix",
        "users/alice",
        a.to_str().unwrap(),
    ]));
    succeeded(&dir.run(&[
        "upload",
        "--set",
        rules,
        "--owner",
        "bob",
        b.to_str().unwrap(),
    ]));
    let refused = dir.run(&["upload", "--owner", "bad owner", b.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let output = dir.run(&[
        "run",
        "--exit-when-idle",
        "--set",
        rules,
        "--log-format",
        "json",
    ]);
    succeeded(&output);
    let mut owners: Vec<(String, String)> = dir
        .notifications()
        .iter()
        .map(|n| {
            assert_eq!(n["attributes"]["owner"], n["data"]["owner"], "{n}");
            assert_eq!(n["attributes"]["outcome"], "made", "{n}");
            (
                n["data"]["source"]["key"].as_str().unwrap().to_owned(),
                n["attributes"]["owner"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    owners.sort();
    assert_eq!(
        owners,
        [
            ("b.jpg".to_owned(), "bob".to_owned()),
            ("users/alice/a.jpg".to_owned(), "alice".to_owned())
        ]
    );
    // A JSON log: every line an object, and what a notification's subscribers filter on, the
    // outcome and the settlement, as fields of their own (not JSON in a string, nor Rust Debug).
    let log = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let fields = |message: &str| -> Vec<&serde_json::Value> {
        let of = |l: &'_ serde_json::Value| l["fields"]["message"].as_str() == Some(message);
        lines
            .iter()
            .filter(|l| of(l))
            .map(|l| &l["fields"])
            .collect()
    };
    let notices: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "thumbnail::notify")
        .map(|l| &l["fields"])
        .collect();
    assert!(
        notices.iter().any(|f| f["owner"] == "alice"
            && f["outcome"] == "made"
            && f["preset"] == "profile,wide"),
        "{log}"
    );
    let processed = fields("processed");
    assert!(
        !processed.is_empty() && processed.iter().all(|f| f["outcome"] == "made"),
        "{log}"
    );
    let settling = fields("settling");
    assert!(
        !settling.is_empty() && settling.iter().all(|f| f["disposition"] == "ack"),
        "{log}"
    );
    // The data folder and the notifications file (which holds signed links) are the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let data = dir.data();
    for (path, private) in [
        (data.clone(), 0o700),
        (data.join("notifications.jsonl"), 0o600),
    ] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, private, "{}: {mode:o}", path.display());
    }
}

/// A data folder made before, that other users may enter, is used as it is, with a warning that
/// names it (it holds signed links and the secret that signs them).
#[test]
fn a_data_folder_others_may_enter_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("shared-data");
    std::fs::create_dir_all(dir.data()).unwrap();
    std::fs::set_permissions(dir.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = dir.run(&["run", "--exit-when-idle"]);
    succeeded(&output);
    let log = String::from_utf8_lossy(&output.stderr);
    let warning = log
        .lines()
        .find(|l| l.contains("other users may read or change this"));
    assert!(
        warning.is_some_and(|l| l.contains(dir.data().to_str().unwrap()) && l.contains("055")),
        "{log}"
    );
}

/// An operator's day two: an image that failed for a reason since fixed (here a memory budget
/// too small) is found in the dead letters with its reason, moved back, and made.
#[test]
fn dead_letters_are_listed_with_their_reason_and_redriven_once_fixed() {
    let dir = Scratch::new("redrive");
    let big = dir.file("big.jpg", &photo(2000, 1500));
    succeeded(&dir.run(&["upload", big.to_str().unwrap()]));
    succeeded(&dir.run(&["run", "--exit-when-idle", "--set", "memory_budget=1"]));
    assert!(!dir.thumbnail("big.jpg/profile.jpg").exists());

    let status = dir.run(&["status"]);
    succeeded(&status);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("thumbnail-jobs: 0 visible, 0 in flight, 0 delayed"),
        "{status}"
    );
    assert!(
        status.contains("thumbnail-dead-letters: 1 visible, 0 in flight, 0 delayed"),
        "{status}"
    );

    let listed = dir.run(&["dead-letters", "list"]);
    succeeded(&listed);
    let line = String::from_utf8_lossy(&listed.stdout).into_owned();
    let fields: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(fields[1..3], ["wont_fit", "big.jpg"], "{line}");
    assert!(fields[3].contains("needs about"), "{line}");

    // Another reason moves nothing; this one moves it back, and the next run makes it.
    let other = dir.run(&["dead-letters", "redrive", "--reason", "corrupt"]);
    assert!(String::from_utf8_lossy(&other.stderr).contains("0 dead letters moved"));
    let moved = dir.run(&["dead-letters", "redrive", "--reason", "wont_fit"]);
    assert!(String::from_utf8_lossy(&moved.stderr).contains("1 dead letters moved"));
    succeeded(&dir.run(&["run", "--exit-when-idle"]));
    assert_eq!(size_of(&dir.thumbnail("big.jpg/profile.jpg")), (128, 128));
    let status = dir.run(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("thumbnail-dead-letters: 0 visible"),
        "{status}"
    );
}

/// A folder in the source bucket the worker cannot read (its permissions) is logged and skipped;
/// the other uploads are made. As root, which permissions do not stop, the worker runs as `nobody`
/// (setpriv, from util-linux).
#[test]
fn an_unreadable_folder_in_the_bucket_is_skipped_not_fatal() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("unreadable");
    let uploads = dir.data().join("buckets/uploads");
    for (folder, name) in [("ok", "a.jpg"), ("locked", "b.jpg")] {
        std::fs::create_dir_all(uploads.join(folder)).unwrap();
        std::fs::write(uploads.join(folder).join(name), photo(400, 300)).unwrap();
    }
    // Everything open to the worker's user, but the locked folder.
    let open = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    for path in [&dir.0, &dir.data(), &dir.data().join("buckets"), &uploads] {
        open(path, 0o777);
    }
    open(&uploads.join("ok"), 0o777);
    open(&uploads.join("locked"), 0o000);
    let as_root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let mut command = if as_root {
        let mut setpriv = Command::new("setpriv");
        setpriv.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_thumbnail-worker"),
        ]);
        setpriv
    } else {
        Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
    };
    let mut worker = command
        .args(["run", "--exit-when-idle"])
        .env("THUMBNAIL_LOCAL_DIR", dir.data())
        .env("THUMBNAIL_PRESETS", "profile")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            worker.kill().unwrap();
            panic!("the worker did not finish: a scan error stalled it");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(worker.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    open(&uploads.join("locked"), 0o755);
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(size_of(&dir.thumbnail("ok/a.jpg/profile.jpg")), (128, 128));
    assert!(!dir.thumbnail("locked").exists());
    assert!(
        stderr.contains("skipped: cannot be read") && stderr.contains("locked"),
        "{stderr}"
    );
}

/// Connections that open and send half a header, more than the worker's descriptors (1100 at
/// `ulimit -n 1024`), neither stop it nor the work: the console serves a bounded number at once
/// and closes a stalled header after its timeout, the local queue waits out a moment with no
/// descriptor left; uploads meanwhile get their thumbnails, and the console answers once the
/// connections close. (Before: the console took them all, the queue's `Too many open files` was
/// classed permanent, and `run` exited 1.)
#[test]
fn half_open_connections_stop_neither_the_worker_nor_the_console() {
    use std::io::{Read, Write};
    let dir = Scratch::new("half-open");
    let port = free_port();
    let mut worker = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" run")
        .arg(env!("CARGO_BIN_EXE_thumbnail-worker"))
        .env("THUMBNAIL_LOCAL_DIR", dir.data())
        .env("THUMBNAIL_PRESETS", "profile")
        .env("THUMBNAIL_CONSOLE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the console", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut stalled = Vec::new();
    for _ in 0..1100 {
        let mut connection = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        connection
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .unwrap();
        stalled.push(connection);
    }
    for i in 0..3 {
        let file = dir.file(&format!("p{i}.jpg"), &photo(400 + i * 8, 300));
        succeeded(&dir.run(&["upload", file.to_str().unwrap()]));
    }
    wait_for("the thumbnails", Duration::from_secs(60), || {
        (0..3).all(|i| dir.thumbnail(&format!("p{i}.jpg/manifest.json")).exists())
    });
    assert!(worker.try_wait().unwrap().is_none(), "the worker stopped");
    drop(stalled);
    let healthy = || {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut answer = String::new();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    };
    wait_for("the console to answer", Duration::from_secs(60), healthy);
    assert!(sigterm(worker, Duration::from_secs(30)).success());
}

/// A console upload is streamed to the bucket, not held: a 90 MiB file raises the worker's peak
/// memory by far less than its size. (Before: buffered and copied, 250 MiB took 550 MB.) The file
/// is a JPEG header claiming 60000x60000 and padding, so the pipeline refuses it from its header
/// and its own reads do not count here.
#[test]
fn a_console_upload_is_streamed_not_held() {
    use thumbnail_test_aws::servers::{listening, multipart, request};
    let dir = Scratch::new("streamed");
    let port = free_port();
    let worker = dir
        .worker(&["run"])
        .env("THUMBNAIL_CONSOLE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(port, "the console");
    let peak_kib = crate::reliability::rig::peak_rss_kib;
    let before = peak_kib(worker.id());
    let mut huge = thumbnail_tests::jpeg_claiming(60000, 60000);
    huge.resize(90 << 20, 0x5A);
    let (content_type, body) = multipart(&[("huge.jpg", &huge)]);
    drop(huge);
    let (status, _, answer) = request(
        port,
        &format!("POST /uploads\n{content_type}\nX-Thumbnail-Console: 1"),
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let stored = dir.data().join("buckets/uploads/huge.jpg");
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), 90 << 20);
    let after = peak_kib(worker.id());
    eprintln!("worker peak RSS: {before} KiB before, {after} KiB after a 90 MiB console upload");
    assert!(
        after - before < 32 << 10,
        "peak {before} -> {after} KiB: the upload was held in memory"
    );
    assert!(sigterm(worker, Duration::from_secs(30)).success());
}

/// `THUMBNAIL_CONSOLE_URL`, the address others reach the console by (here a proxy's): the links
/// in notifications start with it, and the console serves them for that host name, and for no
/// other name.
#[test]
fn links_start_with_the_console_url_and_are_served_for_its_host() {
    use std::io::{Read, Write};
    let dir = Scratch::new("console-url");
    let port = free_port();
    let file = dir.file("a.jpg", &photo(400, 300));
    succeeded(&dir.run(&["upload", file.to_str().unwrap()]));
    let worker = dir
        .worker(&["run"])
        .env("THUMBNAIL_CONSOLE_ADDR", format!("127.0.0.1:{port}"))
        .env("THUMBNAIL_CONSOLE_URL", "https://thumbs.example.test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the thumbnails", Duration::from_secs(30), || {
        dir.thumbnail("a.jpg/manifest.json").exists()
    });
    let notifications = dir.notifications();
    let link = notifications[0]["data"]["thumbnails"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = link
        .strip_prefix("https://thumbs.example.test")
        .unwrap_or_else(|| panic!("{link}"));
    assert!(path.starts_with("/files/a.jpg/profile.jpg?"), "{link}");
    thumbnail_test_aws::servers::listening(port, "the console");
    let get = |host: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        answer
    };
    let served = get("thumbs.example.test");
    assert!(
        served.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&served)
    );
    let body = served.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&served[body..body + 2], [0xFF, 0xD8], "a JPEG");
    assert!(get("elsewhere.example.test").starts_with(b"HTTP/1.1 421"));
    assert!(sigterm(worker, Duration::from_secs(30)).success());
}
