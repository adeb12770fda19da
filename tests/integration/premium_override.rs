//! The premium override through the simulator, and several sweepers racing
//! on one database.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use topicdesk::{
    clock::SystemClock,
    domain::{SkillLevel, TicketId, Tier},
    i18n::I18n,
    routing::sweeper::Sweeper,
    storage::{NewTicket, Storage},
};

use crate::support::{
    bot::TestBot,
    crm::{CrmReply, FakeCrm},
    db::TestDb,
    sim::{SUPPORT_GROUP_ID, SimUser},
};

async fn add_agent(storage: &Storage, id: i64, name: &str, skills: &[&str], capacity: u32) {
    storage.upsert_agent(id, name, capacity, 0, None).await.expect("agent");
    for skill in skills {
        storage.set_agent_skill(id, &SkillLevel::parse(skill).expect("skill"), None).await.expect("skill");
    }
}

async fn start(crm: &FakeCrm) -> TestBot {
    TestBot::start_with(&[
        ("ROUTING_WEBHOOK_URL", crm.url()),
        ("PREMIUM_OVERRIDE_AFTER", "1s"),
        ("SWEEP_INTERVAL", "100ms"),
    ])
    .await
}

async fn wait_for_assignee(bot: &TestBot, ticket: i64, agent: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let t = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
        if t.assignee_id == Some(agent) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ticket {ticket} not assigned to {agent}: {:?}",
            t.assignee_id
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pinned_note(bot: &TestBot, thread: i32) -> String {
    let id = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");
    bot.sim.message(SUPPORT_GROUP_ID, id).and_then(|m| m.html).unwrap_or_default()
}

#[tokio::test]
async fn an_unassigned_premium_ticket_goes_to_any_available_agent() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Json(json!({"tier": "premium"})));
    let mut bot = start(&crm).await;
    add_agent(&bot.db.storage, 1003, "Carol", &["technical:3"], 5).await;
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(700, "Uma"), "billing", "charged twice").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t");
    assert_eq!(stored.assignee_id, None, "no billing or general agent: queued at first");
    assert!(stored.override_due_at_ms.is_some());

    wait_for_assignee(&bot, ticket, 1003).await;
    bot.sim
        .wait_for(
            |s| {
                s.pinned(SUPPORT_GROUP_ID, Some(thread))
                    .is_some_and(|_| pinned_note(&bot, thread).contains("Carol"))
            },
            Duration::from_secs(5),
        )
        .await;
    let note = pinned_note(&bot, thread);
    assert!(note.contains("<a href=\"tg://user?id=1003\">Carol</a>"), "{note}");
    assert!(note.contains("premium override: no agent response within 1s of opening"), "{note}");
    let escalations = bot.db.storage.escalations().await.expect("q");
    assert_eq!(escalations.len(), 1);
    assert_eq!((escalations[0].from_agent, escalations[0].to_agent), (None, 1003));
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_unanswered_premium_ticket_moves_and_the_first_agent_is_released() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Json(json!({"tier": "premium"})));
    let mut bot = start(&crm).await;
    add_agent(&bot.db.storage, 1001, "Alice", &["billing:3"], 5).await;
    add_agent(&bot.db.storage, 1002, "Bob", &["technical:1"], 5).await;
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(701, "Vic"), "billing", "refund").await;
    assert_eq!(bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t").assignee_id, Some(1001));

    wait_for_assignee(&bot, ticket, 1002).await;
    bot.sim
        .wait_for(
            |_| pinned_note(&bot, thread).contains("Alice was released from it"),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(bot.db.storage.agent(1001).await.expect("q").expect("a").open_tickets, 0, "Alice released");
    let escalations = bot.db.storage.escalations().await.expect("q");
    assert_eq!((escalations[0].from_agent, escalations[0].to_agent), (Some(1001), 1002));
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn standard_and_answered_premium_tickets_are_left_alone() {
    let crm = FakeCrm::start().await;
    crm.reply_for(702, CrmReply::Json(json!({"tier": "standard"})));
    crm.reply_for(703, CrmReply::Json(json!({"tier": "premium"})));
    let mut bot = start(&crm).await;
    add_agent(&bot.db.storage, 1001, "Alice", &["billing:3"], 5).await;
    add_agent(&bot.db.storage, 1002, "Bob", &["general:1"], 5).await;
    let (standard, _) = bot.open_ticket(&SimUser::customer(702, "Wes"), "billing", "question").await;
    let (premium, thread) = bot.open_ticket(&SimUser::customer(703, "Xia"), "billing", "urgent").await;
    // Alice answers the premium customer in time.
    let reply = bot.sim.group_text(&SimUser::operator(1001, "Alice"), Some(thread), "Looking into it now");
    bot.sim.wait_for_message(703, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;

    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(bot.db.storage.escalations().await.expect("q").is_empty());
    let stats = {
        let id = bot.sim.group_text(&SimUser::operator(1001, "Alice"), None, "/stats");
        bot.sim
            .wait_for_message(SUPPORT_GROUP_ID, None, |m| {
                m.reply_to_message_id == Some(id) && m.text.is_some()
            })
            .await
    };
    let stats = stats.body().unwrap_or_default();
    assert!(stats.starts_with("📊 Last 7d"), "{stats}");
    assert!(stats.contains("Premium overrides: 0 ·"), "{stats}");
    assert!(stats.contains("First response (p50 · p90):\n• Premium: "), "{stats}");
    for id in [standard, premium] {
        let t = bot.db.storage.ticket(TicketId(id)).await.expect("q").expect("t");
        assert_eq!(t.assignee_id, Some(1001), "ticket {id} stays with Alice");
        assert_eq!(t.override_due_at_ms, None, "no pending deadline for ticket {id}");
    }
    bot.stop().await.expect("clean stop");
}

/// Many overdue premium tickets, several sweepers with their own pools on
/// one database: every deadline is acted on exactly once and no agent goes
/// over capacity.
async fn sweepers_race(dbs: Vec<Storage>, tickets: usize) {
    let storage = &dbs[0];
    for agent in 0..20 {
        add_agent(storage, 5000 + agent, &format!("agent{agent}"), &["general:1"], 15).await;
    }
    let mut ids = Vec::new();
    for customer in 0..tickets as i64 {
        let ticket = storage
            .create_ticket(&NewTicket {
                customer_id: 10_000 + customer,
                customer_chat_id: 10_000 + customer,
                customer_name: "C".into(),
                customer_username: None,
                language: "en".into(),
                category: "billing".into(),
                required_skill: "billing".into(),
                description: "x".into(),
                description_message_id: 1,
                description_has_media: false,
                created_at_ms: 1_000,
            })
            .await
            .expect("ticket");
        storage
            .set_ticket_enrichment(ticket.id, Some(Tier::Premium), 100, None, Some(2_000 + customer))
            .await
            .expect("q");
        ids.push(ticket.id);
    }
    let i18n = Arc::new(I18n::load().expect("locales"));
    let mut tasks = Vec::new();
    for db in &dbs {
        let sweeper = Sweeper::new(db.clone(), i18n.clone(), Arc::new(SystemClock), Duration::from_secs(300));
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..50 {
                mine.extend(sweeper.claim_overdue().await.expect("sweep"));
                // Stop once nothing is overdue any more (the next deadlines are 5 min away).
                if db.overdue_tickets(10_000_000, 1).await.expect("q").is_empty() {
                    break;
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut per_sweeper = Vec::new();
    for task in tasks {
        let won = task.await.expect("sweeper task");
        per_sweeper.push(won.len());
        all.extend(won);
    }
    assert_eq!(all.len(), tickets, "every overdue ticket escalated once in total: {per_sweeper:?}");
    let mut seen: Vec<_> = all.iter().map(|e| e.ticket).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), tickets, "no ticket escalated twice");
    let escalations = storage.escalations().await.expect("q");
    assert_eq!(escalations.len(), tickets, "one escalation row per deadline");
    for agent in storage.roster().await.expect("q") {
        assert!(agent.open_tickets <= agent.capacity, "{} over capacity: {}", agent.name, agent.open_tickets);
    }
    for id in ids {
        let t = storage.ticket(id).await.expect("q").expect("t");
        assert_eq!(t.escalation_count, 1);
        let to = escalations.iter().find(|e| e.ticket_id == id.0).expect("escalated").to_agent;
        assert_eq!(t.assignee_id, Some(to), "the row and the ticket agree");
    }
}

#[tokio::test]
async fn two_sweepers_on_one_postgresql_database_never_double_assign() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("TEST_POSTGRES_URL not set: skipping the multi-instance PostgreSQL test");
        return;
    };
    let second = Storage::connect(&db.url).await.expect("second instance");
    let third = Storage::connect(&db.url).await.expect("third instance");
    sweepers_race(vec![db.storage.clone(), second, third], 300).await;
    db.destroy().await;
}

#[tokio::test]
async fn two_sweepers_on_one_sqlite_file_never_double_assign() {
    let db = TestDb::sqlite().await;
    let second = Storage::connect(&db.url).await.expect("second pool");
    sweepers_race(vec![db.storage.clone(), second], 200).await;
}

#[tokio::test]
async fn the_override_does_not_undo_an_admins_reassignment() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Json(json!({"tier": "premium"})));
    let mut bot = TestBot::start_with(&[
        ("ROUTING_WEBHOOK_URL", crm.url()),
        ("PREMIUM_OVERRIDE_AFTER", "4s"),
        ("SWEEP_INTERVAL", "100ms"),
        ("ADMIN_IDS", "1"),
    ])
    .await;
    add_agent(&bot.db.storage, 1001, "Bill", &["billing:2"], 5).await;
    add_agent(&bot.db.storage, 1003, "Carol", &["technical:3"], 5).await;
    let opened = std::time::Instant::now();
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(720, "Uli"), "technical", "app crashes").await;
    let first = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t").assignee_id;
    assert_eq!(first, Some(1003), "the technical agent first");

    // 1.5 s in, an admin gives it to the billing agent on purpose (its new
    // deadline, 5.5 s, is half a second after the check below; the opening
    // one, about 4.1 s, half a second before).
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(opened.elapsed())).await;
    bot.sim.group_text(&SimUser::operator(1, "Root"), Some(thread), "/reassign 1001");
    wait_for_assignee(&bot, ticket, 1001).await;
    let reassigned = std::time::Instant::now();

    // Past the deadline set at opening (4 s), the admin's choice stands.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(opened.elapsed())).await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t");
    assert_eq!(stored.assignee_id, Some(1001), "not undone at the opening deadline");
    assert!(bot.db.storage.escalations().await.expect("q").is_empty());

    // Four seconds after the reassignment without a reply, it does fire, and
    // says so.
    wait_for_assignee(&bot, ticket, 1003).await;
    assert!(reassigned.elapsed() >= Duration::from_millis(3900), "{:?}", reassigned.elapsed());
    bot.sim
        .wait_for(
            |s| {
                s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some()
                    && pinned_note(&bot, thread).contains("premium override")
            },
            Duration::from_secs(5),
        )
        .await;
    let note = pinned_note(&bot, thread);
    assert!(note.contains("of its last assignment"), "{note}");
    bot.stop().await.expect("clean stop");
}
