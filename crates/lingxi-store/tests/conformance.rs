//! One storage test suite, run against SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set.

use lingxi_store::testing::{postgres_store, sqlite_store};
use lingxi_store::{
    BotTurnWrite, ConversationFilter, NewAudit, NewDecision, NewKbEntry, NewMessage, NewSession, Store, StoreError,
};
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
        attachment: None,
        bot: None,
    }
}

async fn tenant(store: &Store, slug: &str) -> Result<Tenant, StoreError> {
    store.create_tenant(slug, &format!("Shop {slug}"), &format!("wk_{slug}")).await
}

conformance!(messages_get_gapless_sequence_numbers_and_dedupe_by_client_id, |store: Store| async move {
    let t = tenant(&store, "a").await?;
    let v = store.upsert_visitor(t.id, None, "Visitor").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web, None).await?;
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
    let c = store.create_conversation(t.id, v.id, Channel::Web, None).await?;
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

conformance!(a_bot_turn_is_written_whole_and_read_back_with_its_conversation, |store: Store| async move {
    let t = tenant(&store, "turn").await?;
    let other = tenant(&store, "turn-b").await?;
    let v = store.upsert_visitor(t.id, None, "V").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web, None).await?;
    let asked = store.append_message(t.id, c.id, visitor_text("怎么退货", Some("q1"))).await?.message;
    let (read, memory, visitor) = store.bot_context(t.id, c.id).await?;
    assert_eq!((read.id, read.last_seq, memory), (c.id, 1, None));
    assert_eq!(visitor, store.visitor(t.id, v.id).await?, "the conversation's visitor, as read alone");

    let turn = BotTurnWrite {
        reply: Some(NewMessage { author: Author::Bot, ..visitor_text("七天无理由退货", None) }),
        decision: NewDecision {
            message_id: Some(asked.id),
            text: asked.text.clone(),
            outcome: "answer".into(),
            candidates: "[]".into(),
            ..NewDecision::default()
        },
        events: vec![
            (EventKind::GuessShown, serde_json::json!({"entries": []})),
            (EventKind::BotAnswered, serde_json::json!({"confidence": 0.9})),
        ],
        state: r#"{"turns":1}"#.into(),
        failures: 2,
        category: Some("售后".into()),
    };
    let reply = store.record_bot_turn(t.id, c.id, turn.clone()).await?.ok_or("the reply")?;
    assert_eq!((reply.seq, reply.author, reply.text.as_str()), (2, Author::Bot, "七天无理由退货"));
    let (read, memory, _) = store.bot_context(t.id, c.id).await?;
    assert_eq!(
        (read.last_seq, read.bot_failures, read.category.as_deref(), memory.as_deref()),
        (2, 2, Some("售后"), Some(r#"{"turns":1}"#))
    );
    let decisions = store.bot_decisions(t.id, c.id).await?;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision.reply_message_id, Some(reply.id));
    assert!(store.has_event(t.id, c.id, EventKind::GuessShown).await?);
    assert!(store.has_event(t.id, c.id, EventKind::BotAnswered).await?);

    // Without a reply: the memory only; no category keeps the one set.
    let quiet = BotTurnWrite { reply: None, category: None, state: "{}".into(), failures: 0, ..turn.clone() };
    assert!(store.record_bot_turn(t.id, c.id, quiet).await?.is_none());
    let (read, memory, _) = store.bot_context(t.id, c.id).await?;
    assert_eq!((read.last_seq, read.category.as_deref(), memory.as_deref()), (2, Some("售后"), Some("{}")));
    assert_eq!(store.bot_decisions(t.id, c.id).await?[1].decision.reply_message_id, None);

    // Another tenant's id reads and writes nothing, not even the decision.
    assert!(matches!(store.bot_context(other.id, c.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.record_bot_turn(other.id, c.id, turn.clone()).await, Err(StoreError::NotFound(_))));
    let quiet = BotTurnWrite { reply: None, ..turn };
    assert!(matches!(store.record_bot_turn(other.id, c.id, quiet).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.bot_decisions(t.id, c.id).await?.len(), 2);
    assert_eq!(store.messages_after(t.id, c.id, 0, 100).await?.len(), 2);
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(nothing_is_readable_across_tenants, |store: Store| async move {
    let a = tenant(&store, "iso-a").await?;
    let b = tenant(&store, "iso-b").await?;
    let v = store.upsert_visitor(a.id, Some("ext-1"), "V").await?;
    let c = store.create_conversation(a.id, v.id, Channel::Web, None).await?;
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
    let c = store.create_conversation(t.id, v.id, Channel::Web, None).await?;
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

conformance!(sessions_expire_idle_out_and_revoke, |store: Store| async move {
    let t = tenant(&store, "sess").await?;
    let u = store.create_user(t.id, "s@x.test", "S", Role::Admin, "hash").await?;
    assert!(matches!(
        store.create_user(t.id, "s@x.test", "S2", Role::Agent, "hash").await,
        Err(StoreError::AlreadyExists(_))
    ));
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let session = |hash: &str, id: &str| NewSession {
        token_hash: hash.into(),
        id: id.into(),
        expires_at: now + hour,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
    };
    store.create_session(t.id, u.id, session("h1", "s1")).await?;
    store.create_session(t.id, u.id, session("h2", "s2")).await?;
    let live = store.live_session("h1", now, now - hour).await?.ok_or("live")?;
    assert_eq!((live.user_id, live.id.as_str(), live.ip.as_deref()), (u.id, "s1", Some("127.0.0.1")));
    assert!(store.live_session("h1", now + hour * 2, now - hour).await?.is_none(), "expired");
    assert!(store.live_session("h1", now, now + chrono::Duration::minutes(1)).await?.is_none(), "idle");
    store.touch_session(t.id, "h1", now + chrono::Duration::minutes(2)).await?;
    assert!(store.live_session("h1", now, now + chrono::Duration::minutes(1)).await?.is_some(), "used again");
    assert_eq!(store.list_sessions(t.id, u.id, now).await?.len(), 2);
    store.revoke_session(t.id, "h1").await?;
    assert!(store.live_session("h1", now, now - hour).await?.is_none(), "revoked");
    let other = tenant(&store, "sess-other").await?;
    assert!(matches!(store.revoke_session_by_id(other.id, u.id, "s2").await, Err(StoreError::NotFound(_))));
    store.revoke_session_by_id(t.id, u.id, "s2").await?;
    assert!(store.list_sessions(t.id, u.id, now).await?.is_empty());
    let candidates = store.login_candidates("s@x.test").await?;
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].password_hash, "hash");
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(repeated_login_failures_lock_the_account_until_cleared, |store: Store| async move {
    let t = tenant(&store, "lock").await?;
    let u = store.create_user(t.id, "l@x.test", "L", Role::Agent, "hash").await?;
    let until = chrono::Utc::now() + chrono::Duration::minutes(15);
    assert_eq!(store.record_login_failure(t.id, u.id, 3, until).await?, None);
    assert_eq!(store.record_login_failure(t.id, u.id, 3, until).await?, None);
    assert!(store.record_login_failure(t.id, u.id, 3, until).await?.is_some(), "third failure locks");
    let c = &store.login_candidates("l@x.test").await?[0];
    assert_eq!((c.failed_logins, c.locked_until.is_some()), (3, true));
    store.clear_login_failures(t.id, u.id).await?;
    let c = &store.login_candidates("l@x.test").await?[0];
    assert_eq!((c.failed_logins, c.locked_until), (0, None));
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(the_audit_log_is_append_only_and_tenant_scoped, |store: Store| async move {
    let a = tenant(&store, "aud-a").await?;
    let b = tenant(&store, "aud-b").await?;
    store
        .audit(NewAudit {
            tenant_id: Some(a.id),
            action: "login.failure".into(),
            target: Some("x@a.test".into()),
            actor_ip: Some("10.0.0.1".into()),
            detail: serde_json::json!({"reason": "bad_password"}),
            ..Default::default()
        })
        .await?;
    let log = store.audit_log(a.id, 10).await?;
    assert_eq!((log.len(), log[0].action.as_str()), (1, "login.failure"));
    assert!(store.audit_log(b.id, 10).await?.is_empty());
    assert!(store.raw_execute("UPDATE audit_log SET action = 'x'").await.is_err(), "updates are refused");
    assert!(store.raw_execute("DELETE FROM audit_log").await.is_err(), "deletes are refused");
    assert_eq!(store.audit_log(a.id, 10).await?.len(), 1);
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
                channel_answers: [(
                    "api".to_owned(),
                    lingxi_types::ChannelAnswer {
                        answer: "<b>小程序</b>里申请".into(),
                        answer_text: "小程序里申请".into(),
                    },
                )]
                .into(),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(e.channel_answers["api"].answer_text, "小程序里申请");
    let all = store.list_kb_entries(t.id).await?;
    assert_eq!(all, vec![e.clone()]);
    // An update without channel answers removes them; a bulk upsert writes them back.
    let plain = NewKbEntry { question: e.question.clone(), answer: e.answer.clone(), ..Default::default() };
    assert!(store.update_kb_entry(t.id, e.id, plain).await?.channel_answers.is_empty());
    let with = NewKbEntry {
        question: e.question.clone(),
        answer: e.answer.clone(),
        channel_answers: e.channel_answers.clone(),
        ..Default::default()
    };
    let counts = store.upsert_kb_entries(t.id, std::slice::from_ref(&with), &mut |_| {}).await?;
    assert_eq!(counts.updated, 1);
    assert_eq!(store.kb_entry(t.id, e.id).await?.channel_answers, e.channel_answers);
    assert_eq!(store.upsert_kb_entries(t.id, &[with], &mut |_| {}).await?.unchanged, 1);
    store.delete_kb_entry(t.id, e.id).await?;
    assert!(store.list_kb_entries(t.id).await?.is_empty());
    assert!(matches!(store.delete_kb_entry(t.id, e.id).await, Err(StoreError::NotFound(_))));
    Ok::<_, Box<dyn std::error::Error>>(())
});

conformance!(events_are_recorded_per_conversation, |store: Store| async move {
    let t = tenant(&store, "ev").await?;
    let v = store.upsert_visitor(t.id, None, "V").await?;
    let c = store.create_conversation(t.id, v.id, Channel::Web, None).await?;
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
    assert!(store.has_event(t.id, c.id, EventKind::HandoffRequested).await?);
    assert!(!store.has_event(t.id, c.id, EventKind::FirstResponse).await?);
    let other = tenant(&store, "ev-other").await?;
    assert!(!store.has_event(other.id, c.id, EventKind::HandoffRequested).await?, "tenant-scoped");
    Ok::<_, Box<dyn std::error::Error>>(())
});

/// The knowledge base as the supervisor edits it: search, filters, paging, updates and bulk upserts.
mod kb {
    use super::*;
    use lingxi_store::KbFilter;

    fn entry(question: &str, answer: &str, category: &str, tags: &[&str]) -> NewKbEntry {
        NewKbEntry {
            question: question.into(),
            answer: answer.into(),
            category: category.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    fn questions(page: &(Vec<KbEntry>, i64)) -> Vec<&str> {
        let mut q: Vec<&str> = page.0.iter().map(|e| e.question.as_str()).collect();
        q.sort();
        q
    }

    conformance!(kb_search_filters_and_pages_within_the_tenant, |store: Store| async move {
        let t = tenant(&store, "kbs").await?;
        let other = tenant(&store, "kbs-other").await?;
        store
            .create_kb_entry(
                t.id,
                NewKbEntry {
                    similar_questions: vec!["如何退货".into()],
                    ..entry("怎么退货", "七天无理由退货", "售后/退货", &["退货", "热门"])
                },
            )
            .await?;
        store
            .create_kb_entry(t.id, entry("Return policy", "Returns within 7 DAYS", "售后/退货/政策", &["returns"]))
            .await?;
        store.create_kb_entry(t.id, entry("多久发货", "当天发货", "物流", &["热门"])).await?;
        store
            .create_kb_entry(t.id, NewKbEntry { enabled: false, ..entry("100% 正品吗", "是_的", "售后后", &[]) })
            .await?;
        store.create_kb_entry(other.id, entry("怎么退货", "别家的答案", "售后/退货", &["退货"])).await?;
        let find = |f: KbFilter| {
            let store = store.clone();
            async move { store.search_kb_entries(t.id, &f).await }
        };
        assert_eq!(find(KbFilter::default()).await?.1, 4, "only the tenant's entries");
        assert_eq!(
            questions(&find(KbFilter { q: Some("如何".into()), ..Default::default() }).await?),
            vec!["怎么退货"],
            "similar questions are searched"
        );
        assert_eq!(
            questions(&find(KbFilter { q: Some("7 days".into()), ..Default::default() }).await?),
            vec!["Return policy"],
            "answers, case-insensitively"
        );
        assert_eq!(
            questions(&find(KbFilter { q: Some("%".into()), ..Default::default() }).await?),
            vec!["100% 正品吗"],
            "LIKE wildcards are literal"
        );
        assert_eq!(
            questions(&find(KbFilter { q: Some("_".into()), ..Default::default() }).await?),
            vec!["100% 正品吗"],
            "only the literal _"
        );
        assert_eq!(
            questions(&find(KbFilter { category: Some("售后/退货".into()), ..Default::default() }).await?),
            vec!["Return policy", "怎么退货"],
            "a category includes its sub-categories but not a sibling sharing its prefix"
        );
        assert_eq!(questions(&find(KbFilter { category: Some("售后".into()), ..Default::default() }).await?).len(), 2);
        assert_eq!(
            questions(&find(KbFilter { tag: Some("热门".into()), ..Default::default() }).await?),
            vec!["多久发货", "怎么退货"]
        );
        assert_eq!(
            questions(&find(KbFilter { enabled: Some(false), ..Default::default() }).await?),
            vec!["100% 正品吗"]
        );
        let first = find(KbFilter { limit: 3, offset: 0, ..Default::default() }).await?;
        let second = find(KbFilter { limit: 3, offset: 3, ..Default::default() }).await?;
        assert_eq!((first.0.len(), second.0.len(), first.1, second.1), (3, 1, 4, 4));
        Ok::<_, Box<dyn std::error::Error>>(())
    });

    conformance!(kb_entries_update_get_and_refuse_duplicates_per_tenant, |store: Store| async move {
        let t = tenant(&store, "kbu").await?;
        let other = tenant(&store, "kbu-other").await?;
        let user = store.create_user(t.id, "a@kbu.test", "A", Role::Admin, "x").await?;
        let e = store
            .create_kb_entry(
                t.id,
                NewKbEntry { author: Some(user.id), ..entry("怎么退货", "<b>七天</b>", "售后", &[]) },
            )
            .await?;
        assert_eq!((e.created_by, e.updated_by, e.answer_text.as_str()), (Some(user.id), Some(user.id), "<b>七天</b>"));
        assert!(matches!(
            store.create_kb_entry(t.id, entry("怎么退货", "again", "", &[])).await,
            Err(StoreError::AlreadyExists(_))
        ));
        store.create_kb_entry(other.id, entry("怎么退货", "another tenant may", "", &[])).await?;
        let until = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")?.with_timezone(&chrono::Utc);
        let changed = NewKbEntry {
            valid_until: Some(until),
            enabled: false,
            answer_text: "七天".into(),
            ..entry("如何退货", "<b>七天</b>", "售后/退货", &["x"])
        };
        let u = store.update_kb_entry(t.id, e.id, NewKbEntry { author: None, ..changed.clone() }).await?;
        assert_eq!(
            (u.question.as_str(), u.answer_text.as_str(), u.enabled, u.valid_until, u.tags.clone()),
            ("如何退货", "七天", false, Some(until), vec!["x".to_owned()])
        );
        assert_eq!((u.created_by, u.created_at), (Some(user.id), e.created_at), "creation is kept");
        assert_eq!(store.kb_entry(t.id, e.id).await?, u);
        assert!(
            matches!(store.kb_entry(other.id, e.id).await, Err(StoreError::NotFound(_))),
            "no reads across tenants"
        );
        assert!(
            matches!(store.update_kb_entry(other.id, e.id, changed).await, Err(StoreError::NotFound(_))),
            "no writes across tenants"
        );
        let second = store.create_kb_entry(t.id, entry("多久发货", "当天", "", &[])).await?;
        assert!(matches!(
            store.update_kb_entry(t.id, second.id, entry("如何退货", "x", "", &[])).await,
            Err(StoreError::AlreadyExists(_))
        ));
        Ok::<_, Box<dyn std::error::Error>>(())
    });

    conformance!(kb_bulk_upsert_is_idempotent_and_all_or_nothing, |store: Store| async move {
        let t = tenant(&store, "kbi").await?;
        let other = tenant(&store, "kbi-other").await?;
        store.create_kb_entry(other.id, entry("q-1", "other tenant", "", &[])).await?;
        let existing = store.create_kb_entry(t.id, entry("q-0", "old answer", "", &[])).await?;
        let batch: Vec<NewKbEntry> =
            (0..450).map(|i| entry(&format!("q-{i}"), &format!("answer {i}"), "c", &["t"])).collect();
        let mut seen = Vec::new();
        let counts = store.upsert_kb_entries(t.id, &batch, &mut |n| seen.push(n)).await?;
        assert_eq!((counts.created, counts.updated, counts.unchanged), (449, 1, 0));
        assert_eq!(seen.last(), Some(&450));
        let again = store.upsert_kb_entries(t.id, &batch, &mut |_| {}).await?;
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 450), "re-importing changes nothing");
        let all = store.list_kb_entries(t.id).await?;
        assert_eq!(all.len(), 450);
        let q0 = all.iter().find(|e| e.question == "q-0").ok_or("q-0")?;
        assert_eq!((q0.id, q0.answer.as_str()), (existing.id, "answer 0"), "upsert keeps the id");
        assert_eq!(store.list_kb_entries(other.id).await?[0].answer, "other tenant");
        // A batch with a repeated standard question is refused as a whole.
        let mut bad: Vec<NewKbEntry> = (0..300).map(|i| entry(&format!("new-{i}"), "a", "", &[])).collect();
        bad.push(entry("new-0", "dup", "", &[]));
        assert!(store.upsert_kb_entries(t.id, &bad, &mut |_| {}).await.is_err());
        assert_eq!(store.list_kb_entries(t.id).await?.len(), 450);
        Ok::<_, Box<dyn std::error::Error>>(())
    });
}
