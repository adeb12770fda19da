//! Routing end to end: a real HTTP CRM, the roster managed through admin
//! commands, the queue, `/take` and `/reassign`.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use topicdesk::domain::TicketId;

use crate::support::{
    bot::TestBot,
    crm::{CrmReply, FakeCrm},
    sim::{SUPPORT_GROUP_ID, SimUser},
};

const ADMIN: i64 = 1;

pub(crate) fn admin() -> SimUser {
    SimUser::operator(ADMIN, "Root")
}

/// Agent 2001 (`user`), added by the admin through the commands, capacity
/// 3, billing level 2: someone to route billing tickets to.
pub(crate) async fn add_billing_agent(bot: &TestBot, user: &SimUser) {
    let root = admin();
    for line in [format!("/agent_add {} 3", user.id), format!("/skill_add {} billing:2", user.id)] {
        assert!(command(bot, &root, &line).await.starts_with('✅'), "{line}");
    }
}

/// Runs a command in General and waits for the bot's answer to it.
pub(crate) async fn command(bot: &TestBot, user: &SimUser, text: &str) -> String {
    let id = bot.sim.group_text(user, None, text);
    // The text answer (a /stats chart comes as a photo beside it).
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| m.reply_to_message_id == Some(id) && m.text.is_some())
        .await
        .body()
        .unwrap_or_default()
        .to_owned()
}

/// Runs a command in a ticket topic and waits for its reply there.
pub(crate) async fn topic_command(bot: &TestBot, user: &SimUser, thread: i32, text: &str) -> String {
    let id = bot.sim.group_text(user, Some(thread), text);
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.reply_to_message_id == Some(id))
        .await
        .body()
        .unwrap_or_default()
        .to_owned()
}

/// The case study's team, added through the admin commands.
async fn seed_team(bot: &TestBot) {
    let root = admin();
    for line in [
        "/agent_add 1001 5",
        "/skill_add 1001 billing:3",
        "/skill_add 1001 general:2",
        "/agent_add 1002",
        "/skill_add 1002 billing:1",
        "/skill_add 1002 general:1",
        "/agent_add 1003",
        "/skill_add 1003 technical:3",
        "/agent_add 1004",
        "/skill_add 1004 general:1",
    ] {
        let answer = command(bot, &root, line).await;
        assert!(answer.starts_with('✅'), "{line}: {answer}");
    }
    // Agents introduce themselves (their names come from their messages).
    for (id, name) in [(1001, "Alice"), (1002, "Bob"), (1003, "Carol"), (1004, "Dan")] {
        let answer = command(bot, &SimUser::operator(id, name), "/available").await;
        assert!(answer.contains(name), "{answer}");
    }
}

async fn start_with_crm(crm: &FakeCrm, extra: &[(&str, &str)]) -> TestBot {
    let admin_ids = ADMIN.to_string();
    let mut env = vec![("ROUTING_WEBHOOK_URL", crm.url()), ("ADMIN_IDS", admin_ids.as_str())];
    env.extend_from_slice(extra);
    TestBot::start_with(&env).await
}

/// The pinned note as agents read it (plain text, entities stripped).
pub(crate) fn note_text(bot: &TestBot, thread: i32) -> String {
    let pinned = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("a pinned note");
    bot.sim.message(SUPPORT_GROUP_ID, pinned).and_then(|m| m.text).expect("the note has text")
}

pub(crate) fn note_html(bot: &TestBot, thread: i32) -> String {
    let pinned = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("a pinned note");
    bot.sim.message(SUPPORT_GROUP_ID, pinned).and_then(|m| m.html).expect("the note is HTML")
}

#[tokio::test]
async fn premium_billing_goes_to_the_senior_and_a_basic_reset_to_a_junior_generalist() {
    let crm = FakeCrm::start().await;
    crm.reply_for(
        800,
        CrmReply::Json(json!({"tier": "premium", "order_count": 12, "recent_ticket_count": 1,
        "lifetime_value": 1520.0})),
    );
    crm.reply_for(801, CrmReply::Json(json!({"tier": "basic", "order_count": 1})));
    let mut bot = start_with_crm(&crm, &[("ROUTING_WEBHOOK_SECRET", "s3cret")]).await;
    seed_team(&bot).await;

    let vip = SimUser::customer(800, "Victoria").username("vic");
    let (ticket, thread) = bot.open_ticket(&vip, "billing", "I was charged twice").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, Some(1001), "the senior billing agent");
    assert_eq!(stored.routing_rule.as_deref(), Some("senior_specialist"));
    assert_eq!(stored.priority, 100);
    let topic = bot.sim.topics().into_iter().find(|t| t.thread_id == thread).expect("topic");
    assert_eq!(topic.name, format!("#{ticket} · Premium · Billing and payments · Victoria"));
    assert_eq!(topic.icon_color, 0xFFD67E);
    let note = note_html(&bot, thread);
    assert!(note.contains("<a href=\"tg://user?id=1001\">Alice</a>"), "{note}");
    assert!(note.contains("Premium · 12 orders · 1 recent ticket · lifetime value 1520.00"), "{note}");
    assert!(
        note.contains(
            "Premium customer (12 orders); needs billing; Alice is the most senior available billing agent \
             (level 3, 0 open tickets)"
        ),
        "{note}"
    );

    let basic = SimUser::customer(801, "Ben");
    let (ticket, thread) = bot.open_ticket(&basic, "account", "Reset my password please").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert!(
        matches!(stored.assignee_id, Some(1002) | Some(1004)),
        "a level-1 generalist: {:?}",
        stored.assignee_id
    );
    assert_eq!(stored.routing_rule.as_deref(), Some("junior_specialist"));
    let note = note_html(&bot, thread);
    assert!(note.contains("keeping seniors free"), "{note}");

    // What the CRM received, and that it can verify the signature.
    let requests = crm.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.json["ticket_id"], 1);
    assert_eq!(first.json["customer"]["telegram_id"], 800);
    assert_eq!(first.json["customer"]["username"], "vic");
    assert_eq!(first.json["category"], "billing");
    assert_eq!(first.json["required_skill"], "billing");
    assert_eq!(first.json["description"], "I was charged twice");
    let candidates = first.json["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 4);
    assert!(candidates.contains(&json!({"agent_id": 1001, "skills": ["billing:3", "general:2"],
        "open_tickets": 0, "capacity": 5})));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"s3cret").expect("key");
    mac.update(&first.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(first.headers["x-topicdesk-signature"], expected.as_str());
    assert_eq!(first.headers["content-type"], "application/json");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_failing_crm_never_blocks_a_ticket_and_the_note_says_why() {
    let crm = FakeCrm::start().await;
    let mut bot = start_with_crm(&crm, &[("ROUTING_WEBHOOK_TIMEOUT", "300ms")]).await;
    seed_team(&bot).await;
    let cases: Vec<(i64, CrmReply, &str)> = vec![
        (
            900,
            CrmReply::Slow(Duration::from_secs(3), Box::new(CrmReply::Json(json!({"tier": "premium"})))),
            "CRM unavailable (timeout after 300ms)",
        ),
        (901, CrmReply::Status(500), "CRM unavailable (HTTP 500)"),
        (902, CrmReply::Raw("<html>oops</html>".into()), "CRM unavailable (invalid JSON"),
        (903, CrmReply::Huge(100_000), "CRM unavailable (response larger than 64 KiB)"),
    ];
    for (customer, reply, expected) in cases {
        crm.reply_for(customer, reply);
        let user = SimUser::customer(customer, "Kim");
        let started = std::time::Instant::now();
        let (ticket, thread) = bot.open_ticket(&user, "billing", "help").await;
        assert!(started.elapsed() < Duration::from_secs(3), "the CRM's slowness is capped by the deadline");
        let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
        assert!(stored.assignee_id.is_some(), "{expected}: still assigned");
        assert_eq!(stored.routing_rule.as_deref(), Some("least_loaded"), "{expected}");
        let audit = stored.enrichment.expect("the failure is stored for audits");
        assert!(audit.contains("\"status\":\"failed\""), "{audit}");
        let note = note_html(&bot, thread);
        assert!(note.contains(expected), "{expected} not in {note}");
        assert!(note.contains("least-loaded available agent"), "{note}");
    }
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bad_fields_are_dropped_and_the_rest_is_used() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Json(json!({"tier": 5, "order_count": "many", "recent_ticket_count": 2,
        "preferred_agent_id": 999999, "reason": "loyal customer", "unexpected": {"x": 1}})));
    let mut bot = start_with_crm(&crm, &[]).await;
    seed_team(&bot).await;
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(950, "Lee"), "billing", "refund").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.tier, None);
    assert_eq!(stored.priority, 50, "no tier, no priority: the default");
    assert_eq!(stored.routing_rule.as_deref(), Some("specialist"));
    assert!(stored.enrichment.as_deref().unwrap_or_default().contains("\"unexpected\""), "raw answer kept");
    let note = note_text(&bot, thread);
    assert!(note.contains("unknown (the CRM sent an invalid tier) · 2 recent tickets"), "{note}");
    assert!(note.contains("the CRM's preferred agent 999999 cannot take it now"), "{note}");
    assert!(note.contains("CRM says: loyal customer"), "{note}");
    assert!(
        note.contains(
            "CRM sent invalid values, ignored: tier 5 (not premium, standard or basic), \
             order_count \"many\" (not a non-negative whole number)"
        ),
        "each dropped field is named with why: {note}"
    );
    bot.stop().await.expect("clean stop");
}

/// DESIGN §5: an answer whose every field is invalid is a fallback, like a
/// timeout, and the note names each field and why.
#[tokio::test]
async fn an_answer_with_nothing_valid_is_a_fallback_that_names_each_field() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Json(json!({"tier": "platinum", "priority": "very high",
        "preferred_agent_id": "abc", "order_count": -3, "lifetime_value": "lots"})));
    let mut bot = start_with_crm(&crm, &[]).await;
    seed_team(&bot).await;
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(951, "Ari"), "billing", "refund").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.tier, None);
    assert_eq!(stored.priority, 50, "the fallback's priority");
    assert_eq!(stored.routing_rule.as_deref(), Some("least_loaded"), "routed as without the CRM");
    let audit = stored.enrichment.expect("stored for audits");
    assert!(audit.contains("\"status\":\"unusable\"") && audit.contains("platinum"), "{audit}");
    let note = note_text(&bot, thread);
    assert!(note.contains("unknown (the CRM's answer had no valid field)"), "{note}");
    assert!(
        note.contains(
            "CRM answer not used, every value invalid: tier \"platinum\" (not premium, standard or basic), \
             order_count -3 (not a non-negative whole number), lifetime_value \"lots\" (not a non-negative \
             number), priority \"very high\" (not a whole number from 0 to 1000000), preferred_agent_id \"abc\" \
             (not a positive whole number)"
        ),
        "{note}"
    );
    assert!(note.contains("least-loaded available agent"), "{note}");
    assert!(!note.contains("not given by the CRM"), "{note}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_preferred_agent_wins_when_eligible() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Json(
        json!({"tier": "premium", "preferred_agent_id": 1002, "reason": "VIP, billing history"}),
    ));
    let mut bot = start_with_crm(&crm, &[]).await;
    seed_team(&bot).await;
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(960, "Mo"), "billing", "invoice").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, Some(1002));
    assert!(
        note_html(&bot, thread).contains("Bob is the CRM's preferred agent"),
        "{}",
        note_html(&bot, thread)
    );
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_queued_ticket_is_assigned_when_an_agent_becomes_available() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    assert!(command(&bot, &root, "/agent_add 1001 2").await.starts_with('✅'));
    assert!(command(&bot, &root, "/skill_add 1001 billing:2").await.starts_with('✅'));
    let alice = SimUser::operator(1001, "Alice");
    assert!(command(&bot, &alice, "/away").await.contains("away"));
    let audit = bot.db.storage.audit_entries(1).await.expect("q");
    assert_eq!(
        (audit[0].1, audit[0].2.as_str(), audit[0].4.as_str()),
        (1001, "status", "away"),
        "status changes are audited"
    );

    let (ticket, thread) = bot.open_ticket(&SimUser::customer(970, "Nia"), "billing", "help").await;
    let first_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");
    let note = note_html(&bot, thread);
    assert!(note.contains("nobody yet, waiting in the queue"), "{note}");
    assert!(note.contains("waits in the queue (priority 50)"), "{note}");
    let queue = command(&bot, &alice, "/queue").await;
    assert!(
        queue.contains(&format!(
            "#{ticket} · tier unknown · Billing and payments · priority 50 · waiting for an agent · waiting "
        )),
        "{queue}"
    );
    assert!(
        queue.contains(&format!("https://t.me/c/{}/{thread}", -SUPPORT_GROUP_ID - 1_000_000_000_000)),
        "{queue}"
    );

    command(&bot, &alice, "/available").await;
    bot.sim
        .wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some_and(|p| p != first_note),
            Duration::from_secs(5),
        )
        .await;
    let note = note_html(&bot, thread);
    assert!(note.contains("<a href=\"tg://user?id=1001\">Alice</a>"), "{note}");
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, Some(1001));
    let unpinned = bot.sim.calls_to("unpinChatMessage");
    assert!(unpinned.iter().any(|c| c.params["message_id"] == first_note), "the old note is unpinned");
    // Assigned but not answered yet: still listed, with its agent.
    let queue = command(&bot, &alice, "/queue").await;
    assert!(queue.contains(&format!("#{ticket} ")) && queue.contains("with Alice, not answered"), "{queue}");
    let reply = bot.sim.group_text(&alice, Some(thread), "On it");
    bot.sim.wait_for_message(970, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    for _ in 0..100 {
        let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
        if stored.answered_at_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        command(&bot, &alice, "/queue").await,
        "Nothing waiting: every open ticket has been answered."
    );
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn closing_a_ticket_frees_capacity_for_the_next_in_line() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    command(&bot, &root, "/agent_add 1001 1").await;
    command(&bot, &root, "/skill_add 1001 billing").await;
    let (first, first_thread) = bot.open_ticket(&SimUser::customer(980, "Oz"), "billing", "one").await;
    let (second, _) = bot.open_ticket(&SimUser::customer(981, "Pia"), "billing", "two").await;
    let storage = &bot.db.storage;
    assert_eq!(storage.ticket(TicketId(first)).await.expect("q").expect("t").assignee_id, Some(1001));
    assert_eq!(
        storage.ticket(TicketId(second)).await.expect("q").expect("t").assignee_id,
        None,
        "at capacity"
    );

    bot.sim.group_text(&SimUser::operator(1001, "Alice"), Some(first_thread), "/close");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if storage.ticket(TicketId(second)).await.expect("q").expect("t").assignee_id == Some(1001) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the waiting ticket was not assigned after the close");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn admin_commands_are_refused_to_others_and_explain_their_usage() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let stranger = SimUser::operator(666, "Mallory");
    for line in
        ["/agent_add 666", "/agent_remove 1001", "/skill_add 666 billing:3", "/skill_remove 1001 billing"]
    {
        let answer = command(&bot, &stranger, line).await;
        assert!(answer.starts_with("Only admins can do that"), "{line}: {answer}");
    }
    assert!(bot.db.storage.roster().await.expect("q").is_empty(), "nothing changed");
    assert!(command(&bot, &stranger, "/available").await.starts_with("This is for agents"));

    let root = admin();
    for (line, usage) in [
        ("/agent_add", "Usage: /agent_add"),
        ("/agent_add bob", "Usage: /agent_add"),
        ("/agent_add 1001 0", "Usage: /agent_add"),
        ("/skill_add 1001", "Usage: /skill_add"),
        ("/skill_add 1001 billing:7", "Usage: /skill_add"),
        ("/skill_remove", "Usage: /skill_remove"),
        ("/agent_remove x", "Usage: /agent_remove"),
    ] {
        let answer = command(&bot, &root, line).await;
        assert!(answer.starts_with(usage), "{line}: {answer}");
    }
    assert!(command(&bot, &root, "/skill_add 4242 billing").await.starts_with("There is no agent 4242"));
    assert_eq!(
        command(&bot, &root, "/agents").await,
        "No agents yet. An admin adds one with /agent_add <user id>."
    );
    command(&bot, &root, "/agent_add 1001 3").await;
    command(&bot, &root, "/skill_add 1001 billing:3").await;
    let roster = command(&bot, &root, "/agents").await;
    assert_eq!(
        roster,
        "Agents (1):\n• Agent 1001 (1001) · available · 0/3 open · billing:3 · today (UTC): none answered"
    );
    let stats = command(&bot, &root, "/stats").await;
    assert!(stats.starts_with("📊 Last 7d ("), "{stats}");
    assert!(stats.ends_with("No tickets were opened or closed in this period."), "{stats}");
    assert!(bot.sim.calls_to("sendPhoto").is_empty(), "no empty chart");
    assert!(command(&bot, &root, "/stats yesterday").await.starts_with("Usage: /stats [period]"));
    let removed = command(&bot, &root, "/agent_remove 1001").await;
    assert!(
        removed.starts_with("✅ Agent 1001 (1001) is no longer an agent. They had no open tickets."),
        "{removed}"
    );
    let audit = bot.db.storage.audit_entries(10).await.expect("q");
    let actions: Vec<_> = audit.iter().map(|(_, actor, action, _, _)| (*actor, action.as_str())).collect();
    assert_eq!(actions, vec![(1, "agent_remove"), (1, "skill_add"), (1, "agent_add")]);
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn agents_take_waiting_tickets_and_admins_reassign() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(990, "Quinn"), "technical", "crash").await;
    command(&bot, &root, "/agent_add 1003").await;
    command(&bot, &root, "/skill_add 1003 billing:1").await;
    // Bob has no technical skill, but may take a waiting ticket by hand.
    let bob = SimUser::operator(1003, "Bob");
    command(&bot, &bob, "/away").await;
    let first_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");
    let id = bot.sim.group_text(&bob, Some(thread), "/take");
    bot.sim
        .wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some_and(|p| p != first_note),
            Duration::from_secs(5),
        )
        .await;
    let note = note_html(&bot, thread);
    assert!(note.contains("<a href=\"tg://user?id=1003\">Bob</a>"), "{note}");
    assert!(note.contains("Bob took it with /take"), "{note}");
    let _ = id;
    assert_eq!(
        topic_command(&bot, &bob, thread, "/take").await,
        format!("Ticket #{ticket} is already yours.")
    );

    command(&bot, &root, "/agent_add 1004").await;
    let carol = SimUser::operator(1004, "Carol");
    command(&bot, &carol, "/available").await;
    let taken = topic_command(&bot, &carol, thread, "/take").await;
    assert!(taken.contains("is assigned to Bob"), "{taken}");
    assert!(topic_command(&bot, &carol, thread, "/reassign 1004").await.starts_with("Only admins"));

    let before = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread));
    bot.sim.group_text(&root, Some(thread), "/reassign 1004");
    bot.sim.wait_for(|s| s.pinned(SUPPORT_GROUP_ID, Some(thread)) != before, Duration::from_secs(5)).await;
    let note = note_html(&bot, thread);
    assert!(note.contains("reassigned by Root to Carol"), "{note}");
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, Some(1004));
    assert!(topic_command(&bot, &root, thread, "/reassign 4242").await.starts_with("There is no agent 4242"));
    assert!(command(&bot, &root, "/take").await.starts_with("This command works inside a ticket's topic"));
    bot.stop().await.expect("clean stop");
}

/// `/close` in a topic, until the topic is closed.
async fn close(bot: &TestBot, user: &SimUser, thread: i32) {
    bot.sim.group_text(user, Some(thread), "/close");
    bot.sim
        .wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && t.closed), Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn a_reopened_ticket_whose_agent_was_removed_is_routed_again() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    for line in ["/agent_add 2001 3", "/skill_add 2001 billing:1"] {
        assert!(command(&bot, &root, line).await.starts_with('✅'), "{line}");
    }
    let alice = SimUser::operator(2001, "Alice");
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(980, "Ora"), "billing", "refund").await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, Some(2001));
    close(&bot, &alice, thread).await;
    assert!(command(&bot, &root, "/agent_remove 2001").await.starts_with('✅'));

    // Nobody can take it: it waits, and the note says so (not "Alice").
    let before = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");
    bot.sim.group_text(&root, Some(thread), "/reopen");
    bot.sim
        .wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some_and(|p| p != before),
            Duration::from_secs(5),
        )
        .await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, None, "not left with an agent who is gone");
    let note = note_html(&bot, thread);
    assert!(note.contains("nobody yet, waiting in the queue"), "{note}");
    assert!(note.contains("reopened while"), "{note}");
    let queue = command(&bot, &root, "/queue").await;
    assert!(queue.contains(&format!("#{ticket} ")), "{queue}");

    // A new agent becomes available: it is theirs, with a fresh note.
    let waiting = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");
    for line in ["/agent_add 2002 3", "/skill_add 2002 billing:1"] {
        assert!(command(&bot, &root, line).await.starts_with('✅'), "{line}");
    }
    bot.sim
        .wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some_and(|p| p != waiting),
            Duration::from_secs(5),
        )
        .await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, Some(2002));
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_reopened_ticket_goes_back_to_its_agent_when_they_can_take_it() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    for line in
        ["/agent_add 2001 3", "/skill_add 2001 billing:1", "/agent_add 2002 3", "/skill_add 2002 billing:1"]
    {
        assert!(command(&bot, &root, line).await.starts_with('✅'), "{line}");
    }
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(981, "Pat"), "billing", "refund").await;
    let first = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t").assignee_id;
    let agent = SimUser::operator(first.expect("assigned"), "Agent");
    close(&bot, &agent, thread).await;
    bot.sim.group_text(&agent, Some(thread), "/reopen");
    bot.sim
        .wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && !t.closed), Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.assignee_id, first, "the same agent keeps it");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn only_agents_and_admins_reach_customers_and_use_ticket_commands() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    let customer = SimUser::customer(982, "Quinn");
    let (ticket, thread) = bot.open_ticket(&customer, "billing", "refund").await;
    let sim = &bot.sim;
    let before = sim.messages_in(customer.id, None).len();

    // A group member who is no agent: not relayed, told once.
    let stranger = SimUser::operator(3001, "Stranger");
    let first = sim.group_text(&stranger, Some(thread), "hi, I'm just a member");
    let hint =
        sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.reply_to_message_id == Some(first)).await;
    assert!(hint.body().unwrap_or_default().contains("Only agents and admins"), "{:?}", hint.body());
    let second = sim.group_text(&stranger, Some(thread), "still me");
    let refused = topic_command(&bot, &stranger, thread, "/close").await;
    assert!(refused.contains("This is for agents"), "{refused}");
    assert!(
        sim.messages_in(SUPPORT_GROUP_ID, Some(thread)).iter().all(|m| m.reply_to_message_id != Some(second)),
        "the hint is given once"
    );
    let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket");
    assert_eq!(stored.status, topicdesk::domain::TicketStatus::Open, "a stranger cannot close it");

    // An agent is relayed; once removed, no longer.
    assert!(command(&bot, &root, "/agent_add 2001 3").await.starts_with('✅'));
    let alice = SimUser::operator(2001, "Alice");
    let reply = sim.group_text(&alice, Some(thread), "Refund issued");
    sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    assert!(command(&bot, &root, "/agent_remove 2001").await.starts_with('✅'));
    let late = sim.group_text(&alice, Some(thread), "one more thing from a removed agent");
    // The admin's own message still goes through, after the removed agent's.
    let from_admin = sim.group_text(&root, Some(thread), "from the admin");
    sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, from_admin))).await;
    let relayed: Vec<_> =
        sim.messages_in(customer.id, None).iter().skip(before).filter_map(|m| m.copied_from).collect();
    assert_eq!(
        relayed,
        vec![(SUPPORT_GROUP_ID, reply), (SUPPORT_GROUP_ID, from_admin)],
        "neither the stranger's nor the removed agent's ({first}, {second}, {late}) reached the customer"
    );
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_post_as_a_channel_in_a_ticket_topic_gets_the_hint_not_silence() {
    let mut bot = TestBot::start().await;
    let customer = SimUser::customer(983, "Rae");
    let (_, thread) = bot.open_ticket(&customer, "billing", "refund").await;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    bot.sim.inject_raw(json!({"message": {
        "message_id": 9999, "date": now, "message_thread_id": thread, "is_topic_message": true,
        "chat": {"id": SUPPORT_GROUP_ID, "type": "supergroup", "title": "Support", "is_forum": true},
        "from": {"id": 136817688, "is_bot": true, "first_name": "Channel", "username": "Channel_Bot"},
        "sender_chat": {"id": -1009876543210i64, "type": "channel", "title": "Alice's channel"},
        "text": "Your parcel is at the depot"
    }}));
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
            m.body().is_some_and(|b| b.contains("Only agents and admins"))
        })
        .await;
    assert!(bot.sim.calls_to("copyMessage").iter().all(|c| c.params["message_id"] != 9999));
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_agent_going_offline_gives_back_what_they_have_not_answered() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    for line in
        ["/agent_add 2001 3", "/skill_add 2001 billing:1", "/agent_add 2002 3", "/skill_add 2002 billing:1"]
    {
        assert!(command(&bot, &root, line).await.starts_with('✅'), "{line}");
    }
    let alice = SimUser::operator(2001, "Alice");
    let bob = SimUser::operator(2002, "Bob");
    assert!(command(&bot, &bob, "/away").await.contains("away"));
    let ana = SimUser::customer(984, "Ana");
    let ben = SimUser::customer(985, "Ben");
    let (answered, answered_thread) = bot.open_ticket(&ana, "billing", "refund").await;
    let (waiting, waiting_thread) = bot.open_ticket(&ben, "billing", "invoice").await;
    for t in [answered, waiting] {
        let stored = bot.db.storage.ticket(TicketId(t)).await.expect("q").expect("t");
        assert_eq!(stored.assignee_id, Some(2001));
    }
    let reply = bot.sim.group_text(&alice, Some(answered_thread), "Looking into it");
    bot.sim.wait_for_message(ana.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    assert!(command(&bot, &bob, "/available").await.contains("Bob"));
    let old_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(waiting_thread)).expect("pinned");

    command(&bot, &alice, "/offline").await;
    bot.sim
        .wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(waiting_thread)).is_some_and(|p| p != old_note),
            Duration::from_secs(5),
        )
        .await;
    let note = note_html(&bot, waiting_thread);
    assert!(note.contains("tg://user?id=2002") && note.contains("went offline"), "{note}");
    let stored = bot.db.storage.ticket(TicketId(waiting)).await.expect("q").expect("t");
    assert_eq!(stored.assignee_id, Some(2002), "the unanswered ticket moved on");
    assert!(stored.routing_reason.unwrap_or_default().contains("went offline"));
    let stored = bot.db.storage.ticket(TicketId(answered)).await.expect("q").expect("t");
    assert_eq!(stored.assignee_id, Some(2001), "the answered conversation stays with its agent");
    bot.stop().await.expect("clean stop");
}

/// `/away` keeps an agent's tickets by default; with
/// `AWAY_GIVES_BACK_TICKETS=true` it gives back the unanswered ones as
/// `/offline` does.
#[tokio::test]
async fn away_gives_back_unanswered_tickets_only_when_configured() {
    for gives_back in [false, true] {
        let setting = if gives_back { "true" } else { "false" };
        let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1"), ("AWAY_GIVES_BACK_TICKETS", setting)]).await;
        let root = admin();
        for line in ["/agent_add 2001 3", "/skill_add 2001 billing:1", "/agent_add 2002 3"] {
            assert!(command(&bot, &root, line).await.starts_with('✅'), "{line}");
        }
        let alice = SimUser::operator(2001, "Alice");
        let bob = SimUser::operator(2002, "Bob");
        assert!(command(&bot, &root, "/skill_add 2002 billing:1").await.starts_with('✅'));
        command(&bot, &bob, "/away").await;
        let ben = SimUser::customer(986, "Ben");
        let (ticket, thread) = bot.open_ticket(&ben, "billing", "invoice").await;
        assert!(command(&bot, &bob, "/available").await.contains("Bob"));
        let old_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");

        let answer = command(&bot, &alice, "/away").await;
        assert_eq!(answer.contains("go to another agent"), gives_back, "{answer}");
        if gives_back {
            bot.sim
                .wait_for(
                    |s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some_and(|p| p != old_note),
                    Duration::from_secs(5),
                )
                .await;
            assert!(note_html(&bot, thread).contains("went away before answering"));
        } else {
            // Let a drain or note that should not happen have its chance.
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)), Some(old_note));
        }
        let stored = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t");
        let expected = if gives_back { 2002 } else { 2001 };
        assert_eq!(stored.assignee_id, Some(expected), "AWAY_GIVES_BACK_TICKETS={setting}");
        bot.stop().await.expect("clean stop");
    }
}

/// DESIGN §5: a message the customer sends while the CRM is being asked
/// waits for the ticket's topic; it never routes the ticket without the
/// CRM's answer (or its deadline).
#[tokio::test]
async fn a_message_sent_while_the_crm_is_asked_waits_for_the_enriched_note() {
    let crm = FakeCrm::start().await;
    crm.reply_default(CrmReply::Slow(
        Duration::from_secs(8),
        Box::new(CrmReply::Json(json!({"tier": "premium"}))),
    ));
    let mut bot = start_with_crm(&crm, &[("ROUTING_WEBHOOK_TIMEOUT", "1s")]).await;
    seed_team(&bot).await;
    let customer = SimUser::customer(960, "Noa");
    let sim = &bot.sim;
    let before = sim.messages_in(customer.id, None).len();
    sim.private_command(&customer, "/start");
    let menu = bot.wait_for_customer_message(&customer, before, |m| !m.callback_data().is_empty()).await;
    let data = menu.callback_data().into_iter().find(|d| d.ends_with("/billing")).expect("billing button");
    let before = sim.messages_in(customer.id, None).len();
    sim.press_button(&customer, menu.message_id, &data);
    bot.wait_for_customer_message(&customer, before, |_| true).await;
    sim.private_text(&customer, "I was charged twice");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = sim.private_text(&customer, "and my card is blocked now");
    // An agent's status change drains the queue meanwhile: the new ticket is
    // not the queue's to hand out before its own routing has the CRM's answer.
    sim.group_text(&SimUser::operator(1004, "Dee"), None, "/available");
    sim.wait_for(|s| s.topics().iter().any(|t| t.name.starts_with("#1 ")), Duration::from_secs(10)).await;
    let thread = sim.topics().into_iter().find(|t| t.name.starts_with("#1 ")).expect("topic").thread_id;
    sim.wait_for(
        |s| {
            s.messages_in(SUPPORT_GROUP_ID, Some(thread))
                .iter()
                .any(|m| m.text.as_deref() == Some("and my card is blocked now"))
        },
        Duration::from_secs(10),
    )
    .await;
    let note = note_html(&bot, thread);
    assert!(note.contains("CRM unavailable (timeout after 1s)"), "{note}");
    assert!(!note.contains("no CRM"), "{note}");
    assert!(!note.contains("No CRM configured"), "{note}");
    let stored = bot.db.storage.ticket(TicketId(1)).await.expect("q").expect("ticket");
    assert!(stored.enrichment.as_deref().unwrap_or_default().contains("timeout after 1s"), "{stored:?}");
    let posts = sim.messages_in(SUPPORT_GROUP_ID, Some(thread));
    let note_at = posts
        .iter()
        .position(|m| m.html.as_deref().is_some_and(|h| h.contains("CRM unavailable")))
        .expect("note");
    let second_at =
        posts.iter().position(|m| m.text.as_deref() == Some("and my card is blocked now")).expect("copy");
    assert!(note_at < second_at, "the message follows the note");
    assert_eq!(
        posts.iter().filter(|m| m.text.as_deref() == Some("and my card is blocked now")).count(),
        1,
        "message {second} relayed once"
    );
    assert_eq!(crm.requests().len(), 1, "the CRM is asked once");
    bot.stop().await.expect("clean stop");
}

/// Makes every change of a ticket's assignee take 300 ms inside its
/// transaction (PostgreSQL only), so concurrent assignments overlap for
/// sure: the window in which two of them could both see the agent's old
/// load, if nothing serialised them.
async fn slow_down_assignments(db: &crate::support::db::TestDb) {
    use sqlx::{Connection, Executor};
    let topicdesk::config::DatabaseUrl::Postgres(url) = &db.url else { return };
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    conn.execute(
        "CREATE FUNCTION slow_assignment() RETURNS trigger AS $$ BEGIN \
           IF NEW.assignee_id IS DISTINCT FROM OLD.assignee_id THEN PERFORM pg_sleep(0.3); END IF; \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER slow_assignment BEFORE UPDATE ON tickets \
           FOR EACH ROW EXECUTE FUNCTION slow_assignment();",
    )
    .await
    .expect("trigger");
    conn.close().await.ok();
}

/// DESIGN §6, capacity: tickets routed at the same moment (lanes run
/// concurrently on the pool) never give an agent more than their capacity,
/// on either backend.
#[tokio::test]
async fn tickets_routed_at_once_never_exceed_an_agents_capacity() {
    for db in crate::support::db::TestDb::all().await {
        slow_down_assignments(&db).await;
        let admin_ids = ADMIN.to_string();
        let mut bot = TestBot::start_on(db, &[("ADMIN_IDS", admin_ids.as_str())]).await;
        for line in ["/agent_add 1001 2", "/skill_add 1001 billing:2"] {
            let answer = command(&bot, &admin(), line).await;
            assert!(!answer.is_empty(), "{line}");
        }
        // Six customers reach the description step, then all send it at once.
        let customers: Vec<SimUser> = (0..6).map(|i| SimUser::customer(970 + i, "Cy")).collect();
        for customer in &customers {
            let sim = &bot.sim;
            let before = sim.messages_in(customer.id, None).len();
            sim.private_command(customer, "/start");
            let menu =
                bot.wait_for_customer_message(customer, before, |m| !m.callback_data().is_empty()).await;
            let data = menu.callback_data().into_iter().find(|d| d.ends_with("/billing")).expect("button");
            let before = sim.messages_in(customer.id, None).len();
            sim.press_button(customer, menu.message_id, &data);
            bot.wait_for_customer_message(customer, before, |_| true).await;
        }
        for customer in &customers {
            bot.sim.private_text(customer, "charged twice");
        }
        bot.sim
            .wait_for(
                |s| {
                    (1..=6).all(|n| {
                        s.topics().iter().any(|t| t.name.starts_with(&format!("#{n} ")))
                            && s.topics()
                                .iter()
                                .find(|t| t.name.starts_with(&format!("#{n} ")))
                                .is_some_and(|t| s.pinned(SUPPORT_GROUP_ID, Some(t.thread_id)).is_some())
                    })
                },
                Duration::from_secs(30),
            )
            .await;
        let mut assigned = 0;
        for n in 1..=6 {
            let ticket = bot.db.storage.ticket(TicketId(n)).await.expect("q").expect("ticket");
            match ticket.assignee_id {
                Some(1001) => assigned += 1,
                Some(other) => panic!("assigned to {other}"),
                None => assert_eq!(ticket.routing_rule.as_deref(), Some("queued"), "{ticket:?}"),
            }
        }
        assert_eq!(assigned, 2, "capacity 2: two tickets assigned, the rest wait");
        let agent = bot.db.storage.agent(1001).await.expect("q").expect("agent");
        assert_eq!(agent.open_tickets, 2);
        bot.stop().await.expect("clean stop");
    }
}
