//! The shared bus over a real NATS server (`LINGXI_TEST_NATS_URL`, e.g. nats://127.0.0.1:4222; `scripts/test` sets
//! it when one runs; skipped otherwise): events cross nodes in order, a node does not get its own back twice, and
//! news for the others only stays off the local bus.

use lingxi_bus::{Bus, Event};
use lingxi_types::{ConversationId, TenantId};
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn receipt(tenant: TenantId, conversation: ConversationId, n: i64) -> Event {
    Event::Receipt { tenant_id: tenant, conversation_id: conversation, delivered_seq: n, read_seq: n }
}

async fn next(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
) -> Result<Event, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.map_err(|_| "no event within 5 s")??)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_nodes_in_order() -> TestResult {
    let Some(url) = std::env::var("LINGXI_TEST_NATS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: LINGXI_TEST_NATS_URL is not set");
        return Ok(());
    };
    // A subject of this run only, so parallel runs do not see each other.
    let subject = format!("lingxi.test.{}", ConversationId::generate());
    let a = Bus::connect_nats(&url, &subject, "a", 4096).await?;
    let b = Bus::connect_nats(&url, &subject, "b", 4096).await?;
    assert!(a.is_shared() && !Bus::default().is_shared());
    let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
    let (tenant, conversation) = (TenantId::generate(), ConversationId::generate());
    // NATS subscriptions are registered asynchronously: wait until b hears a.
    let mut heard = false;
    for _ in 0..50 {
        a.publish(receipt(tenant, conversation, 0));
        if tokio::time::timeout(Duration::from_millis(100), on_b.recv()).await.is_ok() {
            heard = true;
            break;
        }
    }
    assert!(heard, "node b never heard node a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    while on_a.try_recv().is_ok() {}
    while on_b.try_recv().is_ok() {}

    for n in 1..=500 {
        a.publish(receipt(tenant, conversation, n));
    }
    for n in 1..=500 {
        match next(&mut on_b).await? {
            Event::Receipt { delivered_seq, tenant_id, .. } => {
                assert_eq!((delivered_seq, tenant_id), (n, tenant), "in order, intact")
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
        match next(&mut on_a).await? {
            Event::Receipt { delivered_seq, .. } => assert_eq!(delivered_seq, n, "a sees its own once, locally"),
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(on_a.try_recv().is_err(), "a's own events do not come back from NATS");

    // News for the others reaches b only.
    a.publish_others(Event::KbChanged(tenant));
    assert!(matches!(next(&mut on_b).await?, Event::KbChanged(t) if t == tenant));
    a.publish_others(Event::BotSettingsChanged(tenant));
    assert!(matches!(next(&mut on_b).await?, Event::BotSettingsChanged(t) if t == tenant));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(on_a.try_recv().is_err(), "publish_others stays off the local bus");

    // Resync is local: never sent to the others.
    b.publish(Event::Resync);
    assert!(matches!(next(&mut on_b).await?, Event::Resync));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(on_a.try_recv().is_err(), "a Resync stays on its node");
    Ok(())
}
