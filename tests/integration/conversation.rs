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

/// The copies of `from`'s messages in `chat`/`thread`, in arrival order.
fn copies(
    sim: &crate::support::sim::BotApiSim,
    chat: i64,
    thread: Option<i32>,
    from: i64,
) -> Vec<crate::support::sim::SimMessage> {
    sim.messages_in(chat, thread)
        .into_iter()
        .filter(|m| m.copied_from.is_some_and(|(c, _)| c == from))
        .collect()
}

/// DESIGN §12: an album reaches the other side as one album, in order, in
/// one `copyMessages` call, both ways; its parts are linked for replies.
#[tokio::test]
async fn albums_arrive_as_one_album_both_ways() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let customer = SimUser::customer(1703, "Ivo");
    let (_, thread) = bot.open_ticket(&customer, "billing", "damaged parcel").await;
    let sim = &bot.sim;

    let album = sim.private_album(&customer, 4, Some("four sides of the box"));
    sim.wait_for(
        |s| copies(s, SUPPORT_GROUP_ID, Some(thread), customer.id).len() == 4,
        std::time::Duration::from_secs(10),
    )
    .await;
    let in_topic = copies(sim, SUPPORT_GROUP_ID, Some(thread), customer.id);
    assert_eq!(
        in_topic.iter().map(|m| m.copied_from).collect::<Vec<_>>(),
        album.iter().map(|id| Some((customer.id, *id))).collect::<Vec<_>>(),
        "all four, in order"
    );
    let group = in_topic[0].media_group_id.clone().expect("the copies form an album");
    assert!(in_topic.iter().all(|m| m.media_group_id.as_deref() == Some(group.as_str())), "one album");
    assert_eq!(in_topic[0].caption.as_deref(), Some("four sides of the box"));
    let calls = sim.calls_to("copyMessages");
    assert_eq!(calls.len(), 1, "one call for the whole album");
    assert!(sim.calls_to("copyMessage").iter().all(|c| c.chat_id() != Some(SUPPORT_GROUP_ID)
        || c.str_param("from_chat_id") != Some(&customer.id.to_string())));

    // The agent answers the third photo: the customer sees a reply to it.
    let answer =
        sim.reply_text(&alice, SUPPORT_GROUP_ID, Some(thread), in_topic[2].message_id, "this corner?");
    let delivered =
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, answer))).await;
    assert_eq!(delivered.reply_to_message_id, Some(album[2]));

    // The agent sends an album back.
    let back = sim.group_album(&alice, thread, 3, Some("how to pack it"));
    sim.wait_for(
        |s| copies(s, customer.id, None, SUPPORT_GROUP_ID).len() == 1 + 3,
        std::time::Duration::from_secs(10),
    )
    .await;
    let to_customer: Vec<_> = copies(sim, customer.id, None, SUPPORT_GROUP_ID).into_iter().skip(1).collect();
    assert_eq!(
        to_customer.iter().map(|m| m.copied_from).collect::<Vec<_>>(),
        back.iter().map(|id| Some((SUPPORT_GROUP_ID, *id))).collect::<Vec<_>>()
    );
    assert!(to_customer[0].media_group_id.is_some());
    assert!(to_customer.iter().all(|m| m.media_group_id == to_customer[0].media_group_id));
    assert_eq!(sim.calls_to("copyMessages").len(), 2);
    bot.stop().await.expect("clean stop");
}

/// DESIGN §12: an album whose parts were stored but not sent when the bot
/// went down arrives once, whole, after the restart: nothing lost, nothing
/// twice.
#[tokio::test]
async fn an_album_cut_by_a_crash_arrives_once_and_whole() {
    // A long collection window keeps the album in the outbox at the crash.
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1"), ("ALBUM_WAIT", "30s")]).await;
    let customer = SimUser::customer(1704, "Jon");
    let (_, thread) = bot.open_ticket(&customer, "billing", "receipts").await;
    let album = bot.sim.private_album(&customer, 5, None);
    // Wait until every part is handled (stored in the outbox), then crash.
    let storage = bot.db.storage.clone();
    for _ in 0..100 {
        if storage.outbox_counts().await.expect("counts").pending >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(storage.outbox_counts().await.expect("counts").pending >= 5, "the parts are kept");
    bot.crash().await;
    assert!(copies(&bot.sim, SUPPORT_GROUP_ID, Some(thread), customer.id).is_empty(), "nothing sent yet");

    bot.start_again().await;
    let sim = &bot.sim;
    sim.wait_for(
        |s| copies(s, SUPPORT_GROUP_ID, Some(thread), customer.id).len() >= 5,
        std::time::Duration::from_secs(45),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let in_topic = copies(sim, SUPPORT_GROUP_ID, Some(thread), customer.id);
    assert_eq!(
        in_topic.iter().map(|m| m.copied_from).collect::<Vec<_>>(),
        album.iter().map(|id| Some((customer.id, *id))).collect::<Vec<_>>(),
        "all five, once, in order"
    );
    assert_eq!(sim.calls_to("copyMessages").len(), 1);
    bot.stop().await.expect("clean stop");
}

/// Every kind of message DESIGN §12 names, as Telegram sends it.
fn every_kind() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let file = |id: &str| json!({"file_id": id, "file_unique_id": format!("{id}u"), "file_size": 1000});
    let with = |mut base: serde_json::Value, extra: serde_json::Value| {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    vec![
        ("video", with(file("VID"), json!({"width": 640, "height": 480, "duration": 5}))),
        ("animation", with(file("ANI"), json!({"width": 320, "height": 240, "duration": 2}))),
        ("audio", with(file("AUD"), json!({"duration": 180, "title": "Song"}))),
        ("voice", with(file("VOI"), json!({"duration": 3, "mime_type": "audio/ogg"}))),
        ("video_note", with(file("VNO"), json!({"length": 240, "duration": 4}))),
        ("location", json!({"latitude": 52.52, "longitude": 13.405})),
        (
            "venue",
            json!({"location": {"latitude": 52.52, "longitude": 13.405}, "title": "Shop", "address": "Main St 1"}),
        ),
        ("contact", json!({"phone_number": "+4930123456", "first_name": "Courier"})),
        (
            "poll",
            json!({"id": "5000000009", "question": "Which day?", "options": [
                {"text": "Mon", "voter_count": 0}, {"text": "Tue", "voter_count": 0}],
                "total_voter_count": 0, "is_closed": false, "is_anonymous": true,
                "type": "regular", "allows_multiple_answers": false}),
        ),
        ("dice", json!({"emoji": "🎲", "value": 4})),
    ]
}

/// DESIGN §12: text, photo, video, animation, document, audio, voice, video
/// note, sticker, location, venue, contact, poll and dice each reach the
/// other side as a copy of the same kind, from the customer to the topic and
/// from the agent to the customer.
#[tokio::test]
async fn every_kind_relays_both_ways() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let customer = SimUser::customer(1705, "Lou");
    let (_, thread) = bot.open_ticket(&customer, "billing", "many kinds").await;
    let sim = &bot.sim;

    let mut sent = vec![
        ("text", sim.private_text(&customer, "plain words")),
        ("photo", sim.private_photo(&customer, Some("a photo"))),
        ("document", sim.private_document(&customer, Some("a file"))),
        ("sticker", sim.private_sticker(&customer)),
    ];
    for (field, value) in every_kind() {
        sent.push((field, sim.private_kind(&customer, field, value)));
    }
    for (kind, id) in &sent {
        let copy = sim
            .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.copied_from == Some((customer.id, *id)))
            .await;
        let original = sim.message(customer.id, *id).expect("original");
        assert_eq!(copy.kind, original.kind, "{kind} arrives as a {kind}");
    }
    assert_eq!(sent.len(), 14);

    let mut answered = vec![
        ("text", sim.group_text(&alice, Some(thread), "plain answer")),
        ("photo", sim.group_photo(&alice, Some(thread), Some("see here"))),
        (
            "document",
            sim.group_kind(
                &alice,
                Some(thread),
                "document",
                serde_json::json!({"file_id": "DOC", "file_unique_id": "DOCu", "file_name": "guide.pdf"}),
            ),
        ),
        (
            "sticker",
            sim.group_kind(
                &alice,
                Some(thread),
                "sticker",
                serde_json::json!({"file_id": "STK", "file_unique_id": "STKu", "type": "regular",
                    "width": 512, "height": 512, "is_animated": false, "is_video": false}),
            ),
        ),
    ];
    for (field, value) in every_kind() {
        answered.push((field, sim.group_kind(&alice, Some(thread), field, value)));
    }
    for (kind, id) in &answered {
        let copy =
            sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, *id))).await;
        let original = sim.message(SUPPORT_GROUP_ID, *id).expect("original");
        assert_eq!(copy.kind, original.kind, "{kind} reaches the customer as a {kind}");
    }
    assert_eq!(answered.len(), 14);
    // Nothing was refused or answered with a notice.
    assert!(
        sim.messages_in(customer.id, None)
            .iter()
            .all(|m| !m.body().is_some_and(|b| b.contains("does not let"))),
        "no refusal notice"
    );
    bot.stop().await.expect("clean stop");
}

/// An album Telegram will not copy as a whole goes part by part, in order:
/// the parts it can copy arrive, one it cannot is named to the sender.
#[tokio::test]
async fn an_album_refused_as_a_whole_goes_part_by_part() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1"), ("ALBUM_WAIT", "300ms")]).await;
    let customer = SimUser::customer(1706, "Mia");
    let (_, thread) = bot.open_ticket(&customer, "billing", "photos").await;
    let sim = &bot.sim;
    sim.fail_next(
        FaultRule::new("copyMessages", Fault::BadRequest("Bad Request: message can't be copied".into()))
            .chat(SUPPORT_GROUP_ID),
    );
    let album = sim.private_album(&customer, 3, None);
    sim.wait_for(
        |s| copies(s, SUPPORT_GROUP_ID, Some(thread), customer.id).len() == 3,
        std::time::Duration::from_secs(10),
    )
    .await;
    let in_topic: Vec<_> =
        copies(sim, SUPPORT_GROUP_ID, Some(thread), customer.id).into_iter().map(|m| m.copied_from).collect();
    assert_eq!(in_topic, album.iter().map(|id| Some((customer.id, *id))).collect::<Vec<_>>());
    assert_eq!(sim.calls_to("copyMessages").len(), 1, "one attempt as an album");
    bot.stop().await.expect("clean stop");
}

/// DESIGN §12 / issue 12: a message the customer forwarded from elsewhere
/// keeps its origin visible to the agents (it is forwarded, not copied),
/// and the agent's reply to it still reaches the customer as a reply.
#[tokio::test]
async fn a_forwarded_message_keeps_its_origin_for_the_agents() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let customer = SimUser::customer(1707, "Noa");
    let (_, thread) = bot.open_ticket(&customer, "billing", "what the courier wrote").await;
    let sim = &bot.sim;
    let id = sim.private_forwarded_text(&customer, "Your parcel is held at customs", "DHL Courier");
    let in_topic = sim
        .wait_for_message(SUPPORT_GROUP_ID, Some(thread), |m| m.forwarded_from == Some((customer.id, id)))
        .await;
    let origin = in_topic.forward_origin.clone().expect("an origin");
    assert_eq!(origin["sender_user_name"], "DHL Courier", "the agents see who wrote it: {origin}");

    let answer =
        sim.reply_text(&alice, SUPPORT_GROUP_ID, Some(thread), in_topic.message_id, "we will call them");
    let delivered =
        sim.wait_for_message(customer.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, answer))).await;
    assert_eq!(delivered.reply_to_message_id, Some(id));
    bot.stop().await.expect("clean stop");
}
