//! Any bytes as an event: a message body (S3 event, SNS envelope, test event) as SQS delivers it,
//! the same wrapped in an SNS envelope, and as a raw object key. The parser must answer with records
//! or an `EventError`, never a panic; every created object it returns has a valid key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbnail_events::{Record, decode_key, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_key(text);
    let envelope = serde_json::json!({"Type": "Notification", "Message": text}).to_string();
    for body in [text, envelope.as_str()] {
        if let Ok(message) = parse(body) {
            for record in &message.records {
                if let Record::Created(object) = record {
                    assert!(!object.key.as_str().is_empty());
                    assert!(!object.bucket.is_empty());
                }
            }
        }
    }
});
