//! What the worker's test binaries that drive a server share: names unique to a run, `setup`, and
//! reading the worker's metrics.

use std::collections::BTreeMap;
use std::process::Command;

/// A name unique to this run, so tests share one test server without meeting.
pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}", nanos % (1 << 48))
}

/// The AWS settings of a test's own resources: the backend, path-style addressing, and buckets,
/// queue and topic named `{name}-up-{n}`, `{name}-th-{n}`, `{name}-jobs-{n}`, `{name}-topic-{n}`.
pub fn aws_settings(name: &str, n: &str) -> BTreeMap<String, String> {
    [
        ("BACKEND", "aws".to_owned()),
        ("S3_PATH_STYLE", "true".to_owned()),
        ("SOURCE_BUCKET", format!("{name}-up-{n}")),
        ("DEST_BUCKET", format!("{name}-th-{n}")),
        ("QUEUE", format!("{name}-jobs-{n}")),
        ("TOPIC", format!("{name}-topic-{n}")),
    ]
    .into_iter()
    .map(|(key, value)| (format!("THUMBNAIL_{key}"), value))
    .collect()
}

/// Runs `setup` (twice: the second must change nothing and succeed) and adds what it printed (the
/// queue URLs, the topic ARN, as `export NAME='value'` lines) to `env`.
pub fn set_up(env: &mut BTreeMap<String, String>) {
    let mut printed = String::new();
    for _ in 0..2 {
        let output = Command::new(env!("CARGO_BIN_EXE_thumbnail-worker"))
            .arg("setup")
            .envs(&*env)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed = String::from_utf8(output.stdout).unwrap();
    }
    for line in printed.lines() {
        let (key, value) = line
            .strip_prefix("export ")
            .and_then(|line| line.split_once('='))
            .unwrap_or_else(|| panic!("not an export line: {line}"));
        let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''));
        env.insert(key.to_owned(), value.expect("a quoted value").to_owned());
    }
}

/// One value of a worker's Prometheus `/metrics` on `port`; 0 when absent.
pub fn metric(port: u16, name: &str) -> f64 {
    let text = thumbnail_storage::conformance::fetch(&format!("http://127.0.0.1:{port}/metrics"));
    String::from_utf8(text)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
