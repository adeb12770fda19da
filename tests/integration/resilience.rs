//! Telegram errors, topics changed by hand, restarts and crashes.

use std::{sync::Arc, time::Duration};

use crate::support::{
    bot::{TestBot, config},
    db::TestDb,
    sim::{BotApiSim, Fault, FaultRule, SUPPORT_GROUP_ID, SimUser},
};

fn customer(id: i64) -> SimUser {
    SimUser::customer(id, "Finn").lang("en")
}

#[tokio::test]
async fn retry_after_on_topic_creation_is_honoured_exactly() {
    let mut bot = TestBot::start().await;
    bot.sim.fail_next(FaultRule::new("createForumTopic", Fault::TooManyRequests { retry_after: 2 }));
    let (ticket, _) = bot.open_ticket(&customer(600), "billing", "help").await;
    assert_eq!(ticket, 1);
    let calls = bot.sim.calls_to("createForumTopic");
    assert_eq!(calls.len(), 2, "one refused, one accepted");
    assert_eq!(calls[0].error.as_ref().map(|e| e.0), Some(429));
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(waited >= Duration::from_secs(2), "no call before retry_after elapsed: {waited:?}");
    assert!(waited < Duration::from_secs(4), "and not much later: {waited:?}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_once_delivered() {
    let mut bot = TestBot::start().await;
    let finn = customer(601);
    let (_, thread) = bot.open_ticket(&finn, "billing", "help").await;
    let sim = &bot.sim;
    sim.fail_next(FaultRule::new("copyMessage", Fault::ServerError));
    sim.fail_next(FaultRule::new("copyMessage", Fault::DropConnection));
    sim.fail_next(FaultRule::new("copyMessage", Fault::BadGateway));
    let msg = sim.private_text(&finn, "are you there?");
    // teloxide itself waits 10 s after each 5xx before returning it (a trap
    // noted in the README), so two server errors take over 20 s.
    sim.wait_for_message_within(
        SUPPORT_GROUP_ID,
        Some(thread),
        |m| m.copied_from == Some((finn.id, msg)),
        Duration::from_secs(40),
    )
    .await;
    let attempts = sim.calls_to("copyMessage");
    assert_eq!(attempts.len(), 4, "three failures, then success: {attempts:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let copies = sim
        .messages_in(SUPPORT_GROUP_ID, Some(thread))
        .iter()
        .filter(|m| m.copied_from == Some((finn.id, msg)))
        .count();
    assert_eq!(copies, 1, "delivered exactly once");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_topic_closed_or_reopened_by_hand_closes_or_reopens_its_ticket() {
    // Without a reopen window, the customer's next message starts a new intake.
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1"), ("REOPEN_WINDOW", "0")]).await;
    let finn = customer(602);
    let (ticket, thread) = bot.open_ticket(&finn, "billing", "help").await;
    // A group admin closes the topic from Telegram's menu: like /close.
    bot.sim.close_topic_externally(thread);
    bot.wait_for_customer_message(&finn, 0, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    let stored = bot.db.storage.ticket(topicdesk::domain::TicketId(ticket)).await.expect("q").expect("t");
    assert_eq!(stored.status, topicdesk::domain::TicketStatus::Closed);
    assert!(stored.closed_at_ms.is_some(), "the resolution time is recorded");
    // The customer's next message starts a new intake instead of landing in
    // a closed topic.
    let before = bot.sim.messages_in(finn.id, None).len();
    bot.sim.private_text(&finn, "hello again");
    bot.wait_for_customer_message(&finn, before, |m| !m.callback_data().is_empty()).await;

    // Reopened from the menu: like /reopen (the intake ends in it).
    bot.sim.reopen_topic_externally(thread);
    bot.wait_for_customer_message(&finn, before, |m| {
        m.body().is_some_and(|b| b.contains(&format!("Ticket #{ticket} has been reopened")))
    })
    .await;
    let msg = bot.sim.private_text(&finn, "thanks");
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((finn.id, msg))).await;
    // The bot's own close and reopen (service messages from the bot) change nothing.
    let stored = bot.db.storage.ticket(topicdesk::domain::TicketId(ticket)).await.expect("q").expect("t");
    assert_eq!(stored.status, topicdesk::domain::TicketStatus::Open);
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_topic_closed_without_a_service_message_is_reopened_for_the_customer() {
    // If the close never reached the bot as an update (it was stopped, the
    // update expired), a post into the closed topic still gets through: the
    // bot reopens the topic of an open ticket.
    let mut bot = TestBot::start().await;
    let finn = customer(609);
    let (_, thread) = bot.open_ticket(&finn, "billing", "help").await;
    bot.sim.set_can_manage_topics(false);
    bot.sim.close_topic_quietly(thread);
    // Without the topic right Telegram refuses posts in a closed topic; the
    // bot created the topic, so it may reopen it, and then delivers.
    let msg = bot.sim.private_text(&finn, "anyone?");
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((finn.id, msg))).await;
    assert_eq!(bot.sim.calls_to("reopenForumTopic").len(), 1);
    assert!(!bot.sim.topics()[0].closed, "the topic is open again");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_topic_deleted_by_hand_is_recreated_with_its_note() {
    let mut bot = TestBot::start().await;
    let finn = customer(603);
    let (ticket, thread) = bot.open_ticket(&finn, "billing", "help").await;
    bot.sim.delete_topic_externally(thread);
    let msg = bot.sim.private_text(&finn, "hello?");
    bot.sim
        .wait_for(
            |s| {
                s.topics().iter().any(|t| {
                    !t.deleted && t.thread_id != thread && t.name.starts_with(&format!("#{ticket} "))
                })
            },
            Duration::from_secs(10),
        )
        .await;
    let fresh = bot.sim.topics().into_iter().find(|t| !t.deleted).expect("new topic");
    let copied = bot
        .sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(fresh.thread_id), |m| m.copied_from == Some((finn.id, msg)))
        .await;
    let first = &bot.sim.messages_in(SUPPORT_GROUP_ID, Some(fresh.thread_id))[0];
    assert!(first.html.is_some() && first.message_id < copied.message_id, "the note comes first again");
    bot.sim
        .wait_for(|s| s.pinned(SUPPORT_GROUP_ID, Some(fresh.thread_id)).is_some(), Duration::from_secs(5))
        .await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn missing_rights_keep_the_ticket_and_the_topic_follows_when_fixed() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    sim.set_can_manage_topics(false);
    let finn = customer(604);
    sim.private_command(&finn, "/start");
    let menu = bot.wait_for_customer_message(&finn, 0, |m| !m.callback_data().is_empty()).await;
    sim.press_button(&finn, menu.message_id, "1/cat/billing");
    bot.wait_for_customer_message(&finn, 1, |_| true).await;
    sim.private_text(&finn, "my card was declined");
    bot.wait_for_customer_message(&finn, 2, |m| {
        m.body().is_some_and(|b| b.starts_with("We have received your message"))
    })
    .await;
    assert!(sim.topics().is_empty());
    let stored = bot.db.storage.open_ticket_of_customer(finn.id).await.expect("q").expect("ticket kept");
    assert_eq!(stored.thread_id, None);
    // The agents are told in General, with what to fix; nothing is
    // refused for good: the ticket's set-up waits for the right.
    let notice = sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| {
            m.body().is_some_and(|b| b.starts_with("⚠️ Ticket #1 is waiting for its topic"))
        })
        .await;
    assert!(notice.body().unwrap_or_default().contains("Manage topics"), "{:?}", notice.body());
    assert_eq!(bot.db.storage.outbox_counts().await.expect("q").failed, 0);

    // The admin fixes the rights: the topic and its note follow by
    // themselves, and the customer's next message after them.
    sim.set_can_manage_topics(true);
    sim.wait_for(|s| !s.topics().is_empty(), Duration::from_secs(12)).await;
    let topic = sim.topics()[0].clone();
    let msg = sim.private_text(&finn, "any news?");
    let in_topic = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| m.copied_from == Some((finn.id, msg)))
        .await;
    let note = &sim.messages_in(SUPPORT_GROUP_ID, Some(topic.thread_id))[0];
    assert!(note.html.as_deref().unwrap_or_default().contains("my card was declined"));
    assert!(note.message_id < in_topic.message_id);
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_dialogue_survives_a_restart() {
    let mut bot = TestBot::start().await;
    let finn = customer(605);
    bot.sim.private_command(&finn, "/start");
    let menu = bot.wait_for_customer_message(&finn, 0, |m| !m.callback_data().is_empty()).await;
    bot.sim.press_button(&finn, menu.message_id, "1/cat/technical");
    bot.wait_for_customer_message(&finn, 1, |_| true).await;

    bot.restart().await;

    bot.sim.private_text(&finn, "the app crashes");
    let opened = bot.wait_for_customer_message(&finn, 2, |_| true).await;
    assert!(opened.body().unwrap_or_default().starts_with("Ticket #1 opened"), "{:?}", opened.body());
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_update_interrupted_by_a_crash_is_handled_after_restart() {
    let mut bot = TestBot::start().await;
    let finn = customer(606);
    let (_, thread) = bot.open_ticket(&finn, "billing", "help").await;
    // The relay hangs in Telegram; the process dies meanwhile.
    bot.sim.fail_next(FaultRule::new("copyMessage", Fault::Delay(Duration::from_secs(30))));
    let msg = bot.sim.private_text(&finn, "important detail");
    bot.sim.wait_for(|s| s.calls_to("copyMessage").len() == 1, Duration::from_secs(5)).await;
    // Telegram has been told the update arrived (the offset moved on), so it
    // will not send it again.
    bot.sim.wait_for(|s| s.pending_updates() == 0, Duration::from_secs(5)).await;
    bot.crash().await;
    assert_eq!(bot.sim.pending_updates(), 0);

    bot.start_again().await;
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((finn.id, msg))).await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_finishes_work_in_progress() {
    let mut bot = TestBot::start().await;
    let finn = customer(607);
    let (_, thread) = bot.open_ticket(&finn, "billing", "help").await;
    bot.sim.fail_next(FaultRule::new("copyMessage", Fault::Delay(Duration::from_millis(800))));
    let msg = bot.sim.private_text(&finn, "last words");
    bot.sim.wait_for(|s| s.calls_to("copyMessage").len() == 1, Duration::from_secs(5)).await;
    bot.stop().await.expect("clean stop");
    assert!(
        bot.sim
            .messages_in(SUPPORT_GROUP_ID, Some(thread))
            .iter()
            .any(|m| m.copied_from == Some((finn.id, msg))),
        "the relay in flight completed before the bot stopped"
    );
    assert!(bot.db.storage.inbox_pending(10).await.expect("q").is_empty(), "nothing left half-done");
}

#[tokio::test]
async fn a_rejected_token_stops_the_bot_with_a_clear_error() {
    let sim = BotApiSim::start().await;
    let db = TestDb::sqlite().await;
    let mut cfg = config(&sim, &db, &[]);
    cfg.token = "999:WRONG".to_owned();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        topicdesk::run_with(
            cfg,
            db.storage.clone(),
            Arc::new(topicdesk::clock::SystemClock),
            Default::default(),
        ),
    )
    .await
    .expect("fails fast");
    let error = result.expect_err("a wrong token is fatal").to_string();
    assert!(error.contains("TELOXIDE_TOKEN"), "{error}");
}

/// A crash after two relays were sent but before their updates were marked
/// handled: both are replayed at start, and neither copy is queued (or
/// sent) again (a copy's dedupe key is its source message).
#[tokio::test]
async fn a_replayed_update_is_not_relayed_twice() {
    use sqlx::Connection;

    let mut bot = TestBot::start().await;
    let finn = customer(608);
    let (_, thread) = bot.open_ticket(&finn, "billing", "help").await;
    let msg = bot.sim.private_text(&finn, "exactly once, please");
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((finn.id, msg))).await;
    let alice = SimUser::operator(1001, "Alice");
    bot.register_agent(&alice).await;
    let reply = bot.sim.group_text(&alice, Some(thread), "once from us too");
    bot.sim.wait_for_message(finn.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    bot.stop().await.expect("clean stop");
    let to_customer_before = bot.sim.messages_in(finn.id, None).len();
    let in_group_before = bot.sim.all_messages(SUPPORT_GROUP_ID).len();

    // Put the database back where a crash would have left it after
    // Telegram accepted both copies but before the two relays' inbox marks:
    // both updates are unhandled again. (A handler's other effects are
    // stored with its mark, so earlier steps of the conversation cannot be
    // unhandled while their effects are stored.)
    let topicdesk::config::DatabaseUrl::Sqlite(url) = &bot.db.url else { unreachable!("sqlite test db") };
    let mut raw = sqlx::SqliteConnection::connect(url).await.expect("raw connection");
    let reset = sqlx::query(
        "UPDATE inbox SET handled_at = NULL WHERE update_id >= (SELECT MAX(update_id) - 1 FROM inbox)",
    )
    .execute(&mut raw)
    .await
    .expect("reset");
    assert_eq!(reset.rows_affected(), 2);
    raw.close().await.expect("close");

    bot.start_again().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !bot.db.storage.inbox_pending(10).await.expect("q").is_empty()
        || bot.db.storage.outbox_counts().await.expect("q").pending > 0
    {
        assert!(std::time::Instant::now() < deadline, "replay did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let to_topic = bot
        .sim
        .messages_in(SUPPORT_GROUP_ID, Some(thread))
        .iter()
        .filter(|m| m.copied_from == Some((finn.id, msg)))
        .count();
    let to_customer = bot
        .sim
        .messages_in(finn.id, None)
        .iter()
        .filter(|m| m.copied_from == Some((SUPPORT_GROUP_ID, reply)))
        .count();
    assert_eq!((to_topic, to_customer), (1, 1), "each relay delivered exactly once");
    assert_eq!(bot.sim.messages_in(finn.id, None).len(), to_customer_before, "nothing new for the customer");
    assert_eq!(bot.sim.all_messages(SUPPORT_GROUP_ID).len(), in_group_before, "nothing new in the group");
    bot.stop().await.expect("clean stop");
}
