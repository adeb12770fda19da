//! Storage tests, run on SQLite always and on PostgreSQL when
//! `TEST_POSTGRES_URL` is set (CI sets it).

use crate::support::db::TestDb;
use topicdesk::{
    domain::{TicketId, TicketStatus},
    storage::{NewTicket, ReopenOutcome},
};

fn new_ticket(customer: i64) -> NewTicket {
    NewTicket {
        customer_id: customer,
        customer_chat_id: customer,
        customer_name: "Bob Smith".into(),
        customer_username: Some("bob".into()),
        language: "en".into(),
        category: "billing".into(),
        required_skill: "billing".into(),
        description: "charged twice — ¿por qué? 😀".into(),
        description_message_id: 7,
        description_has_media: true,
        created_at_ms: 1_700_000_000_000,
    }
}

#[tokio::test]
async fn tickets_are_created_found_and_closed() {
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        let t = s.create_ticket(&new_ticket(100)).await.expect("create");
        assert_eq!(t.status, TicketStatus::Open, "{backend}");
        assert_eq!(t.description, "charged twice — ¿por qué? 😀", "{backend}");
        assert!(t.description_has_media, "{backend}");
        assert_eq!(t.thread_id, None, "{backend}");

        let found = s.open_ticket_of_customer(100).await.expect("query").expect("open ticket");
        assert_eq!(found, t, "{backend}");
        assert_eq!(s.open_ticket_of_customer(101).await.expect("query"), None, "{backend}");

        assert_eq!(s.tickets_missing_topic(10).await.expect("q").len(), 1, "{backend}");
        s.set_ticket_thread(t.id, 55).await.expect("thread");
        s.set_ticket_note(t.id, 56).await.expect("note");
        assert!(s.tickets_missing_topic(10).await.expect("q").is_empty(), "{backend}");
        let by_thread = s.ticket_by_thread(55).await.expect("q").expect("by thread");
        assert_eq!((by_thread.id, by_thread.note_message_id), (t.id, Some(56)), "{backend}");

        assert!(s.record_first_response(t.id, 1_700_000_060_000).await.expect("q"), "{backend}");
        assert!(!s.record_first_response(t.id, 1_700_000_090_000).await.expect("q"), "{backend}");
        let t2 = s.ticket(t.id).await.expect("q").expect("exists");
        assert_eq!(t2.first_response_at_ms, Some(1_700_000_060_000), "{backend}");

        assert!(s.close_ticket(t.id, 1_700_000_100_000, Some(77)).await.expect("close"), "{backend}");
        assert!(!s.close_ticket(t.id, 1_700_000_100_001, Some(78)).await.expect("close"), "{backend}");
        assert!(!s.close_ticket(t.id, 1_700_000_100_001, None).await.expect("close"), "{backend}");
        assert!(
            s.close_ticket(t.id, 1_700_000_100_002, Some(77)).await.expect("close"),
            "{backend}: the update that closed it, replayed, sees its own close"
        );
        assert!(s.ticket_changed_by(t.id, Some(77)).await.expect("q"), "{backend}");
        assert!(!s.ticket_changed_by(t.id, Some(78)).await.expect("q"), "{backend}");
        assert!(!s.ticket_changed_by(t.id, None).await.expect("q"), "{backend}");
        let closed = s.ticket(t.id).await.expect("q").expect("exists");
        assert_eq!((closed.status, closed.closed_at_ms), (TicketStatus::Closed, Some(1_700_000_100_000)));
        assert_eq!(s.open_ticket_of_customer(100).await.expect("q"), None, "{backend}");

        s.reset_ticket_topic(t.id).await.expect("reset");
        let reset = s.ticket(t.id).await.expect("q").expect("exists");
        assert_eq!((reset.thread_id, reset.note_message_id), (None, None), "{backend}");
        db.destroy().await;
    }
}

#[tokio::test]
async fn a_customer_has_at_most_one_open_ticket() {
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        let first = s.create_ticket(&new_ticket(200)).await.expect("create");
        assert!(s.create_ticket(&new_ticket(200)).await.is_err(), "{backend}: second open ticket refused");

        s.close_ticket(first.id, 1, None).await.expect("close");
        let second = s.create_ticket(&new_ticket(200)).await.expect("a new ticket after closing");
        assert!(second.id > first.id, "{backend}");

        assert_eq!(
            s.reopen_ticket(first.id, 50, Some(5)).await.expect("reopen"),
            ReopenOutcome::CustomerHasOpenTicket(second.id),
            "{backend}"
        );
        assert_eq!(
            s.reopen_ticket(second.id, 50, None).await.expect("q"),
            ReopenOutcome::AlreadyOpen,
            "{backend}"
        );
        s.close_ticket(second.id, 2, None).await.expect("close");
        assert_eq!(
            s.reopen_ticket(first.id, 50, Some(5)).await.expect("q"),
            ReopenOutcome::Reopened,
            "{backend}"
        );
        assert_eq!(
            s.reopen_ticket(first.id, 50, Some(5)).await.expect("q"),
            ReopenOutcome::Reopened,
            "{backend}: a replay of the reopening update sees its own reopen"
        );
        assert_eq!(
            s.reopen_ticket(first.id, 60, Some(6)).await.expect("q"),
            ReopenOutcome::AlreadyOpen,
            "{backend}"
        );
        assert_eq!(
            s.reopen_ticket(TicketId(9999), 60, None).await.expect("q"),
            ReopenOutcome::NotFound,
            "{backend}"
        );
        db.destroy().await;
    }
}

#[tokio::test]
async fn dialogues_are_upserted_and_removed() {
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        assert_eq!(s.dialogue(5).await.expect("q"), None, "{backend}");
        s.set_dialogue(5, "one", 1).await.expect("set");
        s.set_dialogue(5, "two", 2).await.expect("upsert");
        assert_eq!(s.dialogue(5).await.expect("q").as_deref(), Some("two"), "{backend}");
        s.remove_dialogue(5).await.expect("remove");
        s.remove_dialogue(5).await.expect("removing twice is fine");
        assert_eq!(s.dialogue(5).await.expect("q"), None, "{backend}");
        db.destroy().await;
    }
}

#[tokio::test]
async fn the_inbox_deduplicates_and_replays_in_order() {
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        assert!(s.inbox_record(3, "{\"c\":3}", 10).await.expect("q"), "{backend}");
        assert!(s.inbox_record(1, "{\"c\":1}", 10).await.expect("q"), "{backend}");
        assert!(!s.inbox_record(1, "{\"c\":1}", 11).await.expect("q"), "{backend}: re-delivery detected");
        s.inbox_mark_handled(3, 20, None).await.expect("mark");
        let pending = s.inbox_pending(10).await.expect("q");
        assert_eq!(pending.iter().map(|p| p.update_id).collect::<Vec<_>>(), vec![1], "{backend}");
        assert_eq!(pending[0].payload, "{\"c\":1}", "{backend}");
        s.inbox_mark_handled(1, 21, Some("boom")).await.expect("mark");
        assert!(s.inbox_pending(10).await.expect("q").is_empty(), "{backend}");
        assert_eq!(s.inbox_prune(11, 5).await.expect("prune"), 1, "{backend}: the failed update is kept");
        assert!(
            !s.inbox_record(1, "{}", 30).await.expect("q"),
            "{backend}: the failed update is still there"
        );
        assert_eq!(s.inbox_prune(11, 11).await.expect("prune"), 1, "{backend}: failed ones go later");
        assert!(s.inbox_record(1, "{}", 30).await.expect("q"), "{backend}: pruned ids are forgotten");
        db.destroy().await;
    }
}

#[tokio::test]
async fn outbox_rows_are_stored_with_their_inbox_mark_once_and_finished_in_batches() {
    use topicdesk::storage::{DialogueChange, FinishedJob, HandledUpdate, QueuedRow};

    let row = |lane: &str, key: &str| QueuedRow {
        lane: lane.into(),
        priority: 1,
        job: format!("{{\"key\":\"{key}\"}}"),
        dedupe_key: key.into(),
        ticket_id: None,
    };
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        let batch = s.inbox_record_batch(&[(7, "{}".into()), (8, "{}".into()), (7, "{}".into())], 1).await;
        assert_eq!(batch.expect("q"), vec![true, true, false], "{backend}: a re-delivery in one batch");
        let handled = [
            HandledUpdate {
                update_id: 7,
                rows: vec![row("t:1", "7:0"), row("c:5", "7:1")],
                dialogues: vec![
                    DialogueChange { chat_id: 5, state: Some("{\"v\":2}".into()) },
                    DialogueChange { chat_id: 6, state: None },
                ],
                error: None,
            },
            HandledUpdate {
                update_id: 8,
                rows: vec![row("t:1", "8:0")],
                dialogues: vec![],
                error: Some("x".into()),
            },
        ];
        s.set_dialogue(6, "{\"v\":1}", 1).await.expect("dialogue");
        s.commit_handled(&handled, 2).await.expect("commit");
        assert!(s.inbox_pending(10).await.expect("q").is_empty(), "{backend}: both marked");
        assert_eq!(s.dialogue(5).await.expect("q").as_deref(), Some("{\"v\":2}"), "{backend}: with the mark");
        assert_eq!(s.dialogue(6).await.expect("q"), None, "{backend}: removed with the mark");
        // A replay of update 7 stores nothing twice.
        s.commit_handled(&handled[..1], 3).await.expect("replay");
        let pending = s.outbox_pending(0, 10).await.expect("q");
        let lanes: Vec<&str> = pending.iter().map(|r| r.lane.as_str()).collect();
        assert_eq!(lanes, ["t:1", "c:5", "t:1"], "{backend}: in id order");
        assert_eq!(s.outbox_pending(pending[1].id, 10).await.expect("q").len(), 1, "{backend}: cursor");
        let pair = |origin: i32, copy: i32| topicdesk::storage::MessagePair {
            origin_chat: 5,
            origin_message: origin,
            copy_chat: -100,
            copy_message: copy,
            ticket_id: 1,
        };
        let finished = [
            FinishedJob {
                id: pending[0].id,
                refused: None,
                pairs: vec![pair(70, 900), pair(71, 901)],
                group_messages: 1,
            },
            FinishedJob {
                id: pending[1].id,
                refused: Some("Forbidden: bot was blocked by the user".into()),
                pairs: Vec::new(),
                group_messages: 0,
            },
        ];
        s.outbox_finish(&finished, 4).await.expect("finish");
        // The pairs a job relayed are written with its mark.
        assert_eq!(s.counterpart(1, 5, 71).await.expect("q"), Some((-100, 901)), "{backend}");
        assert_eq!(s.counterpart(1, -100, 900).await.expect("q"), Some((5, 70)), "{backend}");
        let counts = s.outbox_counts().await.expect("q");
        assert_eq!((counts.pending, counts.failed), (1, 1), "{backend}");
        use topicdesk::domain::Lane;
        assert!(s.outbox_lane_busy(&Lane::Ticket(1)).await.expect("q"), "{backend}");
        let chat = Lane::Chat { chat: 5, thread: None };
        assert!(!s.outbox_lane_busy(&chat).await.expect("q"), "{backend}");
        assert!(s.outbox_refused_since(&chat, 4).await.expect("q"), "{backend}");
        assert_eq!(s.outbox_prune(100).await.expect("prune"), 2, "{backend}: finished rows only");
        db.destroy().await;
    }
}

#[tokio::test]
async fn sqlite_creates_its_file_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("nested.db");
    let url = topicdesk::config::DatabaseUrl::Sqlite(format!("sqlite://{}", path.display()));
    let first = topicdesk::storage::Storage::connect(&url).await.expect("create");
    first.create_ticket(&new_ticket(1)).await.expect("write");
    first.close().await;
    assert!(path.exists());
    let again = topicdesk::storage::Storage::connect(&url).await.expect("reopen and re-run migrations");
    assert!(again.open_ticket_of_customer(1).await.expect("q").is_some(), "data survives a restart");
    again.ping().await.expect("ping");
}

#[tokio::test]
async fn agents_skills_and_the_roster() {
    use topicdesk::{
        domain::{SkillLevel, SkillName},
        routing::AgentStatus,
        storage::AgentUpsert,
    };
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        assert_eq!(
            s.upsert_agent(1001, "Alice", 5, 10, None).await.expect("add"),
            AgentUpsert::Added,
            "{backend}"
        );
        assert_eq!(s.upsert_agent(1001, "Alice", 3, 11, None).await.expect("update"), AgentUpsert::Updated);
        assert_eq!(s.upsert_agent(1002, "Bob", 2, 12, None).await.expect("add"), AgentUpsert::Added);
        assert!(
            s.set_agent_skill(1001, &SkillLevel::parse("billing:3").expect("skill"), None).await.expect("q")
        );
        assert!(
            s.set_agent_skill(1001, &SkillLevel::parse("general:1").expect("skill"), None).await.expect("q")
        );
        assert!(
            s.set_agent_skill(1001, &SkillLevel::parse("billing:2").expect("skill"), None)
                .await
                .expect("level change")
        );
        assert!(
            !s.set_agent_skill(4242, &SkillLevel::parse("billing").expect("skill"), None).await.expect("q")
        );
        assert!(s.remove_agent_skill(1001, &SkillName::parse("general").expect("s"), None).await.expect("q"));
        assert!(
            !s.remove_agent_skill(1001, &SkillName::parse("general").expect("s"), None).await.expect("q")
        );
        // The name an agent goes by comes with their status commands.
        assert!(s.set_agent_status(1002, AgentStatus::Available, 15, Some("Bob B."), None).await.expect("q"));

        let roster = s.roster().await.expect("roster");
        assert_eq!(roster.len(), 2, "{backend}");
        let alice = &roster[0];
        assert_eq!((alice.id, alice.capacity, alice.status), (1001, 3, AgentStatus::Available), "{backend}");
        assert_eq!(alice.skills, vec![SkillLevel::parse("billing:2").expect("s")], "{backend}");
        assert_eq!(roster[1].name, "Bob B.", "{backend}");

        assert!(s.set_agent_status(1002, AgentStatus::Away, 20, None, None).await.expect("q"));
        assert!(s.set_agent_status(1002, AgentStatus::Available, 30, None, None).await.expect("q"));
        assert_eq!(
            s.agent(1002).await.expect("q").expect("bob").idle_since_ms,
            30,
            "{backend}: idle clock restarted"
        );
        assert!(!s.set_agent_status(4242, AgentStatus::Away, 20, None, None).await.expect("q"));

        s.audit(1, "agent_add", Some(1001), "capacity 5", 10).await.expect("audit");
        let entries = s.audit_entries(10).await.expect("q");
        assert_eq!(entries[0].2, "agent_add", "{backend}");

        // A roster change and its audit row are written together, once per
        // update: a replay of the update finds its change made.
        let skill = SkillLevel::parse("billing:1").expect("skill");
        let by_update = |update: i64| topicdesk::storage::Audit {
            update_id: Some(update),
            actor_id: 1,
            action: "skill_add",
            details: "billing:1".into(),
            at_ms: 40,
        };
        assert!(!s.audited_update(900).await.expect("q"), "{backend}");
        assert!(s.set_agent_skill(1001, &skill, Some(&by_update(900))).await.expect("q"));
        assert!(s.audited_update(900).await.expect("q"), "{backend}");
        assert!(s.set_agent_skill(1001, &skill, Some(&by_update(900))).await.expect("replay"));
        let logged = s.audit_entries(50).await.expect("q").iter().filter(|e| e.2 == "skill_add").count();
        assert_eq!(logged, 1, "{backend}: logged once");
        assert!(!s.set_agent_skill(4242, &skill, Some(&by_update(901))).await.expect("q"));
        assert!(!s.audited_update(901).await.expect("q"), "{backend}: no change, no row");

        assert_eq!(s.remove_agent(4242, None).await.expect("q"), None, "{backend}");
        assert_eq!(s.remove_agent(1002, None).await.expect("q"), Some(vec![]), "{backend}");
        assert_eq!(s.roster().await.expect("q").len(), 1, "{backend}");
        db.destroy().await;
    }
}

#[tokio::test]
async fn assignments_are_atomic_respect_capacity_and_feed_the_queue() {
    use topicdesk::{domain::Tier, storage::Assignment};
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        s.upsert_agent(1001, "Alice", 1, 0, None).await.expect("add");
        s.upsert_agent(1002, "Bob", 5, 0, None).await.expect("add");
        let mut low = new_ticket(1);
        low.created_at_ms = 100;
        let low = s.create_ticket(&low).await.expect("t");
        let mut high = new_ticket(2);
        high.created_at_ms = 200;
        let high = s.create_ticket(&high).await.expect("t");
        let mut old_high = new_ticket(3);
        old_high.created_at_ms = 50;
        let old_high = s.create_ticket(&old_high).await.expect("t");
        s.set_ticket_enrichment(low.id, Some(Tier::Basic), 10, Some("{}"), None).await.expect("q");
        s.set_ticket_enrichment(high.id, Some(Tier::Premium), 100, Some("{}"), None).await.expect("q");
        s.set_ticket_enrichment(old_high.id, Some(Tier::Premium), 100, Some("{}"), None).await.expect("q");
        let queue: Vec<_> = s.queue(10).await.expect("q").into_iter().map(|t| t.id).collect();
        assert_eq!(queue, vec![old_high.id, high.id, low.id], "{backend}: priority, then age");

        let to = |agent_id| Assignment {
            agent_id,
            rule: "specialist",
            reason: "because",
            now_ms: 500,
            by_update: None,
            restart_override_at: None,
        };
        assert!(s.assign_ticket(high.id, None, &to(1001)).await.expect("q"), "{backend}");
        assert!(!s.assign_ticket(high.id, None, &to(1002)).await.expect("q"), "{backend}: already claimed");
        assert!(
            !s.assign_ticket(low.id, None, &to(1001)).await.expect("q"),
            "{backend}: Alice is at capacity"
        );
        assert!(s.assign_ticket(high.id, Some(1001), &to(1002)).await.expect("q"), "{backend}: reassignment");
        let t = s.ticket(high.id).await.expect("q").expect("t");
        assert_eq!(
            (t.assignee_id, t.routing_rule.as_deref(), t.assigned_at_ms),
            (Some(1002), Some("specialist"), Some(500))
        );
        assert_eq!(s.agent(1002).await.expect("q").expect("bob").open_tickets, 1, "{backend}");
        assert_eq!(s.queue(10).await.expect("q").len(), 2, "{backend}");

        let released = s.remove_agent(1002, None).await.expect("q").expect("removed");
        assert_eq!(released, vec![high.id.0], "{backend}");
        assert_eq!(s.queue(10).await.expect("q").len(), 3, "{backend}: released ticket is back in the queue");
        db.destroy().await;
    }
}

/// The queries that run on every maintenance tick, every topic repair and
/// every `/stats` use an index, not a scan of the whole table (SQLite's
/// query plan; issue 11).
#[tokio::test]
async fn hot_queries_use_their_indexes() {
    use sqlx::{Connection, Row};
    let db = TestDb::sqlite().await;
    let topicdesk::config::DatabaseUrl::Sqlite(url) = &db.url else { unreachable!("sqlite") };
    let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
    let cases = [
        (
            "DELETE FROM inbox WHERE handled_at IS NOT NULL AND received_at < 1 AND (error IS NULL OR received_at < 2)",
            "inbox_handled_by_age",
        ),
        ("SELECT id FROM outbox WHERE lane = 't:1' AND failed_at >= 5 LIMIT 1", "outbox_refused_by_lane"),
        (
            "SELECT id FROM outbox WHERE lane = 't:1' AND done_at IS NULL AND failed_at IS NULL LIMIT 1",
            "outbox_pending_by_lane",
        ),
        (
            "SELECT tier, created_at, first_response_at, closed_at FROM tickets WHERE created_at >= 5",
            "tickets_by_created_at",
        ),
    ];
    for (query, index) in cases {
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
            .fetch_all(&mut conn)
            .await
            .expect("explain")
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(plan.iter().any(|step| step.contains(index)), "{query}: {plan:?}");
    }
    conn.close().await.ok();
    db.destroy().await;
}

/// The pairs of relayed messages and their copies (DESIGN §12): found from
/// either side, recorded once.
#[tokio::test]
async fn message_pairs_are_found_from_either_side() {
    use topicdesk::storage::MessagePair;
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        let pair = MessagePair {
            origin_chat: 42,
            origin_message: 7,
            copy_chat: -100_123,
            copy_message: 900,
            ticket_id: 1,
        };
        s.record_pair(&pair, 1).await.expect("record");
        // A job run again after a crash records the same origin again: kept once.
        s.record_pair(&MessagePair { copy_message: 901, ..pair }, 2).await.expect("again");
        assert_eq!(s.counterpart(1, 42, 7).await.expect("q"), Some((-100_123, 900)), "{backend}");
        assert_eq!(s.counterpart(1, -100_123, 900).await.expect("q"), Some((42, 7)), "{backend}");
        assert_eq!(s.counterpart(1, 42, 8).await.expect("q"), None, "{backend}");
        assert_eq!(
            s.counterpart(1, -100_123, 7).await.expect("q"),
            None,
            "{backend}: chats are not mixed up"
        );
        assert_eq!(s.counterpart(2, 42, 7).await.expect("q"), None, "{backend}: another ticket's message");
        db.destroy().await;
    }
}

/// A batch claim whose ticket changed meanwhile takes no room from its
/// agent: the next claim for that agent still fits (both backends).
#[tokio::test]
async fn a_stale_claim_takes_no_room() {
    use topicdesk::storage::{Assignment, Claim};
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        s.upsert_agent(1, "Ann", 1, 0, None).await.expect("agent");
        s.upsert_agent(2, "Ben", 5, 0, None).await.expect("agent");
        let first = s.create_ticket(&new_ticket(10)).await.expect("t1").id;
        let second = s.create_ticket(&new_ticket(11)).await.expect("t2").id;
        let to = |agent: i64| Assignment {
            agent_id: agent,
            rule: "specialist",
            reason: "test",
            now_ms: 5,
            by_update: None,
            restart_override_at: None,
        };
        // Someone else took the first ticket before the batch ran.
        assert!(s.assign_ticket(first, None, &to(2)).await.expect("take"), "{backend}");
        let claims = [
            Claim { ticket: first, expected: None, assignment: to(1) },
            Claim { ticket: second, expected: None, assignment: to(1) },
        ];
        assert_eq!(s.assign_tickets(&claims).await.expect("batch"), vec![false, true], "{backend}");
        let second = s.ticket(second).await.expect("q").expect("t");
        assert_eq!(second.assignee_id, Some(1), "{backend}");
        db.destroy().await;
    }
}

/// DESIGN §13: waiting → assigned → answered → closed, each with its
/// timestamp; a reopen makes the ticket assigned again (its very first
/// response is kept for first-response figures) until an agent answers.
#[tokio::test]
async fn the_lifecycle_states_are_stored_with_their_timestamps() {
    use topicdesk::{domain::TicketState, storage::Assignment};
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        s.upsert_agent(1001, "Alice", 5, 0, None).await.expect("add");
        let t = s.create_ticket(&new_ticket(300)).await.expect("create");
        let read = || async { s.ticket(t.id).await.expect("q").expect("exists") };
        assert_eq!(read().await.state(), TicketState::Waiting, "{backend}");

        let to = Assignment {
            agent_id: 1001,
            rule: "specialist",
            reason: "because",
            now_ms: 1_000,
            by_update: None,
            restart_override_at: None,
        };
        assert!(s.assign_ticket(t.id, None, &to).await.expect("assign"), "{backend}");
        let assigned = read().await;
        assert_eq!(
            (assigned.state(), assigned.assigned_at_ms),
            (TicketState::Assigned, Some(1_000)),
            "{backend}"
        );

        assert!(s.record_first_response(t.id, 2_000).await.expect("q"), "{backend}: the first response");
        assert!(!s.record_first_response(t.id, 2_500).await.expect("q"), "{backend}: not the first");
        let answered = read().await;
        assert_eq!(answered.state(), TicketState::Answered, "{backend}");
        assert_eq!((answered.first_response_at_ms, answered.answered_at_ms), (Some(2_000), Some(2_000)));

        assert!(s.close_ticket(t.id, 3_000, None).await.expect("close"), "{backend}");
        let closed = read().await;
        assert_eq!((closed.state(), closed.closed_at_ms), (TicketState::Closed, Some(3_000)), "{backend}");

        assert_eq!(s.reopen_ticket(t.id, 4_000, None).await.expect("reopen"), ReopenOutcome::Reopened);
        let reopened = read().await;
        assert_eq!(reopened.state(), TicketState::Assigned, "{backend}: assigned again, not answered");
        let unanswered = |agent| async move { s.unanswered_tickets_of(agent).await.expect("q") };
        assert_eq!(
            unanswered(1001).await.len(),
            1,
            "{backend}: /offline gives it back until it is answered again"
        );
        assert_eq!(
            (reopened.reopened_at_ms, reopened.answered_at_ms, reopened.closed_at_ms),
            (Some(4_000), None, None),
            "{backend}"
        );
        assert!(!s.record_first_response(t.id, 5_000).await.expect("q"), "{backend}: not the first response");
        let again = read().await;
        assert_eq!(again.state(), TicketState::Answered, "{backend}");
        assert!(unanswered(1001).await.is_empty(), "{backend}");
        assert_eq!(
            (again.first_response_at_ms, again.answered_at_ms),
            (Some(2_000), Some(5_000)),
            "{backend}"
        );
        db.destroy().await;
    }
}
