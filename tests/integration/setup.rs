//! An operator's set-up (issue 11): the support group is checked at start
//! and kept current from `my_chat_member`; `/healthz` says what is wrong;
//! customers are not promised a topic the group cannot hold.

use std::time::Duration;

use serde_json::Value;

use crate::{
    routing::{add_billing_agent, admin, command, note_text, topic_command},
    support::{
        bot::TestBot,
        sim::{BotApiSim, Fault, FaultRule, OTHER_GROUP_ID, SUPPORT_GROUP_ID, SUPPORT_GROUP_TITLE, SimUser},
    },
};

async fn health(bot: &TestBot) -> (u16, Value) {
    let response = reqwest::get(format!("{}/healthz", bot.http_url())).await.expect("healthz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Waits until `/healthz` answers `status`.
async fn wait_for_health(bot: &TestBot, status: u16) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (now, body) = health(bot).await;
        if now == status {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "healthz stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The customer's side of an intake, up to the answer to the description.
async fn describe(bot: &TestBot, customer: &SimUser, description: &str) -> String {
    let answer = bot.describe_ticket(customer, "billing", description, |_| true).await;
    answer.body().unwrap_or_default().to_owned()
}

/// Waits until `/healthz` reports a support-group problem containing `text`.
async fn wait_for_problem(bot: &TestBot, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = health(bot).await;
        let problem = body["support_group"].as_str().unwrap_or_default().to_owned();
        if status == 503 && problem.contains(text) {
            return problem;
        }
        assert!(tokio::time::Instant::now() < deadline, "healthz never said {text:?}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn general_texts(sim: &BotApiSim) -> Vec<String> {
    sim.messages_in(SUPPORT_GROUP_ID, None).iter().filter_map(|m| m.body().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_bot_that_is_only_a_member_says_so_and_recovers_when_promoted() {
    let sim = BotApiSim::start().await;
    sim.demote_bot();
    let mut bot = TestBot::start_with_sim(sim, &[]).await;
    let body = wait_for_health(&bot, 503).await;
    let problem = body["support_group"].as_str().unwrap_or_default();
    assert!(problem.contains("only a member") && problem.contains("Manage topics"), "{body}");
    assert_eq!(body["support_group_title"], "Support", "{body}");

    // No ticket promise the group cannot keep; the message is kept.
    let customer = SimUser::customer(1101, "Ola");
    let answer = describe(&bot, &customer, "my invoice is wrong").await;
    assert!(answer.contains("received your message") && !answer.contains('#'), "{answer}");

    bot.sim.promote_bot();
    wait_for_health(&bot, 200).await;
    bot.sim
        .wait_for(
            |s| general_texts(s).iter().any(|t| t.contains("can work in this group again")),
            Duration::from_secs(10),
        )
        .await;
    // The ticket that waited gets its topic, with the customer's description.
    bot.sim.wait_for(|s| s.topics().iter().any(|t| t.name.contains("Ola")), Duration::from_secs(20)).await;
    // Later customers hear of their ticket again.
    let later = describe(&bot, &SimUser::customer(1102, "Pia"), "a second problem").await;
    assert!(later.starts_with("Ticket #"), "{later}");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_bot_removed_later_is_noticed_and_welcomed_back() {
    let mut bot = TestBot::start().await;
    wait_for_health(&bot, 200).await;
    bot.sim.remove_bot_from(SUPPORT_GROUP_ID);
    wait_for_problem(&bot, "not a member").await;
    bot.sim.set_can_pin(false);
    bot.sim.add_bot_back_to(SUPPORT_GROUP_ID);
    let problem = wait_for_problem(&bot, "lacks").await;
    assert!(problem.contains("lacks \"Pin messages\"") && !problem.contains("Manage topics"), "{problem}");
    bot.sim.set_can_pin(true);
    wait_for_health(&bot, 200).await;
    bot.sim
        .wait_for(
            |s| general_texts(s).iter().filter(|t| t.contains("can work in this group again")).count() == 1,
            Duration::from_secs(10),
        )
        .await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_wrong_group_id_or_a_group_without_topics_is_named() {
    for (group, expected) in [
        ("-1009999999999", "is not a chat this bot can see"),
        (&*OTHER_GROUP_ID.to_string(), "turn on Topics"),
    ] {
        let mut bot = TestBot::start_with(&[("SUPPORT_GROUP_ID", group)]).await;
        let body = wait_for_health(&bot, 503).await;
        let problem = body["support_group"].as_str().unwrap_or_default();
        assert!(problem.contains(expected) && problem.contains(group), "{group}: {body}");
        assert_eq!(bot.sim.calls_to("getChat").len(), 1, "one getChat at start");
        assert!(bot.sim.calls_to("getChatMember").len() <= 1, "at most one getChatMember at start");
        bot.stop().await.expect("clean stop");
    }
}

/// An agent or admin who sends a support-group command to the bot in
/// private gets a pointer to the group, not a customer's intake; a
/// customer's words stay a customer's words.
#[tokio::test]
async fn support_commands_sent_in_private_point_to_the_group() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    assert!(command(&bot, &root, "/agent_add 2001 3").await.starts_with('✅'));
    let alice = SimUser::operator(2001, "Alice");
    for (who, text) in [(&root, "/agents"), (&alice, "/queue"), (&alice, "/available")] {
        let before = bot.sim.messages_in(who.id, None).len();
        bot.sim.private_command(who, text);
        let answer = bot.wait_for_customer_message(who, before, |_| true).await;
        let body = answer.body().unwrap_or_default();
        assert!(body.contains(text) && body.contains(SUPPORT_GROUP_TITLE), "{text}: {body}");
        assert!(answer.callback_data().is_empty(), "no intake menu: {body}");
        let dialogue = bot.db.storage.dialogue(who.id).await.expect("q");
        let dialogue = dialogue.unwrap_or_default();
        assert!(!dialogue.contains("Choosing") && !dialogue.contains("Describing"), "no intake: {dialogue}");
    }
    let stats = bot.db.storage.queue_length().await.expect("q");
    assert_eq!(stats, 0, "no ticket was opened");

    let customer = SimUser::customer(1301, "Cy");
    let before = bot.sim.messages_in(customer.id, None).len();
    bot.sim.private_command(&customer, "/agents");
    let answer = bot.wait_for_customer_message(&customer, before, |_| true).await;
    assert!(
        !answer.body().unwrap_or_default().contains(SUPPORT_GROUP_TITLE),
        "a customer is not pointed away"
    );
    bot.stop().await.expect("clean stop");
}

/// DESIGN §14: notes and topic names in `GROUP_LANGUAGE`, every command
/// reply (and the close line it causes) in the language of who sent it.
#[tokio::test]
async fn the_group_speaks_its_language_and_answers_each_agent_in_theirs() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1"), ("GROUP_LANGUAGE", "ru")]).await;
    let ana = SimUser::operator(2001, "Ana").lang("es");
    add_billing_agent(&bot, &ana).await;
    let customer = SimUser::customer(1401, "Bea");
    let (_, thread) = bot.open_ticket(&customer, "billing", "refund please").await;
    let note = note_text(&bot, thread);
    assert!(note.contains("Обращение #"), "the note is in the group's language: {note}");
    let topic = bot.sim.topics().into_iter().find(|t| t.thread_id == thread).expect("topic");
    assert!(!topic.name.contains("Billing"), "the topic name too: {}", topic.name);

    let help = command(&bot, &ana, "/help").await;
    assert!(help.starts_with("topicdesk: cada ticket"), "{help}");
    let unknown = command(&bot, &ana, "/frobnicate").await;
    assert!(unknown.starts_with("Comando desconocido"), "{unknown}");
    let noted = topic_command(&bot, &ana, thread, "/note call her back").await;
    assert!(noted.starts_with("📝 Nota interna"), "{noted}");
    bot.sim.group_text(&ana, Some(thread), "/close");
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
            m.body().is_some_and(|b| b.contains("cerrado por Ana"))
        })
        .await;
    // The customer hears it in their own language.
    bot.sim.wait_for_message(customer.id, None, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    bot.stop().await.expect("clean stop");
}

/// A refusal reported in General quotes Telegram's own words and says what
/// to check, not the library's wrapping ("A Telegram's error: Unknown
/// error: …").
#[tokio::test]
async fn a_refused_topic_is_reported_in_telegrams_words() {
    let sim = BotApiSim::start().await;
    sim.fail_next(FaultRule::new(
        "createForumTopic",
        Fault::BadRequest("Bad Request: CHAT_NOT_MODIFIED".into()),
    ));
    let mut bot = TestBot::start_with_sim(sim, &[]).await;
    let customer = SimUser::customer(1501, "Ivy");
    describe(&bot, &customer, "where is my order").await;
    bot.sim
        .wait_for(
            |s| general_texts(s).iter().any(|t| t.contains("Ticket #1") && t.contains("Telegram said")),
            Duration::from_secs(10),
        )
        .await;
    let warning = general_texts(&bot.sim).into_iter().find(|t| t.contains("Telegram said")).expect("warning");
    assert!(warning.contains("“Bad Request: CHAT_NOT_MODIFIED”"), "{warning}");
    assert!(!warning.contains("A Telegram's error") && !warning.contains("Unknown error"), "{warning}");
    assert!(warning.contains("Manage topics"), "says what to check: {warning}");
    bot.stop().await.expect("clean stop");
}

/// Replies that read right (issue 11): names rather than ids, the agent's
/// name learned from their own words, the queue's real size, a likely typo
/// in a skill caught, `@username` accepted, a capacity below the load said.
#[tokio::test]
async fn roster_replies_name_people_and_say_what_they_do() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = admin();
    assert!(command(&bot, &root, "/agent_add 2001 3").await.contains("Agent 2001"));
    assert!(command(&bot, &root, "/skill_add 2001 billing:2").await.starts_with('✅'));
    // The name (and @username) come from the agent's own message.
    let alice = SimUser::operator(2001, "Alice").username("alice_support");
    let customer = SimUser::customer(1601, "Dan");
    let (_, thread) = bot.open_ticket(&customer, "billing", "double charge").await;
    let answer = bot.sim.group_text(&alice, Some(thread), "Looking at it now");
    bot.sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, answer))).await;
    let roster = command(&bot, &root, "/agents").await;
    assert!(roster.contains("Alice (2001)") && !roster.contains("Agent 2001"), "{roster}");

    // A skill no category needs is a likely typo: refused unless forced.
    let typo = command(&bot, &root, "/skill_add @alice_support biling:3").await;
    assert!(typo.contains("No category needs") && typo.contains("force"), "{typo}");
    assert!(!command(&bot, &root, "/agents").await.contains("biling"));
    let forced = command(&bot, &root, "/skill_add @alice_support biling:3 force").await;
    assert!(forced.starts_with("✅ Alice"), "{forced}");
    let unknown = command(&bot, &root, "/agent_remove @nobody_here").await;
    assert!(unknown.contains("@nobody_here") && unknown.contains("numeric id"), "{unknown}");

    // Lowering the capacity below the load is said, not silent.
    bot.open_ticket(&SimUser::customer(1602, "Eve"), "billing", "refund").await;
    let lowered = command(&bot, &root, "/agent_add 2001 1").await;
    assert!(lowered.contains("has 2 open tickets, more than the new capacity 1"), "{lowered}");

    // The queue counts every waiting ticket, and says how many are not listed.
    for n in 0..33 {
        let ticket = topicdesk::storage::NewTicket {
            customer_id: 50_000 + n,
            customer_chat_id: 50_000 + n,
            customer_name: format!("Waiting {n}"),
            customer_username: None,
            language: "en".into(),
            category: "technical".into(),
            required_skill: "technical".into(),
            description: "help".into(),
            description_message_id: 1,
            description_has_media: false,
            created_at_ms: 1_700_000_000_000 + n,
        };
        bot.db.storage.create_ticket(&ticket).await.expect("ticket");
    }
    let queue = command(&bot, &root, "/queue").await;
    // 33 waiting for an agent, and Dan's ticket, assigned to Alice but not
    // answered since it was opened.
    assert!(queue.starts_with("Not answered yet (34)"), "{queue}");
    assert!(queue.trim_end().ends_with("…and 4 more."), "{queue}");

    // Removing names the person.
    let removed = command(&bot, &root, "/agent_remove @alice_support").await;
    assert!(removed.starts_with("✅ Alice (2001) is no longer an agent"), "{removed}");
    bot.stop().await.expect("clean stop");
}
