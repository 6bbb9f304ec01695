//! The parsers of setting values. Each takes the value as text (as the environment and `--set` give
//! it, and as a TOML value is turned into) and says what is wrong in words that follow the key:
//! "concurrency" + " must be at least 1".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thumbnail_core::{Presets, ThumbnailSpec};
use thumbnail_pipeline::OwnerRules;

use crate::{Backend, SETTINGS};

type Parsed<T> = Result<T, String>;

pub(crate) fn unknown_key(key: &str) -> String {
    let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    format!("unknown setting {key:?}; known: {}", known.join(", "))
}

/// A TOML value as the text the other sources would give: arrays (of presets) joined by commas.
pub(crate) fn toml_text(value: &toml::Value) -> Parsed<String> {
    toml_joined(value, ",")
}

/// A TOML value as text, the strings of an array joined by `separator`.
fn toml_joined(value: &toml::Value, separator: &str) -> Parsed<String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(text) => Ok(text.clone()),
                other => Err(format!("takes strings in a list, not {other}")),
            })
            .collect::<Parsed<Vec<_>>>()
            .map(|items| items.join(separator)),
        other => Err(format!("takes a string, number or boolean, not {other}")),
    }
}

/// `[presets.NAME]` tables as the definitions `THUMBNAIL_PRESETS` takes: `size` and each other key
/// become `NAME=SIZE:KEY=VALUE...` (a `format` list joined by `+`); a table without `size` takes the built-in preset of that name
/// as its start (an empty one is that preset as it is).
pub(crate) fn toml_presets(table: &toml::Table) -> Parsed<String> {
    let builtin = Presets::builtin();
    let mut items = Vec::new();
    for (name, value) in table {
        let toml::Value::Table(options) = value else {
            return Err(format!(
                "tables are [presets.NAME] tables of options, and {name} is not one"
            ));
        };
        let size = match options.get("size") {
            Some(size) => toml_text(size).map_err(|e| format!("{name}.size {e}"))?,
            None => match builtin.get(name) {
                Some(spec) => spec.size.to_string(),
                None => return Err(format!("{name} needs a size (it is not a built-in preset)")),
            },
        };
        let mut definition = format!("{name}={size}");
        for (key, value) in options.iter().filter(|(key, _)| *key != "size") {
            // `format = ["avif", "webp", "jpeg"]` is the list `format=avif+webp+jpeg`.
            let separator = if key == "format" { "+" } else { "," };
            let value = toml_joined(value, separator).map_err(|e| format!("{name}.{key} {e}"))?;
            definition.push_str(&format!(":{key}={value}"));
        }
        items.push(definition);
    }
    Ok(items.join(","))
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The memory this process may use: its cgroup's limit (v2 `memory.max`, or v1
/// `memory.limit_in_bytes`) when one is set, else the machine's memory; `None` when neither can
/// be read.
pub(crate) fn memory_limit() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limits = cgroup.lines().filter_map(|line| {
        // `0::/path` (v2), or `N:memory:/path` (v1).
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let file = match controllers {
            "" => format!("/sys/fs/cgroup{path}/memory.max"),
            c if c.split(',').any(|c| c == "memory") => {
                format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
            }
            _ => return None,
        };
        // `max` (v2) or a huge number (v1) mean no limit.
        std::fs::read_to_string(file)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    });
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib << 10)
        });
    limits.chain(machine).min()
}

pub(crate) fn backend(value: &str) -> Parsed<Backend> {
    match value.trim() {
        "local" => Ok(Backend::Local),
        "aws" => Ok(Backend::Aws),
        other => Err(format!("is local or aws, not {other:?}")),
    }
}

pub(crate) fn path(value: &str) -> Parsed<PathBuf> {
    match value.trim() {
        "" => Err("must not be empty".into()),
        _ => Ok(PathBuf::from(value)),
    }
}

pub(crate) fn name(value: &str) -> Parsed<String> {
    match value.trim() {
        "" => Err("must not be empty".into()),
        name => Ok(name.to_owned()),
    }
}

pub(crate) fn optional_name(value: &str) -> Parsed<Option<String>> {
    Ok(Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned))
}

/// A key prefix: empty, or segments joined by single slashes with none at either end, so that
/// `<prefix>/<key>` is the key it looks like.
pub(crate) fn prefix(value: &str) -> Parsed<String> {
    let value = value.trim();
    if value.starts_with('/') {
        Err("must not start with '/'".into())
    } else if value.ends_with('/') {
        Err(format!(
            "must not end with '/' (write {:?})",
            value.trim_end_matches('/')
        ))
    } else if value.contains("//") {
        Err("must not contain '//'".into())
    } else {
        Ok(value.to_owned())
    }
}

/// Preset names and `NAME=SIZE[:OPTION]...` definitions, comma-separated, at least one.
pub(crate) fn presets(value: &str) -> Parsed<Vec<ThumbnailSpec>> {
    let mut presets = Presets::builtin();
    let template = presets.require("profile").expect("built in").clone();
    let mut specs: Vec<ThumbnailSpec> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let spec = if item.contains('=') {
            presets.define(item, &template)
        } else {
            presets.require(item)
        }
        .map_err(|e| format!("{item:?}: {e}"))?
        .clone();
        if specs.iter().any(|s| s.name == spec.name) {
            return Err(format!("name preset {:?} twice", spec.name));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err("need at least one preset".into());
    }
    Ok(specs)
}

fn number(value: &str) -> Parsed<u64> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("takes a whole number, not {value:?}"))
}

/// Whole seconds from `min` to `max`.
pub(crate) fn seconds(min: u64, max: u64) -> impl Fn(&str) -> Parsed<Duration> {
    move |value| match number(value)? {
        n if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        n => Err(format!("must be from {min} to {max} seconds, not {n}")),
    }
}

pub(crate) fn boolean(value: &str) -> Parsed<bool> {
    match value.trim() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "" => Ok(false),
        other => Err(format!("is true or false, not {other:?}")),
    }
}

pub(crate) fn at_least_one(value: &str) -> Parsed<usize> {
    match number(value)? {
        0 => Err("must be at least 1".into()),
        n => usize::try_from(n).map_err(|_| format!("is too large: {n}")),
    }
}

pub(crate) fn address(value: &str) -> Parsed<Option<SocketAddr>> {
    match value.trim() {
        "" => Ok(None),
        addr => addr
            .parse()
            .map(Some)
            .map_err(|_| format!("is an address and port like 127.0.0.1:9100, not {addr:?}")),
    }
}

/// An `http://` or `https://` URL; empty for none.
pub(crate) fn optional_http_url(value: &str) -> Parsed<Option<String>> {
    let value = value.trim().trim_end_matches('/');
    if value.is_empty() {
        return Ok(None);
    }
    match value.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(Some(value.to_owned())),
        _ => Err(format!("is an http:// or https:// URL, not {value:?}")),
    }
}

/// A secret (a password in a URL, a signing key): kept as given; empty for none.
pub(crate) fn optional_secret(value: &str) -> Parsed<Option<crate::Secret>> {
    Ok(Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(|v| crate::Secret(v.to_owned())))
}

/// A decode tolerance: none, truncated, error or warning.
pub(crate) fn fail_on(value: &str) -> Parsed<thumbnail_core::FailOn> {
    value.parse()
}

/// A comma-separated list; empty for none.
pub(crate) fn list(value: &str) -> Parsed<Vec<String>> {
    Ok(value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A size in MiB, at least 1; empty for none.
pub(crate) fn optional_mebibytes(value: &str) -> Parsed<Option<u64>> {
    match value.trim() {
        "" => Ok(None),
        mib => match number(mib)? {
            0 => Err("must be at least 1 MiB (leave it unset for no budget)".into()),
            n if n > 1 << 30 => Err(format!("is too large: {n} MiB")),
            n => Ok(Some(n)),
        },
    }
}

pub(crate) fn receives(value: &str) -> Parsed<u32> {
    match number(value)? {
        n @ 2..=1000 => Ok(n as u32),
        n => Err(format!("must be from 2 to 1000, not {n}")),
    }
}

pub(crate) fn owner_rules(value: &str) -> Parsed<OwnerRules> {
    value.parse()
}

/// A Lambda memory size in MB: Lambda's range, 128 to 10240.
pub(crate) fn optional_megabytes(value: &str) -> Parsed<Option<u64>> {
    match value.trim() {
        "" => Ok(None),
        mb => match number(mb)? {
            n if (128..=10_240).contains(&n) => Ok(Some(n)),
            n => Err(format!("must be from 128 to 10240 MB, not {n}")),
        },
    }
}
