//! Bad input never panics and never leaves a dialogue stuck: it is ignored or
//! answered with a short hint, and the bot keeps working.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    bot::TestBot,
    sim::{OTHER_GROUP_ID, SUPPORT_GROUP_ID, SimUser},
};

const QUIET: Duration = Duration::from_millis(400);

fn customer() -> SimUser {
    SimUser::customer(555, "Eve").lang("en")
}

#[tokio::test]
async fn wrong_input_at_each_intake_step_gets_a_hint_and_the_step_stays() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let eve = customer();
    sim.private_command(&eve, "/start");
    let menu = bot.wait_for_customer_message(&eve, 0, |m| !m.callback_data().is_empty()).await;

    // A sticker where a category was expected.
    sim.private_sticker(&eve);
    let hint = bot.wait_for_customer_message(&eve, 1, |_| true).await;
    assert_eq!(hint.body(), Some("Please choose one of the buttons above, or send /cancel."));
    // Text instead of a button: same hint, no ticket.
    sim.private_text(&eve, "billing");
    bot.wait_for_customer_message(&eve, 2, |m| m.body() == hint.body()).await;

    // A forged or outdated payload is refused with an answer, state unchanged.
    let forged = sim.press_button(&eve, menu.message_id, "1/cat/nonexistent");
    sim.wait_for(|s| s.callback_answer(&forged).is_some(), Duration::from_secs(5)).await;
    let answer = sim.callback_answer(&forged).expect("answered");
    assert_eq!(answer["text"], "This button is no longer active.", "{answer}");

    // The real button still works: the dialogue was never stuck.
    sim.press_button(&eve, menu.message_id, "1/cat/account");
    bot.wait_for_customer_message(&eve, 3, |m| m.body().is_some_and(|b| b.contains("describe"))).await;

    // A photo without caption, and whitespace, are not descriptions.
    sim.private_photo(&eve, None);
    let hint = bot.wait_for_customer_message(&eve, 4, |_| true).await;
    assert!(hint.body().unwrap_or_default().contains("describe your problem in words"), "{:?}", hint.body());
    sim.private_text(&eve, "   ");
    bot.wait_for_customer_message(&eve, 5, |m| m.body() == hint.body()).await;
    assert!(sim.topics().is_empty(), "no ticket from bad input");

    // A double tap on the old keyboard after moving on is answered, not acted on.
    let stale = sim.press_button(&eve, menu.message_id, "1/cat/billing");
    sim.wait_for(|s| s.callback_answer(&stale).is_some(), Duration::from_secs(5)).await;

    sim.private_text(&eve, "I cannot log in");
    bot.wait_for_customer_message(&eve, 6, |m| m.body().is_some_and(|b| b.starts_with("Ticket #1 opened")))
        .await;
    sim.wait_for(|s| !s.topics().is_empty(), Duration::from_secs(10)).await;
    assert_eq!(sim.topics().len(), 1);
    assert!(sim.topics()[0].name.contains("My account"), "{:?}", sim.topics());
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn cancel_leaves_the_dialogue_at_any_step() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let eve = customer();
    sim.private_command(&eve, "/cancel");
    let nothing = bot.wait_for_customer_message(&eve, 0, |_| true).await;
    assert!(nothing.body().unwrap_or_default().starts_with("There is nothing to cancel"));

    sim.private_command(&eve, "/start");
    let menu = bot.wait_for_customer_message(&eve, 1, |m| !m.callback_data().is_empty()).await;
    sim.private_command(&eve, "/cancel");
    bot.wait_for_customer_message(&eve, 2, |m| m.body().is_some_and(|b| b.starts_with("Cancelled."))).await;
    // The old keyboard is dead after cancelling.
    let stale = sim.press_button(&eve, menu.message_id, "1/cat/billing");
    sim.wait_for(|s| s.callback_answer(&stale).is_some(), Duration::from_secs(5)).await;
    assert_eq!(sim.callback_answer(&stale).expect("answer")["text"], "This button is no longer active.");

    // Cancel during the description step too.
    sim.private_command(&eve, "/start");
    let menu = bot.wait_for_customer_message(&eve, 3, |m| !m.callback_data().is_empty()).await;
    sim.press_button(&eve, menu.message_id, "1/cat/billing");
    bot.wait_for_customer_message(&eve, 4, |m| m.body().is_some_and(|b| b.contains("describe"))).await;
    sim.private_command(&eve, "/cancel");
    bot.wait_for_customer_message(&eve, 5, |m| m.body().is_some_and(|b| b.starts_with("Cancelled."))).await;
    assert!(sim.topics().is_empty());

    // /help always answers.
    sim.private_command(&eve, "/help");
    bot.wait_for_customer_message(&eve, 6, |m| m.body().is_some_and(|b| b.contains("/start"))).await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn edits_and_unsupported_updates_do_not_break_anything() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let eve = customer();
    let (_, thread) = bot.open_ticket(&eve, "billing", "Refund please").await;
    let sent = sim.messages_in(eve.id, None).len();

    let original = sim.private_text(&eve, "amount 10");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((eve.id, original))).await;
    sim.edit_private_text(&eve, original, "amount 100");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
        m.copied_from == Some((eve.id, original)) && m.body() == Some("amount 100")
    })
    .await;
    assert_eq!(sim.messages_in(eve.id, None).len(), sent, "the edit followed silently");

    // Update kinds topicdesk does not use, and a malformed one.
    sim.inject_raw(json!({"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0,
        "is_closed": false, "is_anonymous": true, "type": "regular", "allows_multiple_answers": false}}));
    sim.inject_raw(json!({"channel_post": {"message_id": 1, "date": 0,
        "chat": {"id": -1009, "type": "channel", "title": "News"}, "text": "hi"}}));
    sim.inject_raw(json!({"something_from_the_future": {"x": 1}}));

    // Still relaying afterwards.
    let after = sim.private_text(&eve, "still there?");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((eve.id, after))).await;
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_support_group_outside_tickets_and_other_groups_are_ignored() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let agent = SimUser::operator(1001, "Alice");
    bot.register_agent(&agent).await;
    let eve = customer();
    let (_, thread) = bot.open_ticket(&eve, "billing", "Refund please").await;
    let customer_messages = sim.messages_in(eve.id, None).len();

    // Chatter in General is not relayed and not answered.
    let general = sim.group_text(&agent, None, "coffee anyone?");
    // A reply in General carries a thread id but is not a topic message.
    sim.general_reply(&agent, general, "yes please");
    // Another group: ignored entirely.
    sim.other_group_text(&agent, "/close");
    sim.assert_no_call_within("copyMessage", |_| true, QUIET).await;
    sim.assert_no_call_within("sendMessage", |c| c.chat_id() == Some(OTHER_GROUP_ID), QUIET).await;
    assert_eq!(sim.messages_in(eve.id, None).len(), customer_messages);

    // Commands that need a ticket explain where they work.
    sim.group_text(&agent, None, "/close");
    sim.wait_for_message(SUPPORT_GROUP_ID, None, |m| {
        m.body() == Some("This command works inside a ticket's topic.")
    })
    .await;
    // Unknown commands get a hint listing the real ones and are not relayed.
    sim.group_text(&agent, Some(thread), "/frobnicate now");
    let hint = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
            m.body().is_some_and(|b| b.starts_with("Unknown command"))
        })
        .await;
    assert!(hint.body().unwrap_or_default().contains("/close, /reopen, /note, /take"), "{:?}", hint.body());
    // Commands for another bot are none of our business.
    sim.group_text(&agent, Some(thread), "/close@some_other_bot");
    sim.group_text(&agent, Some(thread), "/note");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
        m.body().is_some_and(|b| b.starts_with("Usage: /note"))
    })
    .await;
    assert!(!sim.topics()[0].closed, "/close@some_other_bot did not close the ticket");
    assert_eq!(sim.messages_in(eve.id, None).len(), customer_messages, "nothing reached the customer");
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_customer_who_blocked_the_bot_is_reported_to_the_agents() {
    let mut bot = TestBot::start().await;
    let sim = &bot.sim;
    let eve = customer();
    let (_, thread) = bot.open_ticket(&eve, "billing", "Refund please").await;
    sim.block_user(eve.id);
    let alice = SimUser::operator(1001, "Alice");
    bot.register_agent(&alice).await;
    let reply = sim.group_text(&alice, Some(thread), "Done!");
    let notice =
        sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.reply_to_message_id == Some(reply)).await;
    assert_eq!(notice.body(), Some("⚠️ Not delivered: the customer has blocked the bot."));
    bot.stop().await.expect("clean stop");
}
