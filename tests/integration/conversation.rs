//! Conversations that feel native (DESIGN §12): replies keep their target
//! on the other side of the ticket.

use crate::{
    routing::add_billing_agent,
    support::{
        bot::TestBot,
        sim::{Fault, FaultRule, SUPPORT_GROUP_ID, SimUser},
    },
};

/// An agent answering a particular customer message in the topic is seen
/// by the customer as a reply to their own message, and the customer's
/// reply to an agent's message shows in the topic as a reply to the
/// agent's original; a reply to something never relayed (the note) goes
/// out as a plain message.
#[tokio::test]
async fn replies_keep_their_target_both_ways() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let customer = SimUser::customer(1701, "Gil");
    let (_, thread) = bot.open_ticket(&customer, "billing", "charged twice").await;
    let sim = &bot.sim;

    let first = sim.private_text(&customer, "order 1001");
    let second = sim.private_text(&customer, "order 2002");
    let copy_of = |origin: i32| {
        sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), move |m| {
            m.copied_from == Some((customer.id, origin))
        })
    };
    let _ = copy_of(second).await;
    let first_copy = copy_of(first).await;

    // The agent answers the first one, not the last.
    let answer =
        sim.reply_text(&alice, SUPPORT_GROUP_ID, Some(thread), first_copy.message_id, "1001 is refunded");
    let delivered =
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, answer))).await;
    assert_eq!(delivered.reply_to_message_id, Some(first), "the customer sees a reply to their own message");

    // The customer answers the agent's message: the topic shows a reply to
    // the agent's original.
    let thanks = sim.reply_text(&customer, customer.id, None, delivered.message_id, "thanks!");
    let in_topic = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((customer.id, thanks)))
        .await;
    assert_eq!(in_topic.reply_to_message_id, Some(answer));

    // A reply to the note (never relayed) reaches the customer as a plain message.
    let note = sim.pinned(SUPPORT_GROUP_ID, Some(thread)).expect("note");
    let plain = sim.reply_text(&alice, SUPPORT_GROUP_ID, Some(thread), note, "anything else?");
    let delivered =
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, plain))).await;
    assert_eq!(delivered.reply_to_message_id, None);
    bot.stop().await.expect("clean stop");
}

/// DESIGN §12: an edited text or caption updates its copy on the other
/// side; where Telegram will not edit the copy, the new version goes as a
/// reply to it marked as an edit; an edit outside a ticket opens nothing.
#[tokio::test]
async fn edits_follow_their_copies() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let customer = SimUser::customer(1702, "Hana");
    let (ticket, thread) = bot.open_ticket(&customer, "billing", "wrong amount").await;
    let sim = &bot.sim;

    // A caption edit by the customer.
    let photo = sim.private_photo(&customer, Some("receipt"));
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((customer.id, photo)))
        .await;
    sim.edit_private_text(&customer, photo, "receipt from May 3");
    sim.wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
        m.copied_from == Some((customer.id, photo)) && m.body() == Some("receipt from May 3")
    })
    .await;

    // Telegram refuses to edit the agent's copy: the new version follows as
    // a reply to it, marked as an edit.
    let answer = sim.group_text(&alice, Some(thread), "Refund of 10 sent");
    let copy =
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, answer))).await;
    sim.fail_next(FaultRule::new(
        "editMessageText",
        Fault::BadRequest("Bad Request: message can't be edited".into()),
    ));
    sim.edit_group_text(&alice, answer, "Refund of 100 sent");
    let marked = sim
        .wait_for_message(customer.id, None, |m| {
            m.body().is_some_and(|b| b.starts_with("✏️ Edited: Refund of 100"))
        })
        .await;
    assert_eq!(marked.reply_to_message_id, Some(copy.message_id));

    // An edit never opens a ticket: after the close, an edit is only answered.
    bot.sim.group_text(&alice, Some(thread), "/close");
    bot.sim.wait_for_message(customer.id, None, |m| m.body().is_some_and(|b| b.contains("is closed"))).await;
    let before = bot.sim.messages_in(customer.id, None).len();
    bot.sim.edit_private_text(&customer, photo, "receipt from May 4");
    let notice = bot
        .wait_for_customer_message(&customer, before, |m| {
            m.body().is_some_and(|b| b.starts_with("This edit"))
        })
        .await;
    assert!(
        notice.body().unwrap_or_default().starts_with("This edit was not passed on"),
        "{:?}",
        notice.body()
    );
    let open = bot.db.storage.open_ticket_of_customer(customer.id).await.expect("q");
    assert!(open.is_none(), "no ticket was opened by the edit (ticket {ticket} stays closed)");
    bot.stop().await.expect("clean stop");
}

/// What Telegram refuses to copy gets a notice naming its kind, on the
/// sender's side (DESIGN §12: never a silent drop).
#[tokio::test]
async fn a_refused_copy_is_named_by_its_kind() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let customer = SimUser::customer(1703, "Ivo");
    let (_, thread) = bot.open_ticket(&customer, "billing", "help").await;
    let sim = &bot.sim;
    let refuse =
        || FaultRule::new("copyMessage", Fault::BadRequest("Bad Request: message can't be copied".into()));
    sim.fail_next(refuse().chat(SUPPORT_GROUP_ID));
    sim.private_kind(
        &customer,
        "voice",
        serde_json::json!({"file_id": "V1", "file_unique_id": "V1u", "duration": 2, "mime_type": "audio/ogg", "file_size": 1000}),
    );
    sim.wait_for_message(customer.id, None, |m| {
        m.body().is_some_and(|b| b.starts_with("Telegram does not let this voice message be passed on"))
    })
    .await;
    sim.fail_next(refuse().chat(customer.id));
    let poll = sim.group_kind(
        &alice,
        Some(thread),
        "poll",
        serde_json::json!({"id": "5000000002", "question": "Which day?", "options": [
            {"text": "Mon", "voter_count": 0}, {"text": "Tue", "voter_count": 0}],
            "total_voter_count": 0, "is_closed": false, "is_anonymous": true,
            "type": "regular", "allows_multiple_answers": false}),
    );
    let notice = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
            m.body().is_some_and(|b| b.contains("cannot copy this poll"))
        })
        .await;
    assert_eq!(notice.reply_to_message_id, Some(poll), "the notice answers the agent's message");
    bot.stop().await.expect("clean stop");
}

/// A description short enough to live in the note was never copied: its
/// edit still reaches the agents, as a line in the topic marked as an edit.
#[tokio::test]
async fn an_edited_description_reaches_the_topic() {
    let mut bot = TestBot::start().await;
    let customer = SimUser::customer(1704, "Jo");
    let (ticket, thread) = bot.open_ticket(&customer, "billing", "charged 10").await;
    let stored = bot.db.storage.ticket(topicdesk::domain::TicketId(ticket)).await.expect("q").expect("t");
    bot.sim.edit_private_text(&customer, stored.description_message_id, "charged 100");
    bot.sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| {
            m.body().is_some_and(|b| b.starts_with("✏️ Edited: charged 100"))
        })
        .await;
    bot.stop().await.expect("clean stop");
}
