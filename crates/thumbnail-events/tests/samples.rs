//! Real message shapes: as AWS documents them, as moto sends them (captured from moto 5.2.5), and
//! wrapped by SNS.

use thumbnail_events::{CreatedObject, EventError, Record, decode_key, parse};

fn sample(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn created(record: &Record) -> &CreatedObject {
    match record {
        Record::Created(object) => object,
        other => panic!("expected a created object, got {other:?}"),
    }
}

#[test]
fn moto_events_parse_despite_missing_fields_and_keys_decode() {
    let message = parse(&sample("moto-object-created.json")).unwrap();
    assert!(!message.test_event);
    let object = created(&message.records[0]);
    assert_eq!(object.bucket, "uploads-sample");
    assert_eq!(
        object.key.as_str(),
        "photos/My Photo é+1.jpg",
        "moto encodes '/' as %2F too"
    );
    assert_eq!(
        (object.size, object.etag.as_deref()),
        (Some(10), Some("336311a016184326ddbdd61edd4eeb52"))
    );
    assert_eq!(object.event_name, "ObjectCreated:Put");
}

#[test]
fn aws_events_give_created_and_skipped_records_in_order() {
    let message = parse(&sample("aws-object-created.json")).unwrap();
    assert_eq!(message.records.len(), 2);
    let object = created(&message.records[0]);
    assert_eq!(
        (object.bucket.as_str(), object.key.as_str()),
        ("uploads", "albums/2026/Cover (final) 100%.png")
    );
    assert_eq!(object.size, Some(2_048_576));
    assert_eq!(
        message.records[1],
        Record::Skipped {
            event_name: "ObjectRemoved:Delete".into()
        }
    );
}

#[test]
fn sns_wrapped_events_unwrap() {
    let wrapped = parse(&sample("sns-wrapped.json")).unwrap();
    assert_eq!(wrapped, parse(&sample("aws-object-created.json")).unwrap());
}

#[test]
fn the_test_event_is_recognised() {
    let message = parse(&sample("moto-test-event.json")).unwrap();
    assert!(message.test_event && message.records.is_empty());
}

#[test]
fn one_bad_record_does_not_lose_the_good_ones() {
    let body = r#"{"Records":[
        {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"good.jpg"}}},
        {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"..%2Fescape.jpg"}}},
        {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"bad%FFutf8.jpg"}}},
        {"eventName":"ObjectCreated:Put","s3":"not an object"},
        {"eventName":"ObjectCreated:Copy","s3":{"bucket":{"name":"b"},"object":{"key":"also+good.jpg"}}}
    ]}"#;
    let message = parse(body).unwrap();
    assert_eq!(created(&message.records[0]).key.as_str(), "good.jpg");
    for (index, record) in message.records.iter().enumerate().skip(1).take(3) {
        assert!(
            matches!(record, Record::Invalid { index: i, .. } if *i == index),
            "{record:?}"
        );
    }
    assert_eq!(created(&message.records[4]).key.as_str(), "also good.jpg");
    // A record whose key is the trouble still says which object it names.
    let Record::Invalid { named, reason, .. } = &message.records[1] else {
        unreachable!()
    };
    let named = named.as_ref().expect("the object is named");
    assert_eq!(
        (named.bucket.as_str(), named.key.as_str()),
        ("b", "../escape.jpg")
    );
    assert!(reason.contains("'..'"), "{reason}");
    assert!(matches!(
        &message.records[3],
        Record::Invalid { named: None, .. }
    ));
}

#[test]
fn messages_that_are_not_events_are_errors() {
    assert!(matches!(parse("not json"), Err(EventError::NotJson(_))));
    assert!(matches!(parse("[1, 2]"), Err(EventError::NotAnEvent(_))));
    assert!(matches!(
        parse(r#"{"hello": "world"}"#),
        Err(EventError::NotAnEvent(_))
    ));
    assert!(matches!(
        parse(r#"{"Type": "Notification"}"#),
        Err(EventError::NotAnEvent(_))
    ));
}

#[test]
fn keys_decode_plus_percent_and_unicode() {
    let decode = |raw| decode_key(raw).map(|k| k.as_str().to_owned());
    assert_eq!(
        decode("My+Photo+%C3%A9%2B1.jpg").unwrap(),
        "My Photo é+1.jpg"
    );
    assert_eq!(decode("100%25+sure").unwrap(), "100% sure");
    assert_eq!(decode("a%2Fb/c").unwrap(), "a/b/c");
    assert_eq!(
        decode("cafe%CC%81").unwrap(),
        "cafe\u{301}",
        "NFD stays NFD"
    );
    assert!(decode("%2Fabsolute").is_err());
    assert!(decode("nul%00").is_err());
}
