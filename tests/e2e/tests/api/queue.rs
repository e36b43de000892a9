//! The `Queue` port's contract, run on the in-process twin and on SQS in moto: every message gets
//! its own result, in order; `Ok` means a receiver gets it with its body and attributes; a
//! message SQS would refuse is `Rejected` without costing its neighbours; an unreachable or
//! missing queue is `Unavailable` for every message, never `Ok`.

use std::time::Duration;

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use sfbridge_core::domain::FlowId;
use sfbridge_aws::SqsQueue;
use sfbridge_core::queue::{MemoryQueue, OutgoingMessage, Queue, QueueError};

use crate::helpers::moto_config;

const LIMIT: usize = 256 * 1024;

/// A queue under test and a way to read what reached it.
enum Subject {
    Memory(MemoryQueue),
    Sqs { queue: SqsQueue, client: aws_sdk_sqs::Client, url: String },
}

/// What a receiver sees of a message: body and attributes (sorted), for order-independent
/// comparison.
type Received = (String, Vec<(String, String)>);

impl Subject {
    fn memory() -> Self {
        Subject::Memory(MemoryQueue::new())
    }

    async fn sqs() -> Self {
        let client = aws_sdk_sqs::Client::new(&moto_config().await);
        let url = create_queue(&client).await;
        Subject::Sqs { queue: SqsQueue::new(client.clone(), &url), client, url }
    }

    fn queue(&self) -> &dyn Queue {
        match self {
            Subject::Memory(q) => q,
            Subject::Sqs { queue, .. } => queue,
        }
    }

    /// Everything on the queue, expecting `expected` messages (SQS may return fewer per call).
    async fn received(&self, expected: usize) -> Vec<Received> {
        let mut got: Vec<Received> = match self {
            Subject::Memory(q) => q.peek_all().into_iter().map(|m| (m.body, m.attributes)).collect(),
            Subject::Sqs { client, url, .. } => {
                let mut got = Vec::new();
                let mut empty_polls = 0;
                // Until the expected count, then one more poll to see that nothing else came.
                while empty_polls < 3 && got.len() <= expected {
                    let out = client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .message_attribute_names("All")
                        .visibility_timeout(300)
                        .wait_time_seconds(if got.len() == expected { 0 } else { 1 })
                        .send()
                        .await
                        .unwrap();
                    let messages = out.messages.unwrap_or_default();
                    if messages.is_empty() {
                        empty_polls += 1;
                        if got.len() == expected {
                            break;
                        }
                    }
                    for m in messages {
                        let attributes = m
                            .message_attributes
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(name, value)| {
                                assert_eq!(value.data_type(), "String", "{name}");
                                (name, value.string_value().unwrap().to_owned())
                            })
                            .collect();
                        got.push((m.body.unwrap(), attributes));
                    }
                }
                got
            }
        };
        for (_, attributes) in &mut got {
            attributes.sort();
        }
        got.sort();
        got
    }
}

async fn create_queue(client: &aws_sdk_sqs::Client) -> String {
    let name = format!("sfbridge-queue-test-{}", &FlowId::random().to_string()[..12]);
    client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::MaximumMessageSize, LIMIT.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

fn expected(messages: &[OutgoingMessage]) -> Vec<Received> {
    let mut want: Vec<Received> = messages
        .iter()
        .map(|m| {
            let mut attributes = m.attributes.clone();
            attributes.sort();
            (m.body.clone(), attributes)
        })
        .collect();
    want.sort();
    want
}

/// A sync command like the backend sends: JSON with an email, non-ASCII text, attributes.
fn command(n: usize) -> OutgoingMessage {
    OutgoingMessage::new(format!(
        r#"{{"version":1,"type":"activity","event_id":"evt_{n}","tenant_id":"team_42","activity":"email_sent","contact":{{"email":"ada{n}@example.com","name":"Ada Lovelace — Zoë ✓"}}}}"#
    ))
    .with_attribute("tenant_id", "team_42")
    .with_attribute("event_id", format!("evt_{n}"))
    .with_attribute("reason", format!("déjà vu {n}: \"quoted\" <tag> & more"))
}

fn assert_all_ok(results: &[Result<(), QueueError>]) {
    let failed: Vec<_> = results.iter().enumerate().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

// ---------------------------------------------------------------- 25 messages, three batches

async fn sends_everything_with_its_attributes(subject: Subject) {
    let messages: Vec<_> = (0..25).map(command).collect();
    let results = subject.queue().send(messages.clone()).await;
    assert_eq!(results.len(), 25);
    assert_all_ok(&results);
    assert_eq!(subject.received(25).await, expected(&messages));
    // Nothing to send is nothing to report.
    assert!(subject.queue().send(Vec::new()).await.is_empty());
}

#[tokio::test]
async fn memory_queue_sends_everything_with_its_attributes() {
    sends_everything_with_its_attributes(Subject::memory()).await;
}

#[tokio::test]
async fn sqs_sends_everything_with_its_attributes() {
    sends_everything_with_its_attributes(Subject::sqs().await).await;
}

// ---------------------------------------------------------------- large messages

/// Three 200 KiB messages: each fits, no two fit one 256 KiB batch; all arrive intact.
async fn large_messages_arrive_intact(subject: Subject) {
    let messages: Vec<_> = (0..3)
        .map(|i| OutgoingMessage::new(format!("{i}{}", "x".repeat(200 * 1024))).with_attribute("n", i.to_string()))
        .collect();
    let results = subject.queue().send(messages.clone()).await;
    assert_all_ok(&results);
    assert_eq!(subject.received(3).await, expected(&messages));
}

#[tokio::test]
async fn memory_queue_large_messages_arrive_intact() {
    large_messages_arrive_intact(Subject::memory()).await;
}

#[tokio::test]
async fn sqs_large_messages_arrive_intact() {
    large_messages_arrive_intact(Subject::sqs().await).await;
}

// ---------------------------------------------------------------- refused messages

/// An over-limit message (by body, or by body + attributes) and an empty one are Rejected; their
/// neighbours in the same batch are sent.
async fn refuses_what_sqs_would_and_keeps_the_neighbours(subject: Subject) {
    let at_limit = OutgoingMessage::new("y".repeat(LIMIT));
    let messages = vec![
        command(0),
        OutgoingMessage::new("z".repeat(LIMIT + 1)),
        command(1),
        OutgoingMessage::new("w".repeat(LIMIT - 8)).with_attribute("reason", "over"),
        OutgoingMessage::new(""),
        command(2),
        at_limit.clone(),
    ];
    let results = subject.queue().send(messages).await;
    assert_eq!(results.len(), 7);
    for i in [0, 2, 5, 6] {
        assert!(results[i].is_ok(), "message {i}: {:?}", results[i]);
    }
    for i in [1, 3, 4] {
        assert!(matches!(results[i], Err(QueueError::Rejected(_))), "message {i}: {:?}", results[i]);
    }
    assert_eq!(subject.received(4).await, expected(&[command(0), command(1), command(2), at_limit]));
}

#[tokio::test]
async fn memory_queue_refuses_what_sqs_would_and_keeps_the_neighbours() {
    refuses_what_sqs_would_and_keeps_the_neighbours(Subject::memory()).await;
}

#[tokio::test]
async fn sqs_refuses_what_sqs_would_and_keeps_the_neighbours() {
    refuses_what_sqs_would_and_keeps_the_neighbours(Subject::sqs().await).await;
}

// ---------------------------------------------------------------- no queue

#[tokio::test]
async fn sqs_deleted_queue_is_unavailable_for_every_message() {
    let client = aws_sdk_sqs::Client::new(&moto_config().await);
    let url = create_queue(&client).await;
    client.delete_queue().queue_url(&url).send().await.unwrap();
    let queue = SqsQueue::new(client, &url);
    let results = queue.send((0..12).map(command).collect()).await;
    assert_eq!(results.len(), 12);
    for (i, result) in results.iter().enumerate() {
        assert!(matches!(result, Err(QueueError::Unavailable(_))), "message {i}: {result:?}");
    }
    // The reason names the cause and carries no message body.
    let Err(QueueError::Unavailable(reason)) = &results[0] else { unreachable!() };
    assert!(reason.contains("NonExistentQueue") || reason.contains("QueueDoesNotExist"), "{reason}");
    assert!(!reason.contains("example.com"), "{reason}");
}

#[tokio::test]
async fn sqs_unreachable_endpoint_is_unavailable_for_every_message() {
    // A loopback port nothing listens on; one attempt, so the test does not wait for backoff.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = aws_sdk_sqs::config::Builder::from(&moto_config().await)
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    let queue = SqsQueue::new(aws_sdk_sqs::Client::from_conf(config), format!("http://127.0.0.1:{port}/000000000000/gone"));
    let started = std::time::Instant::now();
    let results = queue.send((0..3).map(command).collect()).await;
    assert!(results.iter().all(|r| matches!(r, Err(QueueError::Unavailable(_)))), "{results:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
