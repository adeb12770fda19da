//! Storage tests, run on SQLite always and on PostgreSQL when
//! `TEST_POSTGRES_URL` is set (CI sets it).

#[path = "support/db.rs"]
mod db;

use db::TestDb;
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

        assert!(s.close_ticket(t.id, 1_700_000_100_000).await.expect("close"), "{backend}");
        assert!(!s.close_ticket(t.id, 1_700_000_100_001).await.expect("close"), "{backend}");
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

        s.close_ticket(first.id, 1).await.expect("close");
        let second = s.create_ticket(&new_ticket(200)).await.expect("a new ticket after closing");
        assert!(second.id > first.id, "{backend}");

        assert_eq!(
            s.reopen_ticket(first.id).await.expect("reopen"),
            ReopenOutcome::CustomerHasOpenTicket(second.id),
            "{backend}"
        );
        assert_eq!(s.reopen_ticket(second.id).await.expect("q"), ReopenOutcome::AlreadyOpen, "{backend}");
        s.close_ticket(second.id, 2).await.expect("close");
        assert_eq!(s.reopen_ticket(first.id).await.expect("q"), ReopenOutcome::Reopened, "{backend}");
        assert_eq!(s.reopen_ticket(TicketId(9999)).await.expect("q"), ReopenOutcome::NotFound, "{backend}");
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
        assert_eq!(s.inbox_prune(11).await.expect("prune"), 2, "{backend}");
        assert!(s.inbox_record(1, "{}", 30).await.expect("q"), "{backend}: pruned ids are forgotten");
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
