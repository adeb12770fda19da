//! Nothing a customer or agent writes is lost (DESIGN §9): the paths that
//! used to lose messages, each through the simulator.

use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, Executor};

use crate::support::{
    bot::TestBot,
    db::TestDb,
    sim::{BotApiSim, SUPPORT_GROUP_ID, SimKind, SimMessage, SimUser},
};

fn customer(id: i64, name: &str) -> SimUser {
    SimUser::customer(id, name).lang("en")
}

fn agent() -> SimUser {
    SimUser::operator(2001, "Alice")
}

/// Bodies (or kinds) of what is in a topic after its note, in order.
fn topic_after_note(sim: &BotApiSim, thread: i32) -> Vec<SimMessage> {
    sim.messages_in(SUPPORT_GROUP_ID, Some(thread)).into_iter().filter(|m| m.html.is_none()).collect()
}

/// Walks a customer to the description prompt: /start, then the category.
async fn to_description_step(bot: &TestBot, who: &SimUser, category: &str) {
    let before = bot.sim.messages_in(who.id, None).len();
    bot.sim.private_command(who, "/start");
    let menu = bot.wait_for_customer_message(who, before, |m| !m.callback_data().is_empty()).await;
    let before = bot.sim.messages_in(who.id, None).len();
    bot.sim.press_button(who, menu.message_id, &format!("1/cat/{category}"));
    bot.wait_for_customer_message(who, before, |m| m.body().is_some_and(|b| b.contains("describe"))).await;
}

/// Waits for the topic of ticket `n` and returns its thread id.
async fn topic_of(sim: &BotApiSim, n: i64, within: Duration) -> i32 {
    let prefix = format!("#{n} ");
    sim.wait_for(|s| s.topics().iter().any(|t| t.name.starts_with(&prefix) && !t.deleted), within).await;
    sim.topics().into_iter().find(|t| t.name.starts_with(&prefix) && !t.deleted).expect("topic").thread_id
}

#[tokio::test]
async fn messages_wait_while_the_bot_may_not_create_topics_and_follow_in_order() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    // The bot is a plain member of the group: no "Manage topics".
    sim.demote_bot();
    let eva = customer(5001, "Eva");
    to_description_step(&bot, &eva, "billing").await;
    sim.private_text(&eva, "my card was declined");
    bot.wait_for_customer_message(&eva, 0, |m| {
        m.body().is_some_and(|b| b.starts_with("We have received your message"))
    })
    .await;
    let text = sim.private_text(&eva, "second: it happened twice");
    let photo = sim.private_photo(&eva, Some("third: the screenshot"));
    // The agents learn why, once; nothing is refused for good.
    sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| {
        m.body().is_some_and(|b| b.starts_with("⚠️ Ticket #1 is waiting for its topic"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sim.topics().is_empty());
    assert_eq!(bot.db.storage.outbox_counts().await.expect("q").failed, 0, "nothing refused for good");
    let notices = sim
        .messages_in(SUPPORT_GROUP_ID, None)
        .iter()
        .filter(|m| m.body().is_some_and(|b| b.contains("is waiting for its topic")))
        .count();
    assert_eq!(notices, 1, "reported once, not on every probe");
    let probes = sim.calls_to("createForumTopic").len();
    assert!(probes <= 4, "one probe at a time, backing off: {probes} in ~4 s");

    // The admin promotes the bot again: the topic, the note and both
    // messages follow by themselves, in order, within the probe interval.
    let promoted = std::time::Instant::now();
    sim.promote_bot();
    let thread = topic_of(sim, 1, Duration::from_secs(12)).await;
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((eva.id, photo))).await;
    assert!(promoted.elapsed() < Duration::from_secs(12), "recovered in {:?}", promoted.elapsed());
    let all = sim.messages_in(SUPPORT_GROUP_ID, Some(thread));
    assert!(all[0].html.as_deref().unwrap_or_default().contains("my card was declined"), "the note first");
    let relayed: Vec<_> = topic_after_note(sim, thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(relayed, vec![(eva.id, text), (eva.id, photo)], "both messages, once each, in order");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn messages_wait_while_the_bot_is_removed_from_the_group_and_follow_when_added_back() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let finn = customer(5002, "Finn");
    let (first, first_thread) = bot.open_ticket(&finn, "billing", "invoice missing").await;
    let gus = customer(5003, "Gus");

    sim.remove_bot_from(SUPPORT_GROUP_ID);
    let early = sim.private_text(&finn, "while removed 1");
    let later = sim.private_text(&finn, "while removed 2");
    to_description_step(&bot, &gus, "technical").await;
    sim.private_text(&gus, "the app crashes");
    bot.wait_for_customer_message(&gus, 0, |m| {
        m.body().is_some_and(|b| b.starts_with("We have received your message"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(bot.db.storage.outbox_counts().await.expect("q").failed, 0, "nothing refused for good");
    assert!(topic_after_note(sim, first_thread).is_empty());

    sim.add_bot_back_to(SUPPORT_GROUP_ID);
    sim.wait_for_message_within(
        SUPPORT_GROUP_ID,
        Some(first_thread),
        |m| m.copied_from == Some((finn.id, later)),
        Duration::from_secs(12),
    )
    .await;
    let relayed: Vec<_> = topic_after_note(sim, first_thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(relayed, vec![(finn.id, early), (finn.id, later)]);
    let second = topic_of(sim, 2, Duration::from_secs(12)).await;
    assert_ne!(second, first_thread);
    assert_eq!(first, 1);
    bot.stop().await.expect("clean stop");
}

/// `who` has a ticket that `agent` closed, then writes "one more question":
/// a new intake offers the categories. Returns the ticket, its thread, how
/// many messages the customer's chat had before the question, the question's
/// id and the category menu.
async fn closed_then_new_intake(
    bot: &TestBot,
    who: &SimUser,
    agent: &SimUser,
) -> (i64, i32, usize, i32, SimMessage) {
    bot.register_agent(agent).await;
    let (ticket, thread) = bot.open_ticket(who, "billing", "refund please").await;
    bot.sim.group_text(agent, Some(thread), "/close");
    bot.wait_for_customer_message(who, 0, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    let before = bot.sim.messages_in(who.id, None).len();
    let question = bot.sim.private_text(who, "one more question");
    let menu = bot.wait_for_customer_message(who, before, |m| !m.callback_data().is_empty()).await;
    (ticket, thread, before, question, menu)
}

#[tokio::test]
async fn a_reopen_ends_the_new_intake_and_the_next_message_reaches_the_topic() {
    let mut bot = TestBot::start_with(&[("REOPEN_WINDOW", "0")]).await; // a new intake after the close
    let sim = &bot.sim;
    let ida = customer(5004, "Ida");
    let alice = agent();
    let (ticket, thread, before, question, _) = closed_then_new_intake(&bot, &ida, &alice).await;

    // An agent reopens the old ticket meanwhile.
    sim.group_text(&alice, Some(thread), "/reopen");
    bot.wait_for_customer_message(&ida, before, |m| {
        m.body().is_some_and(|b| b.contains(&format!("Ticket #{ticket} has been reopened")))
    })
    .await;
    let after = sim.private_text(&ida, "after-reopen");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((ida.id, after))).await;
    let relayed: Vec<_> = topic_after_note(sim, thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(
        relayed,
        vec![(ida.id, question), (ida.id, after)],
        "the message that started the intake and the one after the reopen"
    );
    let hints = sim
        .messages_in(ida.id, None)
        .iter()
        .filter(|m| {
            m.body().is_some_and(|b| b.contains("choose one of the buttons") || b.contains("is open"))
        })
        .count();
    assert_eq!(hints, 0, "no hint: the message went to the ticket");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_message_at_the_description_step_reaches_a_ticket_reopened_meanwhile() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let jo = customer(5005, "Jo");
    let alice = agent();
    bot.register_agent(&alice).await;
    let (_, thread) = bot.open_ticket(&jo, "billing", "refund please").await;
    sim.group_text(&alice, Some(thread), "/close");
    bot.wait_for_customer_message(&jo, 0, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    to_description_step(&bot, &jo, "technical").await;
    let before = sim.messages_in(jo.id, None).len();
    sim.group_text(&alice, Some(thread), "/reopen");
    bot.wait_for_customer_message(&jo, before, |m| m.body().is_some_and(|b| b.contains("has been reopened")))
        .await;
    // The description prompt is still on screen: the next message is not a
    // new ticket's description but goes to the reopened one.
    let after = sim.private_text(&jo, "after-reopen");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((jo.id, after))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bot.db.storage.open_ticket_of_customer(jo.id).await.expect("q").map(|t| t.id.0), Some(1));
    assert!(sim.topics().len() == 1, "no second ticket was opened: {:?}", sim.topics());
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_long_description_is_shortened_in_the_note_and_follows_in_full() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let kai = customer(5006, "Kai");
    let description: String = (0..815).map(|i| format!("w{i:03} ")).collect::<String>().trim_end().to_owned();
    assert!(description.chars().count() > 4000 && description.chars().count() <= 4096);
    let (_, thread) = bot.open_ticket(&kai, "billing", &description).await;
    let full = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.body() == Some(description.as_str()))
        .await;
    let all = sim.messages_in(SUPPORT_GROUP_ID, Some(thread));
    let note = all[0].html.as_deref().expect("note");
    assert!(note.contains("w000 w001") && !note.contains("w814"), "the note shows the start");
    assert!(note.contains("full description follows below"), "and says so");
    assert!(full.message_id > all[0].message_id, "the full text follows the note");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn media_sent_during_the_intake_belong_to_the_ticket() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let lea = customer(5007, "Lea");
    to_description_step(&bot, &lea, "technical").await;
    let before = sim.messages_in(lea.id, None).len();
    let album = sim.private_album(&lea, 4, None);
    let hint = bot
        .wait_for_customer_message(&lea, before, |m| m.body().is_some_and(|b| b.contains("in words")))
        .await;
    sim.private_text(&lea, "the screen stays black after the update");
    bot.wait_for_customer_message(&lea, before, |m| {
        m.body().is_some_and(|b| b.starts_with("Ticket #1 opened"))
    })
    .await;
    let thread = topic_of(sim, 1, Duration::from_secs(10)).await;
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((lea.id, album[3]))).await;
    let relayed: Vec<_> = topic_after_note(sim, thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(relayed, album.iter().map(|id| (lea.id, *id)).collect::<Vec<_>>(), "all four, in order");
    assert!(topic_after_note(sim, thread).iter().all(|m| m.kind == SimKind::Photo));
    let hints = sim.messages_in(lea.id, None).iter().filter(|m| m.body() == hint.body()).count();
    assert_eq!(hints, 1, "one hint for the album, not four");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_first_message_is_offered_as_the_description() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let max = customer(5008, "Max");
    let first = sim.private_text(&max, "My order 1234 never arrived");
    let menu = bot.wait_for_customer_message(&max, 0, |m| !m.callback_data().is_empty()).await;
    let before = sim.messages_in(max.id, None).len();
    sim.press_button(&max, menu.message_id, "1/cat/billing");
    let offer = bot.wait_for_customer_message(&max, before, |m| !m.callback_data().is_empty()).await;
    assert!(offer.body().unwrap_or_default().contains("My order 1234 never arrived"), "{:?}", offer.body());
    assert_eq!(offer.callback_data(), vec![format!("1/draft/{first}")]);
    sim.press_button(&max, offer.message_id, &format!("1/draft/{first}"));
    bot.wait_for_customer_message(&max, before, |m| {
        m.body().is_some_and(|b| b.starts_with("Ticket #1 opened"))
    })
    .await;
    let thread = topic_of(sim, 1, Duration::from_secs(10)).await;
    sim.wait_for(|s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some(), Duration::from_secs(10)).await;
    let note = sim.messages_in(SUPPORT_GROUP_ID, Some(thread))[0].html.clone().expect("note");
    assert!(note.contains("My order 1234 never arrived"), "{note}");
    let ticket = bot.db.storage.open_ticket_of_customer(max.id).await.expect("q").expect("ticket");
    assert_eq!(ticket.description_message_id, first);
    // Used as the description, it is not relayed a second time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(topic_after_note(sim, thread).is_empty());
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_first_message_not_used_as_the_description_is_relayed_with_the_ticket() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let nia = customer(5009, "Nia");
    let sticker = sim.private_sticker(&nia);
    let menu = bot.wait_for_customer_message(&nia, 0, |m| !m.callback_data().is_empty()).await;
    let first = sim.private_text(&nia, "hello?");
    let before = sim.messages_in(nia.id, None).len();
    sim.press_button(&nia, menu.message_id, "1/cat/account");
    bot.wait_for_customer_message(&nia, before, |m| !m.callback_data().is_empty()).await;
    sim.private_text(&nia, "I cannot log in since yesterday");
    let thread = topic_of(sim, 1, Duration::from_secs(10)).await;
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((nia.id, first))).await;
    let relayed: Vec<_> = topic_after_note(sim, thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(relayed, vec![(nia.id, sticker), (nia.id, first)]);
    let note = sim.messages_in(SUPPORT_GROUP_ID, Some(thread))[0].html.clone().expect("note");
    assert!(note.contains("I cannot log in since yesterday"), "{note}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn every_kind_an_agent_sends_reaches_the_customer_or_gets_a_notice() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let ola = customer(5010, "Ola");
    let alice = agent();
    bot.register_agent(&alice).await;
    let (_, thread) = bot.open_ticket(&ola, "billing", "where is my parcel").await;
    let kinds = [
        (
            "venue",
            json!({"location": {"latitude": 52.5, "longitude": 13.4}, "title": "Depot", "address": "Main St 1"}),
        ),
        (
            "poll",
            json!({"id": "5000000001", "question": "Which day?", "options": [
                {"text": "Mon", "voter_count": 0}, {"text": "Tue", "voter_count": 0}],
                "total_voter_count": 0, "is_closed": false, "is_anonymous": true,
                "type": "regular", "allows_multiple_answers": false}),
        ),
        ("dice", json!({"emoji": "🎲", "value": 4})),
        ("audio", json!({"file_id": "AUD1", "file_unique_id": "AU1", "duration": 3})),
    ];
    let mut sent = Vec::new();
    for (field, value) in kinds {
        sent.push((field, sim.group_kind(&alice, Some(thread), field, value)));
    }
    for (field, id) in &sent {
        let copy =
            sim.wait_for_message(ola.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, *id))).await;
        assert_eq!(copy.kind, SimKind::Other((*field).to_owned()), "{field}");
    }

    // An edit reaches the customer's copy.
    let text = sim.group_text(&alice, Some(thread), "Your parcel is at the depot");
    sim.wait_for_message(ola.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, text))).await;
    sim.edit_group_text(&alice, text, "Your parcel is at the depot on Main St");
    sim.wait_for_message(ola.id, None, |m| {
        m.copied_from == Some((SUPPORT_GROUP_ID, text))
            && m.body() == Some("Your parcel is at the depot on Main St")
    })
    .await;
    bot.stop().await.expect("clean stop");
}

/// Makes the database refuse new outbox rows (a real refusal from the
/// database, as when a disk fills up): `on` installs the trigger, `off`
/// removes it.
async fn refuse_outbox_writes(db: &TestDb, on: bool) {
    let topicdesk::config::DatabaseUrl::Sqlite(url) = &db.url else { panic!("SQLite only") };
    let mut conn = sqlx::SqliteConnection::connect(url).await.expect("second connection");
    let sql = if on {
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk I/O error (test outage)'); END"
    } else {
        "DROP TRIGGER refuse_outbox"
    };
    conn.execute(sql).await.expect("trigger");
    conn.close().await.expect("close");
}

/// Runs `act` while the database refuses the update's effects, kills the
/// bot before it could store them (a crash between a handler's writes and
/// its inbox mark), and starts it again with the database healthy.
async fn crash_before_the_mark(bot: &mut TestBot, act: impl FnOnce(&BotApiSim)) {
    refuse_outbox_writes(&bot.db, true).await;
    act(&bot.sim);
    tokio::time::sleep(Duration::from_secs(2)).await;
    bot.crash().await;
    refuse_outbox_writes(&bot.db, false).await;
    bot.start_again().await;
}

/// Waits until the topic's pinned note is no longer `old`, and returns it.
async fn new_pinned_note(bot: &TestBot, thread: i32, old: i32) -> String {
    bot.sim
        .wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(thread)).is_some_and(|p| p != old),
            Duration::from_secs(10),
        )
        .await;
    let pinned = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned");
    bot.sim.message(SUPPORT_GROUP_ID, pinned).and_then(|m| m.html).expect("note")
}

#[tokio::test]
async fn a_database_outage_holds_the_conversation_and_every_message_follows_without_a_restart() {
    let mut bot = TestBot::start().await;
    let pia = customer(5011, "Pia");
    let (_, thread) = bot.open_ticket(&pia, "billing", "card declined").await;
    refuse_outbox_writes(&bot.db, true).await;
    let sent: Vec<i32> =
        (1..=5).map(|i| bot.sim.private_text(&pia, &format!("during the outage {i}"))).collect();
    // Longer than the handler used to retry before moving on (15.5 s).
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(topic_after_note(&bot.sim, thread).is_empty(), "nothing could be queued meanwhile");
    refuse_outbox_writes(&bot.db, false).await;
    bot.sim
        .wait_for_message_within(
            SUPPORT_GROUP_ID,
            Some(thread),
            |m| m.copied_from == Some((pia.id, sent[4])),
            Duration::from_secs(15),
        )
        .await;
    let relayed: Vec<_> = topic_after_note(&bot.sim, thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(relayed, sent.iter().map(|id| (pia.id, *id)).collect::<Vec<_>>(), "all five, in order, once");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_crash_before_the_inbox_mark_replays_the_category_pick_against_the_state_it_saw() {
    let mut bot = TestBot::start().await;
    let quinn = customer(5012, "Quinn");
    bot.sim.private_command(&quinn, "/start");
    let menu = bot.wait_for_customer_message(&quinn, 0, |m| !m.callback_data().is_empty()).await;
    // The pick is handled, but its effects cannot be stored; the bot dies.
    let mut query = String::new();
    crash_before_the_mark(&mut bot, |sim| query = sim.press_button(&quinn, menu.message_id, "1/cat/billing"))
        .await;
    let before = bot.sim.messages_in(quinn.id, None).len();
    let ask =
        bot.wait_for_customer_message(&quinn, 1, |m| m.body().is_some_and(|b| b.contains("describe"))).await;
    assert!(ask.body().unwrap_or_default().starts_with("Billing"), "{:?}", ask.body());
    let answer = bot.sim.callback_answer(&query);
    assert!(
        !answer.as_ref().and_then(|a| a["text"].as_str()).unwrap_or_default().contains("no longer active"),
        "{answer:?}"
    );
    bot.sim.private_text(&quinn, "charged twice");
    bot.wait_for_customer_message(&quinn, before, |m| {
        m.body().is_some_and(|b| b.starts_with("Ticket #1 opened"))
    })
    .await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_crash_before_the_inbox_mark_replays_a_close_to_its_end() {
    let mut bot = TestBot::start().await;
    let rui = customer(5013, "Rui");
    bot.register_agent(&agent()).await;
    let (_, thread) = bot.open_ticket(&rui, "billing", "card declined").await;
    crash_before_the_mark(&mut bot, |sim| {
        sim.group_text(&agent(), Some(thread), "/close");
    })
    .await;
    bot.wait_for_customer_message(&rui, 0, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    bot.sim
        .wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && t.closed), Duration::from_secs(10))
        .await;
    let already = bot
        .sim
        .messages_in(SUPPORT_GROUP_ID, Some(thread))
        .iter()
        .filter(|m| m.body().is_some_and(|b| b.contains("already closed")))
        .count();
    assert_eq!(already, 0, "the replay finishes its own close");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_update_teloxide_cannot_read_is_reported_kept_and_counted() {
    let mut bot = TestBot::start().await;
    let sam = customer(5014, "Sam");
    bot.sim.add_user(&sam);
    // A private message whose date is not a number: teloxide cannot read it.
    let update_id = bot.sim.inject_raw(json!({"message": {
        "message_id": 99, "date": "yesterday",
        "chat": {"id": sam.id, "type": "private", "first_name": "Sam"},
        "from": {"id": sam.id, "is_bot": false, "first_name": "Sam", "language_code": "en"},
        "text": "my order is late"
    }}));
    let notice = bot.wait_for_customer_message(&sam, 0, |_| true).await;
    assert!(notice.body().unwrap_or_default().contains("could not read that message"), "{:?}", notice.body());
    let metrics = reqwest::get(format!("{}/metrics", bot.http_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.lines().any(|l| l.starts_with("topicdesk_updates_total") && l.contains("unparsed")),
        "{metrics}"
    );
    let kept = bot.db.storage.inbox_payload(update_id).await.expect("q").expect("kept");
    assert!(
        kept.contains("yesterday") && kept.contains("my order is late"),
        "the raw update is kept: {kept}"
    );
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_crash_before_the_inbox_mark_does_not_make_a_roster_change_twice() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1001")]).await;
    let root = SimUser::operator(1001, "Root");
    bot.sim.group_text(&root, None, "/agent_add 2001 3");
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("2001"))).await;
    crash_before_the_mark(&mut bot, |sim| {
        sim.group_text(&root, None, "/agent_remove 2001");
    })
    .await;
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("carried out")))
        .await;
    assert!(bot.db.storage.agent(2001).await.expect("q").is_none());
    let removals =
        bot.db.storage.audit_entries(50).await.expect("q").iter().filter(|e| e.2 == "agent_remove").count();
    assert_eq!(removals, 1, "changed and logged once");
    let not_found = bot
        .sim
        .messages_in(SUPPORT_GROUP_ID, None)
        .iter()
        .filter(|m| m.body().is_some_and(|b| b.contains("There is no agent")))
        .count();
    assert_eq!(not_found, 0, "the replay does not claim the agent never existed");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_crash_before_the_inbox_mark_still_posts_the_note_of_a_take() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1001")]).await;
    let root = SimUser::operator(1001, "Root");
    let alice = agent();
    bot.sim.group_text(&root, None, "/agent_add 2001 3");
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("2001"))).await;
    bot.sim.group_text(&alice, None, "/away");
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("away"))).await;
    let tom = customer(5015, "Tom");
    let (_, thread) = bot.open_ticket(&tom, "billing", "card declined").await;
    let first_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned note");

    crash_before_the_mark(&mut bot, |sim| {
        sim.group_text(&alice, Some(thread), "/take");
    })
    .await;
    let note = new_pinned_note(&bot, thread, first_note).await;
    assert!(note.contains("tg://user?id=2001"), "the new note names the agent: {note}");
    let already = bot
        .sim
        .messages_in(SUPPORT_GROUP_ID, Some(thread))
        .iter()
        .filter(|m| {
            m.body().is_some_and(|b| b.contains("already yours") || b.contains("already assigned to you"))
        })
        .count();
    assert_eq!(already, 0, "the replay finishes the take instead of calling it done already");
    bot.stop().await.expect("clean stop");
}

/// Agent 2001 (billing), added by admin 1001, away: tickets wait.
async fn away_billing_agent(bot: &TestBot, capacity: u32) {
    let root = SimUser::operator(1001, "Root");
    bot.sim.group_text(&root, None, &format!("/agent_add 2001 {capacity}"));
    bot.sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("2001"))).await;
    bot.sim.group_text(&root, None, "/skill_add 2001 billing:2");
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("billing:2")))
        .await;
}

#[tokio::test]
async fn a_crash_before_the_inbox_mark_still_posts_the_notes_of_tickets_an_available_agent_got() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1001")]).await;
    away_billing_agent(&bot, 3).await;
    bot.sim.group_text(&agent(), None, "/away");
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains("is away")))
        .await;
    let tom = customer(5016, "Tom");
    let (_, thread) = bot.open_ticket(&tom, "billing", "card declined").await;
    let first_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("pinned note");
    crash_before_the_mark(&mut bot, |sim| {
        sim.group_text(&agent(), None, "/available");
    })
    .await;
    let note = new_pinned_note(&bot, thread, first_note).await;
    assert!(note.contains("tg://user?id=2001"), "{note}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_crash_before_the_inbox_mark_of_a_close_still_posts_the_note_of_the_next_ticket() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1001")]).await;
    away_billing_agent(&bot, 1).await;
    let abe = customer(5017, "Abe");
    let bea = customer(5018, "Bea");
    let (_, first) = bot.open_ticket(&abe, "billing", "first").await;
    let (_, second) = bot.open_ticket(&bea, "billing", "second").await;
    let waiting = bot.db.storage.open_ticket_of_customer(bea.id).await.expect("q").expect("t");
    assert_eq!(waiting.assignee_id, None, "capacity 1: the second waits");
    let waiting_note = bot.sim.pinned(SUPPORT_GROUP_ID, Some(second)).expect("pinned");
    crash_before_the_mark(&mut bot, |sim| {
        sim.group_text(&agent(), Some(first), "/close");
    })
    .await;
    let note = new_pinned_note(&bot, second, waiting_note).await;
    assert!(note.contains("tg://user?id=2001"), "{note}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_reopen_during_a_slow_category_pick_relays_each_message_once() {
    let mut bot = TestBot::start_with(&[("REOPEN_WINDOW", "0")]).await; // a new intake after the close
    let sim = &bot.sim;
    let ida = customer(5019, "Ida");
    let alice = agent();
    let (ticket, thread, before, question, menu) = closed_then_new_intake(&bot, &ida, &alice).await;
    // The pick's handler is slow (its answerCallbackQuery hangs); the reopen
    // runs in the topic's lane meanwhile.
    sim.fail_next(crate::support::sim::FaultRule::new(
        "answerCallbackQuery",
        crate::support::sim::Fault::Delay(Duration::from_secs(3)),
    ));
    sim.press_button(&ida, menu.message_id, "1/cat/billing");
    tokio::time::sleep(Duration::from_millis(800)).await;
    sim.group_text(&alice, Some(thread), "/reopen");
    bot.wait_for_customer_message(&ida, before, |m| {
        m.body().is_some_and(|b| b.contains(&format!("Ticket #{ticket} has been reopened")))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = sim.private_text(&ida, "after-reopen");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((ida.id, after))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let relayed: Vec<_> = topic_after_note(sim, thread).iter().filter_map(|m| m.copied_from).collect();
    assert_eq!(relayed, vec![(ida.id, question), (ida.id, after)], "each once");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_unreadable_button_press_is_answered() {
    let mut bot = TestBot::start().await;
    let sam = customer(5020, "Sam");
    bot.sim.add_user(&sam);
    let query = "4000000000000000999";
    bot.sim.inject_raw(json!({"callback_query": {
        "id": query, "chat_instance": "x", "data": "1/cat/billing",
        "from": {"id": sam.id, "is_bot": false, "first_name": "Sam", "language_code": "en"},
        "message": {"message_id": 5, "date": "yesterday",
                    "chat": {"id": sam.id, "type": "private", "first_name": "Sam"}}
    }}));
    bot.sim
        .wait_for(
            |s| s.calls_to("answerCallbackQuery").iter().any(|c| c.params["callback_query_id"] == query),
            Duration::from_secs(5),
        )
        .await;
    let call =
        bot.sim.calls_to("answerCallbackQuery").into_iter().find(|c| c.params["callback_query_id"] == query);
    let text = call.and_then(|c| c.params["text"].as_str().map(str::to_owned)).unwrap_or_default();
    assert!(text.contains("tap the button again"), "{text}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn two_reassignments_in_a_row_leave_the_note_of_the_last() {
    use crate::support::sim::{Fault, FaultRule};
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1001")]).await;
    let root = SimUser::operator(1001, "Root");
    for id in ["2001", "2002"] {
        bot.sim.group_text(&root, None, &format!("/agent_add {id} 3"));
        bot.sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| m.body().is_some_and(|b| b.contains(id))).await;
    }
    let tom = customer(5021, "Tom");
    let (_, thread) = bot.open_ticket(&tom, "billing", "card declined").await;
    let first = bot.db.storage.open_ticket_of_customer(tom.id).await.expect("q").expect("t").assignee_id;
    let (x, y) = if first == Some(2001) { (2002, 2001) } else { (2001, 2002) };
    // The first new note is slow to post; the admin changes their mind.
    bot.sim.fail_next(
        FaultRule::new("sendMessage", Fault::Delay(Duration::from_secs(2))).chat(SUPPORT_GROUP_ID),
    );
    bot.sim.group_text(&root, Some(thread), &format!("/reassign {x}"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    bot.sim.group_text(&root, Some(thread), &format!("/reassign {y}"));
    let named = format!("tg://user?id={y}");
    bot.sim
        .wait_for(
            |s| {
                s.pinned(SUPPORT_GROUP_ID, Some(thread))
                    .and_then(|p| s.message(SUPPORT_GROUP_ID, p))
                    .and_then(|m| m.html)
                    .is_some_and(|html| html.contains(&named))
            },
            Duration::from_secs(10),
        )
        .await;
    let stored = bot.db.storage.open_ticket_of_customer(tom.id).await.expect("q").expect("t");
    assert_eq!(stored.assignee_id, Some(y));
    bot.stop().await.expect("clean stop");
}
