//! One storage test suite, run against SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set.

use lingxi_store::testing::{postgres_store, sqlite_store};
use lingxi_store::{ConversationFilter, NewKbEntry, NewMessage, Store, StoreError};
use lingxi_types::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `body` against every configured backend.
macro_rules! conformance {
    ($name:ident, $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> TestResult {
            let dir = tempfile::tempdir()?;
            let store = sqlite_store(dir.path()).await?;
            ($body)(store).await?;
            if let Some(pg) = postgres_store().await {
                ($body)(pg?).await?;
            }
            Ok(())
        }
    };
}

fn visitor_text(text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        author: Author::Visitor,
        author_user: None,
        author_name: None,
        text: text.to_owned(),
        client_id: client_id.map(str::to_owned),
    }
}

async fn tenant(store: &Store, slug: &str) -> Result<Tenant, StoreError> {
    store.create_tenant(slug, &format!("Shop {slug}"), &format!("wk_{slug}")).await
}

conformance!(messages_get_gapless_sequence_numbers_and_dedupe_by_client_id, |store: Store| async move {
    let t = tenant(&store, "a").await?;
    let v = store.upsert_visitor(t.id, None, "Visitor").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web).await?;
    assert_eq!(c.status, ConversationStatus::Bot);
    let first = store.append_message(t.id, c.id, visitor_text("你好 <b>hi</b>", Some("c1"))).await?;
    assert_eq!((first.message.seq, first.duplicate), (1, false));
    let again = store.append_message(t.id, c.id, visitor_text("你好 <b>hi</b>", Some("c1"))).await?;
    assert!(again.duplicate);
    assert_eq!(again.message.id, first.message.id);
    let second = store.append_message(t.id, c.id, visitor_text("second", None)).await?;
    assert_eq!(second.message.seq, 2);
    let all = store.messages_after(t.id, c.id, 0, 100).await?;
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(all[0].text, "你好 <b>hi</b>", "text is stored exactly as typed");
    assert_eq!(store.messages_after(t.id, c.id, 1, 100).await?.len(), 1);
    assert_eq!(store.conversation(t.id, c.id).await?.last_seq, 2);
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(concurrent_appends_never_skip_or_repeat_a_sequence_number, |store: Store| async move {
    let t = tenant(&store, "conc").await?;
    let v = store.upsert_visitor(t.id, None, "V").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web).await?;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        // Every message is sent twice with the same client id, as a retrying client would.
        let client_id = format!("cid-{}", i / 2);
        tasks.push(tokio::spawn(
            async move { store.append_message(t.id, c.id, visitor_text("x", Some(&client_id))).await },
        ));
    }
    for task in tasks {
        task.await??;
    }
    let all = store.messages_after(t.id, c.id, 0, 1000).await?;
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(nothing_is_readable_across_tenants, |store: Store| async move {
    let a = tenant(&store, "iso-a").await?;
    let b = tenant(&store, "iso-b").await?;
    let v = store.upsert_visitor(a.id, Some("ext-1"), "V").await?;
    let c = store.create_conversation(a.id, v.id, Channel::Web).await?;
    store.append_message(a.id, c.id, visitor_text("secret", None)).await?;
    store.create_kb_entry(a.id, NewKbEntry { question: "q".into(), answer: "a".into(), ..Default::default() }).await?;
    assert!(matches!(store.conversation(b.id, c.id).await, Err(StoreError::NotFound(_))));
    assert!(store.messages_after(b.id, c.id, 0, 100).await?.is_empty());
    assert!(store.list_conversations(b.id, &ConversationFilter::default()).await?.is_empty());
    assert!(store.list_kb_entries(b.id).await?.is_empty());
    assert!(matches!(store.append_message(b.id, c.id, visitor_text("x", None)).await, Err(StoreError::NotFound(_))));
    let moved = store
        .transition_conversation(b.id, c.id, &[ConversationStatus::Bot], ConversationStatus::Closed, None, None)
        .await?;
    assert!(moved.is_none());
    // The same external id in another tenant is another visitor.
    let other = store.upsert_visitor(b.id, Some("ext-1"), "W").await?;
    assert_ne!(other.id, v.id);
    assert_eq!(store.upsert_visitor(a.id, Some("ext-1"), "ignored").await?.id, v.id);
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(transitions_are_compare_and_set, |store: Store| async move {
    let t = tenant(&store, "cas").await?;
    let agent = store.create_user(t.id, "a@x.test", "Li Na", Role::Agent, "hash").await?;
    let v = store.upsert_visitor(t.id, None, "V").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web).await?;
    let queued = store
        .transition_conversation(
            t.id,
            c.id,
            &[ConversationStatus::Bot],
            ConversationStatus::Queued,
            None,
            Some(HandoffReason::VisitorRequest),
        )
        .await?
        .ok_or("queue")?;
    assert_eq!(queued.handoff_reason, Some(HandoffReason::VisitorRequest));
    let assigned = store
        .transition_conversation(
            t.id,
            c.id,
            &[ConversationStatus::Queued],
            ConversationStatus::Assigned,
            Some(agent.id),
            None,
        )
        .await?
        .ok_or("assign")?;
    assert_eq!(assigned.assigned_agent, Some(agent.id));
    assert_eq!(assigned.assigned_agent_name.as_deref(), Some("Li Na"));
    assert_eq!(assigned.handoff_reason, Some(HandoffReason::VisitorRequest), "reason is kept");
    let twice = store
        .transition_conversation(t.id, c.id, &[ConversationStatus::Queued], ConversationStatus::Assigned, None, None)
        .await?;
    assert!(twice.is_none(), "a second assignment from queued must lose");
    assert_eq!(store.agent_loads(t.id).await?, vec![(agent.id, 1)]);
    let closed = store
        .transition_conversation(
            t.id,
            c.id,
            &[ConversationStatus::Assigned],
            ConversationStatus::Closed,
            Some(agent.id),
            None,
        )
        .await?
        .ok_or("close")?;
    assert!(closed.closed_at.is_some());
    let listed = store
        .list_conversations(
            t.id,
            &ConversationFilter { statuses: vec![ConversationStatus::Closed], ..Default::default() },
        )
        .await?;
    assert_eq!(listed.len(), 1);
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(sessions_expire_and_revoke, |store: Store| async move {
    let t = tenant(&store, "sess").await?;
    let u = store.create_user(t.id, "s@x.test", "S", Role::Admin, "hash").await?;
    assert!(matches!(
        store.create_user(t.id, "s@x.test", "S2", Role::Agent, "hash").await,
        Err(StoreError::AlreadyExists(_))
    ));
    let now = chrono::Utc::now();
    store.create_session(t.id, u.id, "h1", now + chrono::Duration::hours(1)).await?;
    assert_eq!(store.live_session("h1", now).await?.map(|s| s.user_id), Some(u.id));
    assert!(store.live_session("h1", now + chrono::Duration::hours(2)).await?.is_none(), "expired");
    store.revoke_session(t.id, "h1").await?;
    assert!(store.live_session("h1", now).await?.is_none(), "revoked");
    let candidates = store.login_candidates("s@x.test").await?;
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].1, "hash");
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(kb_entries_round_trip, |store: Store| async move {
    let t = tenant(&store, "kb").await?;
    let e = store
        .create_kb_entry(
            t.id,
            NewKbEntry {
                question: "怎么退货".into(),
                similar_questions: vec!["如何退货".into(), "how do I return an item".into()],
                answer: "七天无理由退货".into(),
                category: "售后".into(),
            },
        )
        .await?;
    let all = store.list_kb_entries(t.id).await?;
    assert_eq!(all, vec![e.clone()]);
    store.delete_kb_entry(t.id, e.id).await?;
    assert!(store.list_kb_entries(t.id).await?.is_empty());
    assert!(matches!(store.delete_kb_entry(t.id, e.id).await, Err(StoreError::NotFound(_))));
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(events_are_recorded_per_conversation, |store: Store| async move {
    let t = tenant(&store, "ev").await?;
    let v = store.upsert_visitor(t.id, None, "V").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web).await?;
    store.record_event(t.id, Some(c.id), EventKind::ConversationOpened, serde_json::json!({})).await?;
    store
        .record_event(t.id, Some(c.id), EventKind::HandoffRequested, serde_json::json!({"reason": "visitor_request"}))
        .await?;
    let events = store.conversation_events(t.id, c.id).await?;
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![EventKind::ConversationOpened, EventKind::HandoffRequested]
    );
    assert_eq!(events[1].detail["reason"], "visitor_request");
    Ok::<_, Box<dyn std::error::Error>>(())
});
