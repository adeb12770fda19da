//! The ticket's lifecycle from the customer's side (DESIGN §13): closing it
//! themselves, rating it, and coming back within or after REOPEN_WINDOW.

use std::time::Duration;

use crate::support::{
    bot::TestBot,
    sim::{SUPPORT_GROUP_ID, SimUser},
};

async fn answer(bot: &TestBot, who: &SimUser, text: &str) -> String {
    let before = bot.sim.messages_in(who.id, None).len();
    bot.sim.private_text(who, text);
    bot.wait_for_customer_message(who, before, |_| true).await.body().unwrap_or_default().to_owned()
}

fn topic_has(bot: &TestBot, thread: i32, needle: &str) -> bool {
    bot.sim
        .messages_in(SUPPORT_GROUP_ID, Some(thread))
        .iter()
        .any(|m| m.body().is_some_and(|b| b.contains(needle)))
}

#[tokio::test]
async fn a_customer_closes_rates_and_comes_back_within_the_window() {
    let mut bot = TestBot::start().await;
    let ines = SimUser::customer(1801, "Ines");
    let (ticket, thread) = bot.open_ticket(&ines, "billing", "invoice missing").await;
    let cancel = answer(&bot, &ines, "/cancel").await;
    assert!(cancel.contains(&format!("#{ticket} is open")) && cancel.contains("/close"), "{cancel}");

    // The customer closes it: told, asked for a rating; the topic is told and closed.
    bot.sim.private_text(&ines, "/close");
    let rating = bot
        .sim
        .wait_for_message(ines.id, None, |m| m.callback_data().iter().any(|d| d.starts_with("1/rate/")))
        .await;
    assert!(
        bot.sim.messages_in(ines.id, None).iter().any(|m| m.body().is_some_and(|b| b.contains("is closed")))
    );
    bot.sim
        .wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && t.closed), Duration::from_secs(5))
        .await;
    assert!(topic_has(&bot, thread, "closed by Ines"));
    assert!(bot.db.storage.open_ticket_of_customer(ines.id).await.expect("q").is_none());
    assert!(answer(&bot, &ines, "/close").await.starts_with("You have no open ticket"));

    // A stranger's tap on her buttons counts for nothing.
    let mallory = SimUser::customer(1802, "Mal");
    bot.sim.add_user(&mallory);
    let data = rating.callback_data();
    let query = bot.sim.press_button_in(&mallory, ines.id, rating.message_id, &data[0]);
    bot.sim.wait_for(|s| s.callback_answer(&query).is_some(), Duration::from_secs(5)).await;

    // Her rating, then a change of mind: the topic hears both, once each.
    for (score, line) in [(3, "rated this ticket 3/5"), (5, "changed their rating to 5/5")] {
        let query = bot.sim.press_button(&ines, rating.message_id, &data[score - 1]);
        bot.sim.wait_for(|s| s.callback_answer(&query).is_some(), Duration::from_secs(5)).await;
        bot.sim.wait_for(|_| topic_has(&bot, thread, line), Duration::from_secs(5)).await;
    }
    assert!(!topic_has(&bot, thread, "1/5"), "the stranger's tap was not recorded");

    // Within the window, her next message continues the same ticket.
    let back = answer(&bot, &ines, "it is still missing").await;
    assert!(back.contains(&format!("#{ticket} has been reopened")), "{back}");
    bot.sim
        .wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && !t.closed), Duration::from_secs(5))
        .await;
    assert!(topic_has(&bot, thread, "reopened by Ines"));
    let reopened = bot.db.storage.open_ticket_of_customer(ines.id).await.expect("q").expect("open");
    assert_eq!(reopened.id.0, ticket);
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn after_the_window_a_new_intake_starts() {
    let mut bot = TestBot::start_with(&[("REOPEN_WINDOW", "1s")]).await;
    let jon = SimUser::customer(1803, "Jon");
    let (ticket, _) = bot.open_ticket(&jon, "billing", "refund").await;
    bot.sim.private_text(&jon, "/close");
    bot.sim.wait_for_message(jon.id, None, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = bot.sim.messages_in(jon.id, None).len();
    bot.sim.private_text(&jon, "a new question");
    let menu = bot.wait_for_customer_message(&jon, before, |m| !m.callback_data().is_empty()).await;
    assert!(
        menu.callback_data().iter().all(|d| d.starts_with("1/cat/") || d.starts_with("1/draft/")),
        "{menu:?}"
    );
    let closed = bot.db.storage.ticket(topicdesk::domain::TicketId(ticket)).await.expect("q").expect("t");
    assert_eq!(closed.status, topicdesk::domain::TicketStatus::Closed);
    bot.stop().await.expect("clean stop");
}

/// DESIGN §12 (history): a returning customer's note counts their earlier
/// tickets and lists the last ones with a link to each topic, its date,
/// category and rating.
#[tokio::test]
async fn the_note_shows_the_customers_history() {
    let mut bot = TestBot::start_with(&[("REOPEN_WINDOW", "0")]).await;
    let kai = SimUser::customer(1804, "Kai");
    let (first, first_thread) = bot.open_ticket(&kai, "billing", "first problem").await;
    assert!(crate::routing::note_html(&bot, first_thread).contains("first ticket"));
    bot.sim.private_text(&kai, "/close");
    let rating = bot
        .sim
        .wait_for_message(kai.id, None, |m| m.callback_data().iter().any(|d| d.starts_with("1/rate/")))
        .await;
    let query = bot.sim.press_button(&kai, rating.message_id, &format!("1/rate/{first}.4"));
    bot.sim.wait_for(|s| s.callback_answer(&query).is_some(), Duration::from_secs(5)).await;

    let (_, thread) = bot.open_ticket(&kai, "technical", "second problem").await;
    let note = crate::routing::note_html(&bot, thread);
    let link = format!("https://t.me/c/{}/{first_thread}", (-SUPPORT_GROUP_ID) - 1_000_000_000_000);
    assert!(note.contains("1 earlier ticket"), "{note}");
    assert!(note.contains(&format!("<a href=\"{link}\">#{first}</a>")), "{note}");
    assert!(note.contains("Billing and payments · ⭐4"), "{note}");
    bot.stop().await.expect("clean stop");
}

/// DESIGN §13 through the bot: assigned when routed, answered when the
/// agent's first message reached the customer, closed by `/close`, assigned
/// again (same agent) when the customer comes back, answered again by the
/// next reply; the first response time stays the very first.
#[tokio::test]
async fn states_follow_the_ticket_through_a_reopen() {
    use topicdesk::domain::{TicketId, TicketState};
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    crate::routing::add_billing_agent(&bot, &alice).await;
    let kim = SimUser::customer(1803, "Kim");
    let (ticket, thread) = bot.open_ticket(&kim, "billing", "refund please").await;
    let state = || async { bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("ticket") };
    assert_eq!(state().await.state(), TicketState::Assigned);

    // The agent's message reached the customer: the ticket is answered
    // (recorded right after Telegram accepted the copy).
    let (sim, agent, customer) = (&bot.sim, &alice, &kim);
    let agent_answers = |text: &'static str| async move {
        let reply = sim.group_text(agent, Some(thread), text);
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
        for _ in 0..50 {
            let now = state().await;
            if now.state() == TicketState::Answered {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the ticket was not marked answered");
    };
    let answered = agent_answers("on it").await;
    let first_response = answered.first_response_at_ms.expect("first response recorded");

    bot.sim.group_text(&alice, Some(thread), "/close");
    bot.sim
        .wait_for(|s| s.topics().iter().any(|t| t.thread_id == thread && t.closed), Duration::from_secs(5))
        .await;
    assert_eq!(state().await.state(), TicketState::Closed);

    answer(&bot, &kim, "one more thing").await;
    let reopened = state().await;
    assert_eq!((reopened.state(), reopened.assignee_id), (TicketState::Assigned, Some(alice.id)));
    assert!(reopened.reopened_at_ms.is_some());

    let last = agent_answers("sure").await;
    assert_eq!(last.first_response_at_ms, Some(first_response), "the first response stays the first");
    assert!(last.answered_at_ms > Some(first_response));
    bot.stop().await.expect("clean stop");
}
