//! The walking skeleton end to end: a customer's first message to an agent's
//! reply and back, through the simulator.

use std::time::Duration;

use crate::support::{
    bot::TestBot,
    db::TestDb,
    sim::{SUPPORT_GROUP_ID, SimKind, SimUser},
};

fn bob() -> SimUser {
    SimUser::customer(777, "Bob").username("bob").lang("en")
}

fn alice() -> SimUser {
    SimUser::operator(1001, "Alice")
}

#[tokio::test]
async fn a_ticket_goes_from_intake_to_topic_and_both_ways() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let customer = bob();

    // /start offers the default categories as buttons.
    sim.private_command(&customer, "/start");
    let menu = bot.wait_for_customer_message(&customer, 0, |m| !m.callback_data().is_empty()).await;
    assert_eq!(
        menu.callback_data(),
        vec!["1/cat/billing", "1/cat/technical", "1/cat/account", "1/cat/other"]
    );
    assert!(menu.body().unwrap_or_default().starts_with("Hi Bob!"), "{:?}", menu.body());

    // Picking one asks for the description.
    let query = sim.press_button(&customer, menu.message_id, "1/cat/billing");
    let ask = bot.wait_for_customer_message(&customer, 1, |_| true).await;
    assert!(
        ask.body().unwrap_or_default().starts_with("Billing and payments: please describe"),
        "{:?}",
        ask.body()
    );
    sim.wait_for(|s| s.callback_answer(&query).is_some(), Duration::from_secs(5)).await;

    // The description opens the ticket.
    sim.private_text(&customer, "I was charged twice <b>& want</b> a refund");
    let opened = bot.wait_for_customer_message(&customer, 2, |_| true).await;
    assert!(opened.body().unwrap_or_default().starts_with("Ticket #1 opened."), "{:?}", opened.body());

    // A topic named per DESIGN §7, whose first message is the pinned note
    // (the topic is set up in the ticket's own lane, beside the reply).
    sim.wait_for(
        |s| s.topics().iter().any(|t| s.pinned(SUPPORT_GROUP_ID, Some(t.thread_id)).is_some()),
        Duration::from_secs(10),
    )
    .await;
    let topics = sim.topics();
    assert_eq!(topics.len(), 1, "{topics:?}");
    let topic = &topics[0];
    assert_eq!(topic.chat_id, SUPPORT_GROUP_ID);
    assert_eq!(topic.name, "#1 · Billing and payments · Bob");
    let in_topic = sim.messages_in(SUPPORT_GROUP_ID, Some(topic.thread_id));
    let note = in_topic.first().expect("the note is the first message in the topic");
    let html = note.html.as_deref().expect("note sent as HTML");
    assert!(html.contains("<a href=\"tg://user?id=777\">Bob</a> @bob"), "{html}");
    assert!(html.contains("Billing and payments (<code>billing</code>)"), "{html}");
    assert!(html.contains("I was charged twice &lt;b&gt;&amp; want&lt;/b&gt; a refund"), "{html}");
    assert!(html.contains("unknown (no CRM connected)"), "placeholders say what is not known: {html}");
    assert!(html.contains("nobody yet"), "{html}");
    sim.wait_for(
        |s| s.pinned(SUPPORT_GROUP_ID, Some(topic.thread_id)) == Some(note.message_id),
        Duration::from_secs(5),
    )
    .await;
    // The note never reaches the customer.
    assert!(
        sim.messages_in(customer.id, None)
            .iter()
            .all(|m| !m.body().unwrap_or_default().contains("Internal note"))
    );

    // The customer's further messages are copied into the topic.
    let follow_up = sim.private_text(&customer, "order 1234");
    let relayed = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| {
            m.copied_from == Some((customer.id, follow_up))
        })
        .await;
    assert_eq!(relayed.body(), Some("order 1234"));
    let photo = sim.private_photo(&customer, Some("screenshot"));
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| {
        m.copied_from == Some((customer.id, photo)) && m.kind == SimKind::Photo
    })
    .await;

    // An agent's text in the topic is copied to the customer.
    let agent = alice();
    bot.register_agent(&agent).await;
    let reply = sim.group_text(&agent, Some(topic.thread_id), "Refund issued, sorry!");
    let delivered =
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    assert_eq!(delivered.body(), Some("Refund issued, sorry!"));
    let ticket = bot.db.storage.ticket(topicdesk::domain::TicketId(1)).await.expect("q").expect("ticket");
    assert!(ticket.first_response_at_ms.is_some(), "first response recorded");

    // Internal notes stay internal.
    let before = sim.messages_in(customer.id, None).len();
    sim.group_text(&agent, Some(topic.thread_id), "/note customer sounds upset");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| {
        m.body().is_some_and(|b| b.contains("Internal note kept"))
    })
    .await;

    // /close tells the customer and closes the topic.
    sim.group_text(&agent, Some(topic.thread_id), "/close");
    bot.wait_for_customer_message(&customer, before, |m| {
        m.body().is_some_and(|b| b.contains("Ticket #1 is closed"))
    })
    .await;
    sim.wait_for(
        |s| s.topics().iter().any(|t| t.thread_id == topic.thread_id && t.closed),
        Duration::from_secs(5),
    )
    .await;
    let notes_to_customer = sim
        .messages_in(customer.id, None)
        .iter()
        .filter(|m| m.body().unwrap_or_default().contains("upset"))
        .count();
    assert_eq!(notes_to_customer, 0, "the /note was never relayed");

    // After closing, the customer is asked for a rating; the topic hears it.
    let rating = sim
        .wait_for_message(customer.id, None, |m| m.callback_data().iter().any(|d| d.starts_with("1/rate/")))
        .await;
    let four = rating.callback_data().into_iter().find(|d| d.ends_with(".4")).expect("a 4");
    sim.press_button(&customer, rating.message_id, &four);
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| {
        m.body().is_some_and(|b| b.contains("rated this ticket 4/5"))
    })
    .await;

    // Written soon after the close (REOPEN_WINDOW), the next message
    // continues the same ticket in the same topic.
    let more = sim.private_text(&customer, "one more thing");
    bot.wait_for_customer_message(&customer, 0, |m| {
        m.body().is_some_and(|b| b.contains("has been reopened"))
    })
    .await;
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| {
        m.copied_from == Some((customer.id, more))
    })
    .await;

    assert!(sim.schema_violations().is_empty(), "{:?}", sim.schema_violations());
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn commands_are_registered_per_scope_and_language() {
    let mut bot = TestBot::start().await;
    // Registered beside the first poll, not before it.
    bot.sim.wait_for(|s| s.calls_to("setMyCommands").len() >= 6, Duration::from_secs(10)).await;
    let lists = bot.sim.commands();
    let rendered = format!("{lists:?}");
    for command in ["start", "cancel", "help", "close", "reopen", "note"] {
        assert!(rendered.contains(&format!("\"{command}\"")), "{command} missing: {rendered}");
    }
    let calls = bot.sim.calls_to("setMyCommands");
    assert_eq!(calls.len(), 6, "two scopes × three languages");
    assert!(calls.iter().all(|c| c.error.is_none()), "{calls:?}");
    let private_ru = calls
        .iter()
        .find(|c| c.params["scope"]["type"] == "all_private_chats" && c.params["language_code"] == "ru")
        .expect("Russian customer menu");
    assert!(private_ru.params["commands"].to_string().contains("Открыть обращение"), "{}", private_ru.params);
    let group = calls
        .iter()
        .find(|c| c.params["scope"]["type"] == "chat" && c.params.get("language_code").is_none())
        .expect("group menu");
    assert_eq!(group.params["scope"]["chat_id"], SUPPORT_GROUP_ID);
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn customers_are_served_in_their_language() {
    let mut bot = TestBot::start().await;
    let ru = SimUser::customer(900, "Иван").lang("ru");
    let (ticket, _) = bot.open_ticket(&ru, "technical", "Не работает вход").await;
    let texts: Vec<String> =
        bot.sim.messages_in(ru.id, None).iter().filter_map(|m| m.body().map(str::to_owned)).collect();
    assert!(texts[0].starts_with("Здравствуйте, Иван!"), "{texts:?}");
    assert!(texts[1].starts_with("Техническая проблема: опишите"), "{texts:?}");
    assert!(texts[2].starts_with(&format!("Обращение #{ticket} открыто")), "{texts:?}");

    let es = SimUser::customer(901, "Ana").lang("es-MX");
    bot.open_ticket(&es, "account", "No puedo entrar").await;
    let first = bot.sim.messages_in(es.id, None)[0].body().unwrap_or_default().to_owned();
    assert!(first.starts_with("¡Hola, Ana!"), "{first}");

    let de = SimUser::customer(902, "Jonas").lang("de");
    bot.open_ticket(&de, "other", "Hallo").await;
    let first = bot.sim.messages_in(de.id, None)[0].body().unwrap_or_default().to_owned();
    assert!(first.starts_with("Hi Jonas!"), "unsupported languages fall back to English: {first}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_description_with_media_is_copied_under_the_note() {
    let mut bot = TestBot::start().await;
    let customer = SimUser::customer(778, "Cara");
    let sim = &bot.sim;
    sim.private_command(&customer, "/start");
    let menu = bot.wait_for_customer_message(&customer, 0, |m| !m.callback_data().is_empty()).await;
    sim.press_button(&customer, menu.message_id, "1/cat/technical");
    bot.wait_for_customer_message(&customer, 1, |_| true).await;
    let photo = sim.private_photo(&customer, Some("The app crashes on this screen"));
    bot.wait_for_customer_message(&customer, 2, |m| m.body().is_some_and(|b| b.contains("#1"))).await;
    sim.wait_for(|s| !s.topics().is_empty(), Duration::from_secs(10)).await;
    let topic = sim.topics().pop().expect("topic");
    let copy = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(topic.thread_id), |m| {
            m.copied_from == Some((customer.id, photo))
        })
        .await;
    assert_eq!(copy.kind, SimKind::Photo);
    let note = &sim.messages_in(SUPPORT_GROUP_ID, Some(topic.thread_id))[0];
    assert!(note.html.as_deref().unwrap_or_default().contains("The app crashes on this screen"));
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn reopen_brings_the_conversation_back() {
    let mut bot = TestBot::start().await;
    let customer = SimUser::customer(779, "Dora");
    let (ticket, thread) = bot.open_ticket(&customer, "billing", "Invoice missing").await;
    let sim = &bot.sim;
    let agent = alice();
    bot.register_agent(&agent).await;
    sim.group_text(&agent, Some(thread), "/close");
    sim.wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && t.closed), Duration::from_secs(5))
        .await;

    // Agents writing in a closed ticket are told it was not sent.
    let late = sim.group_text(&agent, Some(thread), "hello?");
    // (the topic is closed: an agent can still post as admin in Telegram; our sim accepts injected messages)
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
        m.reply_to_message_id == Some(late) && m.body().is_some_and(|b| b.contains("is closed"))
    })
    .await;

    sim.group_text(&agent, Some(thread), "/reopen");
    sim.wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && !t.closed), Duration::from_secs(5))
        .await;
    bot.wait_for_customer_message(&customer, 0, |m| {
        m.body().is_some_and(|b| b.contains(&format!("Ticket #{ticket} has been reopened")))
    })
    .await;
    let msg = sim.private_text(&customer, "thanks for reopening");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((customer.id, msg))).await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_slice_runs_on_postgresql_too() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("TEST_POSTGRES_URL not set: skipping the PostgreSQL end-to-end test");
        return;
    };
    let mut bot = TestBot::start_on(db, &[]).await;
    let customer = bob();
    let (ticket, thread) = bot.open_ticket(&customer, "billing", "Charged twice").await;
    assert_eq!(ticket, 1);
    let msg = bot.sim.private_text(&customer, "still waiting");
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((customer.id, msg)))
        .await;
    bot.register_agent(&alice()).await;
    let reply = bot.sim.group_text(&alice(), Some(thread), "On it");
    bot.sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    bot.stop().await.expect("clean stop");
    let TestBot { db, .. } = bot;
    db.destroy().await;
}
