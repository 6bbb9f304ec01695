//! The behaviour every [`Queue`] must have, written once and run against each implementation.
//!
//! Give [`run`] an empty queue of its own. Visibility timeouts here are 1 to 3 seconds, so a run takes
//! about ten seconds.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::{Delivery, OutgoingMessage, Queue, ReceiveOptions};

const SHORT: Duration = Duration::from_secs(1);

fn options(wait: Duration, visibility: Duration) -> ReceiveOptions {
    ReceiveOptions {
        max_messages: 10,
        wait,
        visibility,
    }
}

/// Runs every check against `queue`, which must start empty.
pub async fn run(queue: &dyn Queue) {
    messages_round_trip_and_ack_deletes(queue).await;
    release_makes_a_message_visible_again(queue).await;
    visibility_timeout_redelivers(queue).await;
    extend_keeps_a_message_hidden(queue).await;
    an_empty_queue_long_polls(queue).await;
    peek_shows_messages_taking_none(queue).await;
    depth_counts_messages_by_state(queue).await;
}

/// Receives until `count` deliveries arrived (SQS may spread them over several receives).
async fn receive_exactly(queue: &dyn Queue, count: usize, visibility: Duration) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for _ in 0..20 {
        if deliveries.len() >= count {
            break;
        }
        deliveries.extend(
            queue
                .receive(&options(SHORT, visibility))
                .await
                .expect("receive"),
        );
    }
    assert_eq!(deliveries.len(), count, "received {deliveries:?}");
    deliveries
}

async fn assert_empty_now(queue: &dyn Queue, why: &str) {
    let got = queue
        .receive(&options(Duration::ZERO, SHORT))
        .await
        .expect("receive");
    assert!(got.is_empty(), "{why}: got {got:?}");
}

/// Bodies and attributes arrive intact, in-flight messages are hidden, a batch ack deletes them.
pub async fn messages_round_trip_and_ack_deletes(queue: &dyn Queue) {
    let bodies: BTreeSet<String> = (0..3)
        .map(|i| format!("{{\"job\": {i}, \"key\": \"My Photo é+1.jpg\"}}"))
        .collect();
    for body in &bodies {
        queue
            .send(OutgoingMessage::new(body).with_attribute("reason", "testing é"))
            .await
            .expect("send");
    }
    let deliveries = receive_exactly(queue, 3, Duration::from_secs(30)).await;
    let received: BTreeSet<String> = deliveries.iter().map(|d| d.body.clone()).collect();
    assert_eq!(received, bodies);
    for d in &deliveries {
        assert_eq!(d.receive_count, 1, "first delivery");
        assert_eq!(
            d.attributes.get("reason").map(String::as_str),
            Some("testing é")
        );
        assert!(!d.id.is_empty() && d.has_receipt());
    }
    assert_empty_now(queue, "in-flight messages are hidden").await;
    queue.ack_batch(deliveries).await.expect("ack_batch");
}

/// A released message comes back at once, counted as a second receive.
pub async fn release_makes_a_message_visible_again(queue: &dyn Queue) {
    let id = queue
        .send(OutgoingMessage::new("release me"))
        .await
        .expect("send");
    let first = receive_exactly(queue, 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(first.id, id);
    queue.release(first, Duration::ZERO).await.expect("release");
    let second = receive_exactly(queue, 1, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    queue.ack(second).await.expect("ack");
    assert_empty_now(queue, "acknowledged").await;
}

/// A message neither acknowledged nor released comes back after its visibility timeout.
pub async fn visibility_timeout_redelivers(queue: &dyn Queue) {
    let id = queue
        .send(OutgoingMessage::new("forget me"))
        .await
        .expect("send");
    let first = receive_exactly(queue, 1, SHORT).await.remove(0);
    assert_eq!(first.id, id);
    // Dropped without ack, as a crashed worker would.
    drop(first);
    let again = queue
        .receive(&options(Duration::from_secs(5), Duration::from_secs(30)))
        .await
        .expect("receive");
    assert_eq!(again.len(), 1, "redelivered after the timeout: {again:?}");
    assert_eq!(
        (again[0].id.as_str(), again[0].receive_count),
        (id.as_str(), 2)
    );
    queue.ack_batch(again).await.expect("ack");
}

/// Extending the visibility keeps a slow job's message hidden past its first timeout.
pub async fn extend_keeps_a_message_hidden(queue: &dyn Queue) {
    queue
        .send(OutgoingMessage::new("slow job"))
        .await
        .expect("send");
    let delivery = receive_exactly(queue, 1, SHORT).await.remove(0);
    queue
        .extend(&delivery, Duration::from_secs(10))
        .await
        .expect("extend");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_empty_now(queue, "extended past the first timeout").await;
    queue.ack(delivery).await.expect("ack");
    assert_empty_now(queue, "acknowledged").await;
}

/// Receiving from an empty queue waits for the given time and returns nothing.
pub async fn an_empty_queue_long_polls(queue: &dyn Queue) {
    let started = tokio::time::Instant::now();
    let got = queue
        .receive(&options(SHORT, SHORT))
        .await
        .expect("receive");
    assert!(got.is_empty(), "{got:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "returned after {:?}",
        started.elapsed()
    );
}

/// Depth counts visible, in-flight and delayed messages (last: its delayed message stays).
pub async fn depth_counts_messages_by_state(queue: &dyn Queue) {
    use crate::Depth;
    assert_eq!(queue.depth().await.expect("depth"), Depth::default());
    for body in ["one", "two"] {
        queue.send(OutgoingMessage::new(body)).await.expect("send");
    }
    let mut later = OutgoingMessage::new("later");
    later.delay = Duration::from_secs(60);
    queue.send(later).await.expect("send");
    let expected = Depth {
        visible: 2,
        in_flight: 0,
        delayed: 1,
    };
    assert_eq!(queue.depth().await.expect("depth"), expected);
    let one = ReceiveOptions {
        max_messages: 1,
        ..options(SHORT, Duration::from_secs(30))
    };
    let taken = queue.receive(&one).await.expect("receive");
    assert_eq!(taken.len(), 1);
    let expected = Depth {
        visible: 1,
        in_flight: 1,
        delayed: 1,
    };
    assert_eq!(queue.depth().await.expect("depth"), expected);
    queue.ack_batch(taken).await.expect("ack");
    let rest = receive_exactly(queue, 1, Duration::from_secs(30)).await;
    queue.ack_batch(rest).await.expect("ack");
    assert_eq!(
        queue.depth().await.expect("depth").total(),
        1,
        "the delayed one"
    );
}

/// A peek shows what the queue holds, without receipts, and takes nothing: every message is still
/// there for a receive right after, and a peek of fewer shows fewer.
pub async fn peek_shows_messages_taking_none(queue: &dyn Queue) {
    for i in 0..3 {
        let message =
            OutgoingMessage::new(format!("peeked {i}")).with_attribute("n", i.to_string());
        queue.send(message).await.expect("send");
    }
    let shown = queue.peek(100).await.expect("peek");
    let bodies: BTreeSet<&str> = shown.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, BTreeSet::from(["peeked 0", "peeked 1", "peeked 2"]));
    assert!(shown.iter().all(|d| !d.has_receipt()), "{shown:?}");
    assert!(
        shown.iter().all(|d| d.attributes.contains_key("n")),
        "{shown:?}"
    );
    assert_eq!(queue.peek(2).await.expect("peek").len(), 2);
    // Nothing was taken: a receive at once gets all three.
    let taken = queue
        .receive(&options(Duration::ZERO, SHORT))
        .await
        .expect("receive");
    assert_eq!(taken.len(), 3, "a peek hid messages: {taken:?}");
    queue.ack_batch(taken).await.expect("ack");
}
