//! Conversations that feel native (DESIGN §12): replies keep their target
//! on the other side of the ticket.

use crate::{
    routing::{admin, command},
    support::{
        bot::TestBot,
        sim::{SUPPORT_GROUP_ID, SimUser},
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
    let root = admin();
    for line in ["/agent_add 2001 3", "/skill_add 2001 billing:2"] {
        assert!(command(&bot, &root, line).await.starts_with('✅'), "{line}");
    }
    let alice = SimUser::operator(2001, "Alice");
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
