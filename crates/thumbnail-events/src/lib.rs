//! S3 event notifications as the thumbnail pipeline receives them: an SQS message body holding an S3
//! event, the same wrapped in an SNS envelope (S3 → SNS → SQS fan-out), or the `s3:TestEvent` S3
//! sends when a notification is configured.
//!
//! Records are parsed with the `aws_lambda_events` types. Parsing is lenient where S3 stand-ins are
//! terse (moto omits `userIdentity`, `requestParameters` and `responseElements`, which the types
//! require) and strict where it matters: every record is reported on its own, so one bad record in a
//! message of several does not lose the good ones.
//!
//! Object keys arrive URL-encoded (`+` for a space, `%2B` for a plus, `%C3%A9` for é); they are
//! decoded here into an [`ObjectKey`], which the events crate of the SDK does not do.
//!
//! ```
//! use thumbnail_events::{parse, Record};
//!
//! let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"2026-11-27T10:00:00.000Z",
//!   "s3":{"bucket":{"name":"uploads"},"object":{"key":"photos/My+Photo+%C3%A9%2B1.jpg","size":1234,"eTag":"abc"}}}]}"#;
//! let message = parse(body)?;
//! let Record::Created(object) = &message.records[0] else { panic!() };
//! assert_eq!((object.bucket.as_str(), object.key.as_str()), ("uploads", "photos/My Photo é+1.jpg"));
//! assert_eq!((object.size, object.etag.as_deref()), (Some(1234), Some("abc")));
//! # Ok::<(), thumbnail_events::EventError>(())
//! ```

#![warn(missing_docs)]

pub mod lambda;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use serde_json::{Map, Value};
use thumbnail_storage::ObjectKey;

/// An object that was created and needs thumbnails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedObject {
    /// The bucket.
    pub bucket: String,
    /// The decoded key.
    pub key: ObjectKey,
    /// The size the event reports.
    pub size: Option<u64>,
    /// The ETag the event reports (no quotes).
    pub etag: Option<String>,
    /// The event name, e.g. `ObjectCreated:Put`.
    pub event_name: String,
}

/// One record of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An `ObjectCreated:*` event: make thumbnails.
    Created(CreatedObject),
    /// Another kind of event (removal, restore, ...): nothing to do.
    Skipped {
        /// Its event name.
        event_name: String,
    },
    /// A record that cannot be used, and why (e.g. a key that does not decode).
    Invalid {
        /// The record's position in the message.
        index: usize,
        /// What is wrong with it.
        reason: String,
        /// The object it names, when what is wrong is its key (`..`, a leading `/`, a control
        /// character, ...): the bucket, and the key decoded as far as it goes, so a failure can be
        /// announced under the name the uploader knows.
        named: Option<NamedObject>,
    },
}

/// An object an event names by a key no store accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedObject {
    /// The bucket.
    pub bucket: String,
    /// The key, `+` and `%XX` decoded (invalid UTF-8 replaced).
    pub key: String,
}

/// A parsed message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Its records, in order. Empty for a test event.
    pub records: Vec<Record>,
    /// Whether this is the `s3:TestEvent` S3 sends when a notification is configured.
    pub test_event: bool,
}

/// Why a message is not an S3 event at all. Permanent: the same body never parses.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    /// JSON, but neither an S3 event, an SNS envelope of one, nor a test event.
    #[error("the message is not an S3 event notification: {0}")]
    NotAnEvent(String),
}

/// Parses a message body (as SQS delivers it, or a direct S3 event's JSON).
pub fn parse(body: &str) -> Result<Message, EventError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    parse_value(value)
}

/// Parses an already-decoded JSON value: used for events that arrive as JSON (Lambda).
pub fn parse_value(value: Value) -> Result<Message, EventError> {
    parse_at(value, 0)
}

/// `depth` counts SNS envelopes already opened: one is unwrapped, a second is refused.
fn parse_at(value: Value, depth: u8) -> Result<Message, EventError> {
    let Value::Object(object) = value else {
        return Err(EventError::NotAnEvent("expected a JSON object".into()));
    };
    if object.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Message {
            records: Vec::new(),
            test_event: true,
        });
    }
    // S3 → SNS → SQS: the S3 event is the envelope's Message, as a string. One level only.
    if object.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let inner = object
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| EventError::NotAnEvent("an SNS envelope without a Message".into()))?;
        let inner: Value = serde_json::from_str(inner)
            .map_err(|e| EventError::NotJson(format!("SNS Message: {e}")))?;
        return parse_at(inner, depth + 1);
    }
    let Some(Value::Array(records)) = object.get("Records") else {
        return Err(EventError::NotAnEvent("no Records array".into()));
    };
    Ok(Message {
        records: records
            .iter()
            .enumerate()
            .map(|(index, r)| record(index, r))
            .collect(),
        test_event: false,
    })
}

/// Parses one record on its own, filling in what S3 stand-ins leave out.
fn record(index: usize, raw: &Value) -> Record {
    let invalid = |reason: String| Record::Invalid {
        index,
        reason,
        named: None,
    };
    let Value::Object(fields) = raw else {
        return invalid("a record is not a JSON object".into());
    };
    let mut fields: Map<String, Value> = fields.clone();
    for (name, empty) in [
        ("userIdentity", Value::Object(Map::new())),
        ("requestParameters", Value::Object(Map::new())),
        ("responseElements", Value::Object(Map::new())),
        ("eventTime", Value::String("1970-01-01T00:00:00Z".into())),
    ] {
        fields.entry(name).or_insert(empty);
    }
    // Parsed as a one-record event: the types are the SDK's, only the wrapper is ours.
    let event = serde_json::json!({ "Records": [Value::Object(fields)] });
    let parsed: S3Event = match serde_json::from_value(event) {
        Ok(parsed) => parsed,
        Err(e) => return invalid(format!("not an S3 event record: {e}")),
    };
    let Some(record) = parsed.records.into_iter().next() else {
        return invalid("an empty record".into());
    };
    created(record).unwrap_or_else(|skip_or_invalid| match skip_or_invalid {
        Ok(event_name) => Record::Skipped { event_name },
        Err((reason, named)) => Record::Invalid {
            index,
            reason,
            named,
        },
    })
}

/// Why a record cannot be used, and the object it names if its key is the trouble.
type Unusable = (String, Option<NamedObject>);

/// The created object of a record; `Err(Ok(name))` for other events, `Err(Err(why))` if unusable.
fn created(record: S3EventRecord) -> Result<Record, Result<String, Unusable>> {
    let event_name = record.event_name.unwrap_or_default();
    if !event_name.starts_with("ObjectCreated:") {
        return Err(Ok(event_name));
    }
    let bucket = record
        .s3
        .bucket
        .name
        .filter(|b| !b.is_empty())
        .ok_or(Err(("no bucket name".to_owned(), None)))?;
    let raw_key = record
        .s3
        .object
        .key
        .ok_or(Err(("no object key".to_owned(), None)))?;
    let key = decode_key(&raw_key).map_err(|reason| {
        let key = String::from_utf8_lossy(&unescape(&raw_key)).into_owned();
        Err((
            reason,
            Some(NamedObject {
                bucket: bucket.clone(),
                key,
            }),
        ))
    })?;
    Ok(Record::Created(CreatedObject {
        bucket,
        key,
        size: record.s3.object.size.and_then(|s| u64::try_from(s).ok()),
        etag: record
            .s3
            .object
            .e_tag
            .map(|e| e.trim_matches('"').to_owned()),
        event_name,
    }))
}

/// Decodes an event key: `+` is a space, then `%XX` escapes, then UTF-8; the result must be a valid
/// [`ObjectKey`].
pub fn decode_key(raw: &str) -> Result<ObjectKey, String> {
    let decoded = String::from_utf8(unescape(raw))
        .map_err(|_| format!("key {raw:?} does not decode to UTF-8"))?;
    ObjectKey::new(decoded).map_err(|e| e.to_string())
}

/// What S3 leaves unescaped in event keys (besides letters and digits); a space becomes `+`.
const KEY_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b' ');

/// An S3 `ObjectCreated:Put` event (an SQS message body) for `key` in `bucket`, with the key
/// escaped as S3 escapes it, as sent by `source` (`eventSource`): what the local backend's
/// watcher and a backfill queue, and what [`parse`] reads back.
///
/// ```
/// let body = thumbnail_events::created_event("thumbnail:backfill", "uploads", "a b+é (100%).jpg", 10, Some("e1"));
/// let message = thumbnail_events::parse(&body)?;
/// let thumbnail_events::Record::Created(object) = &message.records[0] else { panic!() };
/// assert_eq!((object.key.as_str(), object.etag.as_deref()), ("a b+é (100%).jpg", Some("e1")));
/// # Ok::<(), thumbnail_events::EventError>(())
/// ```
pub fn created_event(
    source: &str,
    bucket: &str,
    key: &str,
    size: u64,
    etag: Option<&str>,
) -> String {
    let escaped = percent_encoding::utf8_percent_encode(key, KEY_ESCAPES)
        .to_string()
        .replace(' ', "+");
    let mut object = serde_json::json!({"key": escaped, "size": size});
    if let Some(etag) = etag {
        object["eTag"] = etag.into();
    }
    serde_json::json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": source,
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": object},
    }]})
    .to_string()
}

/// An event key's bytes: `+` is a space, then `%XX` escapes.
fn unescape(raw: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(&raw.replace('+', " ")).collect()
}
