//! Self-tests of the Bot API simulator (`tests/support/sim.rs`).
//!
//! They drive the simulator with teloxide's real HTTP client and prove that
//! everything it returns deserializes into teloxide's types, and that each
//! error path yields the `RequestError` / `ApiError` the bot will see in
//! production. They don't depend on the topicdesk crate.

#[path = "support/sim.rs"]
mod sim;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sim::{
    BotApiSim, Fault, FaultRule, OTHER_GROUP_ID, RateLimits, SUPPORT_GROUP_ID, SimKind, SimUser, TOKEN,
    check_required, parse_html, parse_markdown_v2, raw_request,
};
use teloxide::payloads::setters::*;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BotCommand, BotCommandScope, ChatAction, ChatId, ChatMemberKind, InlineKeyboardButton,
    InlineKeyboardMarkup, MediaKind, MessageEntityKind, MessageId, MessageKind, ParseMode, Recipient, Rgb,
    Seconds, ThreadId, UpdateKind, UserId,
};
use teloxide::{ApiError, RequestError};

fn customer() -> SimUser {
    SimUser::customer(5_000_001, "Alice").lang("ru").username("alice")
}

fn operator() -> SimUser {
    SimUser::operator(6_000_001, "Olga").username("olga_support")
}

async fn setup() -> (BotApiSim, Bot) {
    let sim = BotApiSim::start().await;
    let bot = Bot::new(TOKEN).set_api_url(sim.api_url());
    (sim, bot)
}

/// Every object the simulator produced had all required Bot API fields.
fn assert_schema_ok(sim: &BotApiSim) {
    let v = sim.schema_violations();
    assert!(v.is_empty(), "schema violations:\n{}", v.join("\n"));
}

fn api_err(r: Result<impl std::fmt::Debug, RequestError>) -> ApiError {
    match r {
        Err(RequestError::Api(e)) => e,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn unknown(desc: &str) -> ApiError {
    ApiError::Unknown(desc.to_owned())
}

async fn create_topic(bot: &Bot, name: &str) -> i32 {
    let t = bot.create_forum_topic(ChatId(SUPPORT_GROUP_ID), name).await.expect("createForumTopic");
    t.thread_id.0.0
}

fn is_forum(chat: &teloxide::types::Chat) -> bool {
    use teloxide::types::{ChatKind, PublicChatKind};
    matches!(&chat.kind, ChatKind::Public(p) if matches!(&p.kind, PublicChatKind::Supergroup(s) if s.is_forum))
}

fn thread(t: i32) -> ThreadId {
    ThreadId(MessageId(t))
}

// ---------------------------------------------------------------------------
// getMe, updates
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_me_deserializes() {
    let (sim, bot) = setup().await;
    let me = bot.get_me().await.expect("getMe");
    assert_eq!(me.id, UserId(sim::BOT_ID as u64));
    assert!(me.is_bot);
    assert_eq!(me.username(), sim::BOT_USERNAME);
    assert!(me.can_join_groups && me.can_read_all_group_messages && !me.supports_inline_queries);
    assert_eq!(sim.calls_to("getMe").len(), 1);
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn every_injected_update_kind_deserializes() {
    let (sim, bot) = setup().await;
    let alice = customer();
    let olga = operator();
    let t = create_topic(&bot, "#1 Alice").await;
    let menu = bot
        .send_message(ChatId(alice.id), "Pick one")
        .reply_markup(InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback(
            "Billing",
            "cat/billing",
        )]]))
        .await;
    // Alice never wrote: the private chat does not exist yet.
    assert_eq!(api_err(menu), ApiError::ChatNotFound);
    sim.add_user(&alice);
    let menu = bot
        .send_message(ChatId(alice.id), "Pick one")
        .reply_markup(InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback(
            "Billing",
            "cat/billing",
        )]]))
        .await
        .expect("menu");

    let text_id = sim.private_text(&alice, "Hello 👋");
    let cmd_id = sim.private_command(&alice, "/start");
    let photo_id = sim.private_photo(&alice, Some("my screenshot"));
    let sticker_id = sim.private_sticker(&alice);
    let doc_id = sim.private_document(&alice, None);
    sim.edit_private_text(&alice, text_id, "Hello again");
    let cb = sim.press_button(&alice, menu.id.0, "cat/billing");
    let topic_msg = sim.group_text(&olga, Some(t), "On it");
    let general = sim.group_text(&olga, None, "/stats@topicdesk_test_bot");
    let greply = sim.general_reply(&olga, general, "reply in General");
    let group_photo = sim.group_photo(&olga, Some(t), Some("proof"));
    let other = sim.other_group_text(&olga, "hi all");
    sim.inject_raw(json!({"my_chat_member": {
        "chat": {"id": OTHER_GROUP_ID, "type": "supergroup", "title": "Other group"},
        "from": olga.to_json(), "date": 1_700_000_000,
        "old_chat_member": {"status": "member", "user": {"id": sim::BOT_ID, "is_bot": true, "first_name": "Bot"}},
        "new_chat_member": {"status": "left", "user": {"id": sim::BOT_ID, "is_bot": true, "first_name": "Bot"}},
    }}));

    let updates = bot.get_updates().await.expect("getUpdates");
    assert_eq!(updates.len(), 13);
    for u in &updates {
        assert!(!matches!(u.kind, UpdateKind::Error(_)), "undeserializable update: {u:?}");
    }
    let msg = |i: usize| match &updates[i].kind {
        UpdateKind::Message(m) => m.clone(),
        other => panic!("update {i} is not a message: {other:?}"),
    };

    let m = msg(0);
    assert_eq!((m.id.0, m.chat.id.0, m.text()), (text_id, alice.id, Some("Hello 👋")));
    let from = m.from.as_ref().expect("from");
    assert_eq!(from.language_code.as_deref(), Some("ru"));
    assert_eq!(from.username.as_deref(), Some("alice"));
    assert!(m.chat.is_private());

    let m = msg(1);
    assert_eq!(m.id.0, cmd_id);
    let ents = m.entities().expect("entities");
    assert_eq!(ents[0].kind, MessageEntityKind::BotCommand);
    assert_eq!((ents[0].offset, ents[0].length), (0, 6));

    let m = msg(2);
    assert_eq!(m.id.0, photo_id);
    let photo = m.photo().expect("photo");
    assert_eq!(photo.len(), 2);
    assert_eq!(m.caption(), Some("my screenshot"));

    assert_eq!(msg(3).id.0, sticker_id);
    assert!(msg(3).sticker().is_some());
    assert_eq!(msg(4).id.0, doc_id);
    assert_eq!(msg(4).document().and_then(|d| d.file_name.clone()).as_deref(), Some("document.pdf"));

    match &updates[5].kind {
        UpdateKind::EditedMessage(m) => {
            assert_eq!(m.id.0, text_id);
            assert_eq!(m.text(), Some("Hello again"));
            assert!(m.edit_date().is_some());
        }
        other => panic!("expected an edited message, got {other:?}"),
    }
    match &updates[6].kind {
        UpdateKind::CallbackQuery(q) => {
            assert_eq!(q.id.0, cb);
            assert_eq!(q.data.as_deref(), Some("cat/billing"));
            assert_eq!(q.from.id, UserId(alice.id as u64));
            let m = q.regular_message().expect("callback message");
            assert_eq!(m.id, menu.id);
            assert!(m.reply_markup().is_some());
        }
        other => panic!("expected a callback query, got {other:?}"),
    }

    let m = msg(7);
    assert_eq!(m.id.0, topic_msg);
    assert_eq!(m.chat.id.0, SUPPORT_GROUP_ID);
    assert_eq!(m.thread_id, Some(thread(t)));
    assert!(m.is_topic_message);
    let created = m.reply_to_message().expect("topic messages reply to the creation message");
    assert_eq!(created.id.0, t);
    assert!(matches!(created.kind, MessageKind::ForumTopicCreated(_)), "{:?}", created.kind);
    assert!(is_forum(&m.chat));

    let m = msg(8);
    assert_eq!(m.id.0, general);
    assert_eq!(m.thread_id, None);
    assert!(!m.is_topic_message);
    assert_eq!(m.entities().expect("entities")[0].length, "/stats@topicdesk_test_bot".len());

    let m = msg(9);
    assert_eq!(m.id.0, greply);
    assert_eq!(m.thread_id, Some(thread(general)), "General replies carry message_thread_id");
    assert!(!m.is_topic_message, "…but not is_topic_message");
    assert_eq!(m.reply_to_message().map(|r| r.id.0), Some(general));

    let m = msg(10);
    assert_eq!(m.id.0, group_photo);
    assert!(matches!(&m.kind, MessageKind::Common(c) if matches!(c.media_kind, MediaKind::Photo(_))));
    assert_eq!(m.thread_id, Some(thread(t)));

    let m = msg(11);
    assert_eq!((m.id.0, m.chat.id.0), (other, OTHER_GROUP_ID));
    assert!(!is_forum(&m.chat) && m.chat.is_supergroup());
    assert!(matches!(updates[12].kind, UpdateKind::MyChatMember(_)));

    // message ids are per chat and shared by the bot's and the user's messages
    assert_eq!((text_id, cmd_id, photo_id), (menu.id.0 + 1, menu.id.0 + 2, menu.id.0 + 3));
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn offsets_confirm_updates() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.private_text(&alice, "one");
    sim.private_text(&alice, "two");
    sim.private_text(&alice, "three");
    let first = bot.get_updates().limit(2).await.expect("getUpdates");
    assert_eq!(first.len(), 2);
    // not confirmed yet: returned again
    let again = bot.get_updates().await.expect("getUpdates");
    assert_eq!(again.len(), 3);
    assert_eq!(again[0].id, first[0].id);
    let next = bot.get_updates().offset(first[1].id.as_offset()).await.expect("getUpdates");
    assert_eq!(next.len(), 1);
    assert!(matches!(&next[0].kind, UpdateKind::Message(m) if m.text() == Some("three")));
    let none = bot.get_updates().offset(next[0].id.as_offset()).await.expect("getUpdates");
    assert!(none.is_empty());
    assert_eq!(sim.pending_updates(), 0);
    // update ids keep increasing
    let id = sim.inject_raw(json!({"message": sim.message_json(alice.id, 1).expect("stored")}));
    assert!(id as u32 > next[0].id.0);
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn long_polling_waits_for_timeout_and_wakes_on_injection() {
    let (sim, bot) = setup().await;
    let started = Instant::now();
    let empty = bot.get_updates().timeout(1).await.expect("getUpdates");
    let waited = started.elapsed();
    assert!(empty.is_empty());
    assert!(waited >= Duration::from_millis(950) && waited < Duration::from_secs(5), "{waited:?}");

    let poll = tokio::spawn({
        let bot = bot.clone();
        async move {
            let started = Instant::now();
            let r = bot.get_updates().timeout(10).await;
            (r, started.elapsed())
        }
    });
    sim.wait_for(|s| s.is_polling(), Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.private_text(&customer(), "wake up");
    let (r, waited) = poll.await.expect("join");
    let updates = r.expect("getUpdates");
    assert_eq!(updates.len(), 1);
    assert!(waited < Duration::from_secs(5), "returned early: {waited:?}");
    assert!(!sim.is_polling());
}

#[tokio::test]
async fn concurrent_get_updates_conflict() {
    let (sim, bot) = setup().await;
    let first = tokio::spawn({
        let bot = bot.clone();
        async move { bot.get_updates().timeout(10).await }
    });
    sim.wait_for(|s| s.is_polling(), Duration::from_secs(5)).await;
    let second = bot.get_updates().timeout(1).await.expect("the newer request wins");
    assert!(second.is_empty());
    let first = first.await.expect("join");
    assert_eq!(api_err(first), ApiError::TerminatedByOtherGetUpdates);
    let call =
        sim.calls_to("getUpdates").into_iter().find(|c| c.error.is_some()).expect("failed call logged");
    assert_eq!(call.error, Some((409, sim::CONFLICT_GET_UPDATES.to_owned())));
}

#[tokio::test]
async fn webhook_blocks_get_updates() {
    let (sim, bot) = setup().await;
    let url = url::Url::parse("https://bot.example.com/hook").expect("url");
    bot.set_webhook(url.clone()).secret_token("s3cr3t_token").await.expect("setWebhook");
    assert_eq!(sim.webhook(), Some((url.to_string(), Some("s3cr3t_token".to_owned()))));
    let info = bot.get_webhook_info().await.expect("getWebhookInfo");
    assert_eq!(info.url, Some(url));
    assert_eq!(api_err(bot.get_updates().await), unknown(sim::CONFLICT_WEBHOOK));
    let http = url::Url::parse("http://bot.example.com/hook").expect("url");
    assert_eq!(
        api_err(bot.set_webhook(http).await),
        unknown("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    );
    bot.delete_webhook().await.expect("deleteWebhook");
    assert!(bot.get_updates().await.expect("getUpdates").is_empty());
    assert_eq!(bot.get_webhook_info().await.expect("getWebhookInfo").url, None);
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn allowed_updates_filter() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.add_user(&alice);
    let m = bot.send_message(ChatId(alice.id), "menu").await.expect("send");
    sim.private_text(&alice, "text");
    sim.press_button(&alice, m.id.0, "x");
    let only_cb =
        bot.get_updates().allowed_updates(vec![AllowedUpdate::CallbackQuery]).await.expect("getUpdates");
    assert_eq!(only_cb.len(), 1);
    assert!(matches!(only_cb[0].kind, UpdateKind::CallbackQuery(_)));
}

#[tokio::test]
async fn teloxide_dispatcher_runs_against_the_simulator() {
    let (sim, bot) = setup().await;
    let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
        bot.send_message(msg.chat.id, format!("echo: {}", msg.text().unwrap_or_default())).await?;
        respond(())
    });
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler).build();
    let token = dispatcher.shutdown_token();
    let listener =
        teloxide::update_listeners::Polling::builder(bot.clone()).timeout(Duration::from_secs(1)).build();
    let task = tokio::spawn(async move {
        dispatcher
            .dispatch_with_listener(listener, LoggingErrorHandler::with_custom_text("listener error"))
            .await;
    });
    sim.wait_for(|s| s.is_polling(), Duration::from_secs(10)).await;
    let alice = customer();
    sim.private_text(&alice, "hi there");
    let echoed = sim.wait_for_message(alice.id, None, |m| m.text.as_deref() == Some("echo: hi there")).await;
    assert_eq!(echoed.kind, SimKind::Text);
    // the update is confirmed, so it is not handled twice
    sim.assert_no_call_within("sendMessage", |_| true, Duration::from_millis(1500)).await;
    loop {
        match token.shutdown() {
            Ok(f) => {
                f.await;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    task.await.expect("dispatcher task");
    assert_eq!(sim.messages_in(alice.id, None).len(), 1);
    assert!(sim.calls_to("deleteWebhook").len() <= 1);
    assert_schema_ok(&sim);
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

#[tokio::test]
async fn send_message_returns_full_messages() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.private_text(&alice, "hi");
    let kb = InlineKeyboardMarkup::new(vec![vec![
        InlineKeyboardButton::callback("Yes", "yes"),
        InlineKeyboardButton::url("Site", url::Url::parse("https://example.com").expect("url")),
    ]]);
    let m = bot
        .send_message(ChatId(alice.id), "<b>Hi</b> &amp; welcome, <i>Alice</i> 👋")
        .parse_mode(ParseMode::Html)
        .reply_markup(kb.clone())
        .await
        .expect("send");
    assert_eq!(m.text(), Some("Hi & welcome, Alice 👋"));
    assert_eq!(m.id.0, 2, "message ids are per chat and shared with the user's messages");
    assert_eq!(m.from.as_ref().map(|u| u.id), Some(UserId(sim::BOT_ID as u64)));
    let ents = m.entities().expect("entities");
    assert_eq!(ents.len(), 2);
    assert_eq!((ents[0].kind.clone(), ents[0].offset, ents[0].length), (MessageEntityKind::Bold, 0, 2));
    assert_eq!((ents[1].kind.clone(), ents[1].offset, ents[1].length), (MessageEntityKind::Italic, 14, 5));
    assert_eq!(m.reply_markup(), Some(&kb));
    let stored = sim.messages_in(alice.id, None);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].html.as_deref(), Some("<b>Hi</b> &amp; welcome, <i>Alice</i> 👋"));
    assert_eq!(stored[0].callback_data(), vec!["yes".to_owned()]);

    let t = create_topic(&bot, "#7 Alice").await;
    let m =
        bot.send_message(ChatId(SUPPORT_GROUP_ID), "card").message_thread_id(thread(t)).await.expect("send");
    assert_eq!(m.thread_id, Some(thread(t)));
    assert!(m.is_topic_message);
    assert!(matches!(m.reply_to_message().map(|r| &r.kind), Some(MessageKind::ForumTopicCreated(_))));
    assert_eq!(sim.messages_in(SUPPORT_GROUP_ID, Some(t)).len(), 1);
    assert!(sim.messages_in(SUPPORT_GROUP_ID, None).is_empty());
    assert_eq!(m.id.0, t + 1, "topics share the supergroup's message counter");

    // General of the forum, and a reply
    let g = bot.send_message(ChatId(SUPPORT_GROUP_ID), "general").await.expect("send");
    assert_eq!(g.thread_id, None);
    let r = bot
        .send_message(ChatId(SUPPORT_GROUP_ID), "reply")
        .reply_parameters(teloxide::types::ReplyParameters::new(g.id))
        .await
        .expect("send");
    assert_eq!(r.reply_to_message().map(|x| x.id), Some(g.id));
    let missing = bot
        .send_message(ChatId(SUPPORT_GROUP_ID), "reply")
        .reply_parameters(teloxide::types::ReplyParameters::new(MessageId(9999)))
        .await;
    assert_eq!(api_err(missing), ApiError::MessageToReplyNotFound);

    bot.send_chat_action(ChatId(alice.id), ChatAction::Typing).await.expect("sendChatAction");
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn send_message_errors_match_telegram() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.private_text(&alice, "hi");
    let to = ChatId(alice.id);
    assert_eq!(api_err(bot.send_message(to, "").await), ApiError::MessageTextIsEmpty);
    assert_eq!(
        api_err(bot.send_message(to, "<b></b>").parse_mode(ParseMode::Html).await),
        ApiError::MessageTextIsEmpty
    );
    assert_eq!(api_err(bot.send_message(to, "x".repeat(4097)).await), ApiError::MessageIsTooLong);
    bot.send_message(to, "я".repeat(4096)).await.expect("4096 characters are fine");
    assert_eq!(
        api_err(bot.send_message(to, "<b>bold").parse_mode(ParseMode::Html).await),
        ApiError::CantParseEntities(
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"".into()
        )
    );
    assert_eq!(
        api_err(bot.send_message(to, "1 <x> 2").parse_mode(ParseMode::Html).await),
        ApiError::CantParseEntities(
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 2".into()
        )
    );
    assert_eq!(
        api_err(bot.send_message(to, "a < b").parse_mode(ParseMode::Html).await),
        ApiError::CantParseEntities(
            "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 2".into()
        )
    );
    let long_data =
        InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback("x", "d".repeat(65))]]);
    assert_eq!(
        api_err(bot.send_message(to, "kb").reply_markup(long_data).await),
        ApiError::ButtonDataInvalid
    );
    assert_eq!(api_err(bot.send_message(ChatId(42), "who?").await), ApiError::ChatNotFound);
    sim.block_user(alice.id);
    assert_eq!(api_err(bot.send_message(to, "hello?").await), ApiError::BotBlocked);
    assert_eq!(api_err(bot.send_chat_action(to, ChatAction::Typing).await), ApiError::BotBlocked);
    sim.unblock_user(alice.id);
    bot.send_message(to, "back").await.expect("unblocked");

    let g = ChatId(SUPPORT_GROUP_ID);
    let missing = bot.send_message(g, "x").message_thread_id(thread(777)).await;
    assert_eq!(api_err(missing), unknown("Bad Request: message thread not found"));
    let t = create_topic(&bot, "closing").await;
    bot.close_forum_topic(g, thread(t)).await.expect("close");
    // An admin with the topic right may still post in a closed topic...
    bot.send_message(g, "x").message_thread_id(thread(t)).await.expect("admins post in closed topics");
    // ...without it, Telegram refuses.
    sim.set_can_manage_topics(false);
    let closed = bot.send_message(g, "x").message_thread_id(thread(t)).await;
    assert_eq!(api_err(closed), unknown("Bad Request: TOPIC_CLOSED"));
    sim.set_can_manage_topics(true);
    let t2 = create_topic(&bot, "deleting").await;
    sim.delete_topic_externally(t2);
    let deleted = bot.send_message(g, "x").message_thread_id(thread(t2)).await;
    assert_eq!(api_err(deleted), unknown("Bad Request: TOPIC_DELETED"));
    let t3 = create_topic(&bot, "closed by admin").await;
    sim.close_topic_externally(t3);
    assert!(sim.topic(SUPPORT_GROUP_ID, t3).expect("topic").closed);
    let updates = bot.get_updates().await.expect("getUpdates");
    let service = updates.iter().find_map(|u| match &u.kind {
        UpdateKind::Message(m) if m.thread_id == Some(thread(t3)) => Some(m.clone()),
        _ => None,
    });
    assert!(matches!(service.map(|m| m.kind), Some(MessageKind::ForumTopicClosed(_))));

    // failed sends are logged with their error
    let failed: Vec<_> = sim.calls_to("sendMessage").into_iter().filter(|c| c.error.is_some()).collect();
    assert_eq!(failed[0].error, Some((400, "Bad Request: message text is empty".into())));
    assert!(failed.iter().any(|c| c.error == Some((403, "Forbidden: bot was blocked by the user".into()))));
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn copy_and_forward_keep_the_content_kind() {
    let (sim, bot) = setup().await;
    let alice = customer();
    let g = ChatId(SUPPORT_GROUP_ID);
    let t = create_topic(&bot, "#1").await;
    let text = sim.private_text(&alice, "my order is late");
    let photo = sim.private_photo(&alice, Some("receipt"));
    let sticker = sim.private_sticker(&alice);
    let doc = sim.private_document(&alice, Some("invoice"));

    let copied = bot.copy_message(g, ChatId(alice.id), MessageId(text)).message_thread_id(thread(t)).await;
    let copied = copied.expect("copyMessage");
    let c = sim.message(SUPPORT_GROUP_ID, copied.0).expect("stored copy");
    assert_eq!(
        (c.kind.clone(), c.text.as_deref(), c.thread_id),
        (SimKind::Text, Some("my order is late"), Some(t))
    );
    assert_eq!(c.copied_from, Some((alice.id, text)));
    assert!(c.from_bot && c.is_topic_message);

    let p = bot
        .copy_message(g, ChatId(alice.id), MessageId(photo))
        .message_thread_id(thread(t))
        .await
        .expect("copy");
    let p = sim.message(SUPPORT_GROUP_ID, p.0).expect("stored");
    assert_eq!((p.kind.clone(), p.caption.as_deref()), (SimKind::Photo, Some("receipt")));
    let p2 = bot
        .copy_message(g, ChatId(alice.id), MessageId(photo))
        .message_thread_id(thread(t))
        .caption("<b>from Alice</b>")
        .parse_mode(ParseMode::Html)
        .await
        .expect("copy");
    let p2 = sim.message(SUPPORT_GROUP_ID, p2.0).expect("stored");
    assert_eq!(p2.caption.as_deref(), Some("from Alice"));
    assert_eq!(p2.media, p.media, "same file ids");
    let s = bot
        .copy_message(g, ChatId(alice.id), MessageId(sticker))
        .message_thread_id(thread(t))
        .await
        .expect("copy");
    assert_eq!(sim.message(SUPPORT_GROUP_ID, s.0).map(|m| m.kind), Some(SimKind::Sticker));
    let d = bot
        .copy_message(g, ChatId(alice.id), MessageId(doc))
        .message_thread_id(thread(t))
        .await
        .expect("copy");
    assert_eq!(sim.message(SUPPORT_GROUP_ID, d.0).map(|m| m.kind), Some(SimKind::Document));
    assert_eq!(sim.messages_in(SUPPORT_GROUP_ID, Some(t)).len(), 5);

    // and back from an operator in the topic to the customer
    let olga = operator();
    let answer = sim.group_text(&olga, Some(t), "Refund issued");
    let back = bot.copy_message(ChatId(alice.id), g, MessageId(answer)).await.expect("copy to customer");
    assert_eq!(sim.message(alice.id, back.0).and_then(|m| m.text), Some("Refund issued".into()));

    let missing = bot.copy_message(g, ChatId(alice.id), MessageId(999)).await;
    assert_eq!(api_err(missing), ApiError::MessageToCopyNotFound);
    let wrong_chat = bot.copy_message(g, ChatId(alice.id), MessageId(answer)).await;
    assert_eq!(api_err(wrong_chat), ApiError::MessageToCopyNotFound, "the id exists only in the group");
    sim.block_user(alice.id);
    assert_eq!(api_err(bot.copy_message(ChatId(alice.id), g, MessageId(answer)).await), ApiError::BotBlocked);

    let f = bot.forward_message(g, ChatId(alice.id), MessageId(text)).await.expect("forwardMessage");
    assert_eq!(f.text(), Some("my order is late"));
    assert!(f.forward_origin().is_some());
    assert_eq!(
        api_err(bot.forward_message(g, ChatId(alice.id), MessageId(999)).await),
        ApiError::MessageToForwardNotFound
    );
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn media_by_upload_and_by_file_id() {
    use teloxide::types::{FileId, InputFile};
    let (sim, bot) = setup().await;
    let alice = customer();
    let photo = sim.private_photo(&alice, None);
    let file_id = sim.message(alice.id, photo).and_then(|m| m.media).expect("photo")[1]["file_id"]
        .as_str()
        .expect("file_id")
        .to_owned();
    let g = ChatId(SUPPORT_GROUP_ID);
    // uploads go as multipart/form-data
    let up = bot
        .send_photo(g, InputFile::memory(vec![0x89, b'P', b'N', b'G']).file_name("shot.png"))
        .caption("<i>uploaded</i>")
        .parse_mode(ParseMode::Html)
        .await
        .expect("sendPhoto upload");
    assert_eq!(up.caption(), Some("uploaded"));
    assert_eq!(up.photo().map(|p| p.len()), Some(2));
    let upload_call = sim.calls_to("sendPhoto").pop().expect("logged");
    assert_eq!(upload_call.params["photo"]["uploaded_file"], "shot.png");
    // a known file id is reused as is
    let again =
        bot.send_photo(g, InputFile::file_id(FileId(file_id.clone()))).await.expect("sendPhoto by id");
    assert_eq!(again.photo().expect("photo")[1].file.id.0, file_id);
    let doc = bot
        .send_document(g, InputFile::memory(b"%PDF".to_vec()).file_name("report.pdf"))
        .caption("report")
        .await
        .expect("sendDocument");
    assert_eq!(doc.document().and_then(|d| d.file_name.clone()).as_deref(), Some("report.pdf"));
    let sticker = sim.private_sticker(&alice);
    let sticker_id = sim.message(alice.id, sticker).and_then(|m| m.media).expect("sticker")["file_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let st = bot.send_sticker(g, InputFile::file_id(FileId(sticker_id))).await.expect("sendSticker");
    assert!(st.sticker().is_some());
    let kinds: Vec<SimKind> = sim.messages_in(SUPPORT_GROUP_ID, None).into_iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![SimKind::Photo, SimKind::Photo, SimKind::Document, SimKind::Sticker]);
    // MarkdownV2 through teloxide
    let md =
        bot.send_message(g, "*bold* and \\. _it_").parse_mode(ParseMode::MarkdownV2).await.expect("mdv2");
    assert_eq!(md.text(), Some("bold and . it"));
    let bad = bot.send_message(g, "1.5").parse_mode(ParseMode::MarkdownV2).await;
    assert!(
        matches!(api_err(bad), ApiError::CantParseEntities(d) if d.contains("Character '.' is reserved"))
    );
    assert_schema_ok(&sim);
}

// ---------------------------------------------------------------------------
// Topics, pins, commands, callbacks, edits
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forum_topic_lifecycle() {
    let (sim, bot) = setup().await;
    let g = ChatId(SUPPORT_GROUP_ID);
    let t = bot.create_forum_topic(g, "#12 Bob · billing").await.expect("create");
    assert_eq!(t.name, "#12 Bob · billing");
    assert_eq!(t.icon_color, Rgb::from_u32(0x6FB9F0));
    let t2 = bot.create_forum_topic(g, "VIP").icon_color(Rgb::from_u32(0xFB6F5F)).await.expect("create");
    assert_eq!(t2.icon_color, Rgb::from_u32(0xFB6F5F));
    assert!(t2.thread_id.0.0 > t.thread_id.0.0);
    let bad_color = bot.create_forum_topic(g, "x").icon_color(Rgb::from_u32(0x123456)).await;
    assert_eq!(api_err(bad_color), unknown("Bad Request: TOPIC_ICON_COLOR_INVALID"));
    assert_eq!(
        api_err(bot.create_forum_topic(g, "n".repeat(129)).await),
        unknown("Bad Request: TOPIC_NAME_INVALID")
    );
    assert_eq!(
        api_err(bot.create_forum_topic(ChatId(OTHER_GROUP_ID), "x").await),
        unknown("Bad Request: the chat is not a forum")
    );
    sim.set_can_manage_topics(false);
    assert_eq!(
        api_err(bot.create_forum_topic(g, "x").await),
        unknown("Bad Request: not enough rights to create a topic")
    );
    sim.set_can_manage_topics(true);

    let id = t.thread_id;
    bot.edit_forum_topic(g, id).name("#12 Bob · billing · Olga").await.expect("edit");
    assert_eq!(
        api_err(bot.edit_forum_topic(g, id).name("#12 Bob · billing · Olga").await),
        unknown("Bad Request: TOPIC_NOT_MODIFIED")
    );
    bot.close_forum_topic(g, id).await.expect("close");
    assert_eq!(api_err(bot.close_forum_topic(g, id).await), unknown("Bad Request: TOPIC_NOT_MODIFIED"));
    bot.reopen_forum_topic(g, id).await.expect("reopen");
    assert_eq!(api_err(bot.reopen_forum_topic(g, id).await), unknown("Bad Request: TOPIC_NOT_MODIFIED"));
    let topic = sim.topic(SUPPORT_GROUP_ID, id.0.0).expect("topic");
    assert_eq!(
        (topic.name.as_str(), topic.closed, topic.deleted),
        ("#12 Bob · billing · Olga", false, false)
    );
    bot.delete_forum_topic(g, t2.thread_id).await.expect("delete");
    assert!(sim.topic(SUPPORT_GROUP_ID, t2.thread_id.0.0).expect("topic").deleted);
    assert_eq!(sim.topics().len(), 2);
    // service messages are stored but not reported by messages_in
    assert!(sim.messages_in(SUPPORT_GROUP_ID, Some(id.0.0)).is_empty());
    let kinds: Vec<SimKind> = sim.all_messages(SUPPORT_GROUP_ID).into_iter().map(|m| m.kind).collect();
    assert!(kinds.contains(&SimKind::Service("forum_topic_closed".into())));
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn pins() {
    let (sim, bot) = setup().await;
    let g = ChatId(SUPPORT_GROUP_ID);
    let t = create_topic(&bot, "#1").await;
    let card = bot.send_message(g, "ticket card").message_thread_id(thread(t)).await.expect("send");
    bot.pin_chat_message(g, card.id).disable_notification(true).await.expect("pin");
    assert_eq!(sim.pinned(SUPPORT_GROUP_ID, Some(t)), Some(card.id.0));
    assert_eq!(sim.pinned(SUPPORT_GROUP_ID, None), None);
    assert_eq!(
        api_err(bot.pin_chat_message(g, MessageId(4242)).await),
        unknown("Bad Request: message to pin not found")
    );
    sim.set_can_pin(false);
    assert_eq!(api_err(bot.pin_chat_message(g, card.id).await), ApiError::NotEnoughRightsToManagePins);
    sim.set_can_pin(true);
    bot.unpin_chat_message(g).message_id(card.id).await.expect("unpin");
    assert_eq!(sim.pinned(SUPPORT_GROUP_ID, Some(t)), None);
    bot.pin_chat_message(g, card.id).await.expect("pin");
    bot.unpin_all_forum_topic_messages(g, thread(t)).await.expect("unpin all");
    assert_eq!(sim.pinned(SUPPORT_GROUP_ID, Some(t)), None);
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn commands() {
    let (sim, bot) = setup().await;
    let cmds = vec![BotCommand::new("start", "Start"), BotCommand::new("new_ticket", "Open a ticket")];
    bot.set_my_commands(cmds.clone()).await.expect("default scope");
    bot.set_my_commands(vec![BotCommand::new("start", "Начать")])
        .scope(BotCommandScope::AllPrivateChats)
        .language_code("ru")
        .await
        .expect("ru");
    bot.set_my_commands(vec![BotCommand::new("stats", "Stats")])
        .scope(BotCommandScope::Chat { chat_id: Recipient::Id(ChatId(SUPPORT_GROUP_ID)) })
        .await
        .expect("group");
    let all = sim.commands();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].0, json!({"type": "default"}));
    assert_eq!(all[1].1.as_deref(), Some("ru"));
    assert_eq!(all[1].2, vec![("start".to_owned(), "Начать".to_owned())]);
    assert_eq!(all[2].0["chat_id"], json!(SUPPORT_GROUP_ID));
    assert_eq!(bot.get_my_commands().await.expect("get"), cmds);
    assert_eq!(
        api_err(bot.set_my_commands(vec![BotCommand::new("Start!", "x")]).await),
        unknown("Bad Request: BOT_COMMAND_INVALID")
    );
    assert_eq!(
        api_err(bot.set_my_commands(vec![BotCommand::new("start", "")]).await),
        unknown("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    );
    bot.delete_my_commands().await.expect("delete");
    assert!(bot.get_my_commands().await.expect("get").is_empty());
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn callback_answers_and_edits() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.add_user(&alice);
    let kb = InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::callback("Rate 5", "rate/5")]]);
    let m =
        bot.send_message(ChatId(alice.id), "How did we do?").reply_markup(kb.clone()).await.expect("send");
    let cb = sim.press_button(&alice, m.id.0, "rate/5");
    bot.answer_callback_query(teloxide::types::CallbackQueryId(cb.clone()))
        .text("Thanks!")
        .await
        .expect("answer");
    assert_eq!(sim.callback_answer(&cb).expect("answered")["text"], "Thanks!");
    let again = bot.answer_callback_query(teloxide::types::CallbackQueryId(cb)).await;
    assert_eq!(api_err(again), unknown(sim::QUERY_INVALID));
    let bogus = bot.answer_callback_query(teloxide::types::CallbackQueryId("123".into())).await;
    assert_eq!(api_err(bogus), unknown(sim::QUERY_INVALID));

    let chat = ChatId(alice.id);
    let same = bot.edit_message_text(chat, m.id, "How did we do?").reply_markup(kb.clone()).await;
    assert_eq!(api_err(same), ApiError::MessageNotModified);
    let edited = bot.edit_message_text(chat, m.id, "Thanks for rating").await.expect("edit");
    assert_eq!(edited.text(), Some("Thanks for rating"));
    assert!(edited.edit_date().is_some());
    assert!(edited.reply_markup().is_none(), "editMessageText without reply_markup removes the keyboard");
    let with_kb = bot.edit_message_reply_markup(chat, m.id).reply_markup(kb.clone()).await.expect("markup");
    assert_eq!(with_kb.reply_markup(), Some(&kb));
    let same = bot.edit_message_reply_markup(chat, m.id).reply_markup(kb).await;
    assert_eq!(api_err(same), ApiError::MessageNotModified);
    let user_msg = sim.private_text(&alice, "mine");
    assert_eq!(
        api_err(bot.edit_message_text(chat, MessageId(user_msg), "x").await),
        ApiError::MessageCantBeEdited
    );
    assert_eq!(
        api_err(bot.edit_message_text(chat, MessageId(999), "x").await),
        ApiError::MessageToEditNotFound
    );
    bot.delete_message(chat, m.id).await.expect("delete");
    assert!(sim.message(alice.id, m.id.0).expect("kept").deleted);
    assert!(sim.messages_in(alice.id, None).is_empty());
    assert_eq!(api_err(bot.delete_message(chat, m.id).await), ApiError::MessageToDeleteNotFound);
    assert_schema_ok(&sim);
}

#[tokio::test]
async fn chats_members_and_leaving() {
    let (sim, bot) = setup().await;
    let olga = operator();
    sim.group_text(&olga, None, "hello");
    let chat = bot.get_chat(ChatId(SUPPORT_GROUP_ID)).await.expect("getChat");
    assert!(chat.is_supergroup());
    assert_eq!(chat.title(), Some("Support"));
    let me = bot.get_chat_member(ChatId(SUPPORT_GROUP_ID), UserId(sim::BOT_ID as u64)).await.expect("member");
    assert!(me.is_administrator());
    match &me.kind {
        ChatMemberKind::Administrator(a) => assert!(a.can_manage_topics && a.can_pin_messages),
        other => panic!("expected an administrator, got {other:?}"),
    }
    let m = bot.get_chat_member(ChatId(SUPPORT_GROUP_ID), UserId(olga.id as u64)).await.expect("member");
    assert!(m.is_member() && !m.is_privileged());
    sim.set_member_status(SUPPORT_GROUP_ID, olga.id, "administrator");
    let m = bot.get_chat_member(ChatId(SUPPORT_GROUP_ID), UserId(olga.id as u64)).await.expect("member");
    assert!(m.is_administrator());
    bot.leave_chat(ChatId(OTHER_GROUP_ID)).await.expect("leaveChat");
    assert!(sim.has_left(OTHER_GROUP_ID));
    assert_eq!(
        api_err(bot.send_message(ChatId(OTHER_GROUP_ID), "x").await),
        unknown("Forbidden: bot is not a member of the supergroup chat")
    );
    assert_schema_ok(&sim);
}

// ---------------------------------------------------------------------------
// Faults and flood control
// ---------------------------------------------------------------------------

#[tokio::test]
async fn faults_map_to_teloxide_errors() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.add_user(&alice);
    let to = ChatId(alice.id);

    sim.fail_next(FaultRule::new("sendMessage", Fault::TooManyRequests { retry_after: 3 }));
    match bot.send_message(to, "x").await {
        Err(RequestError::RetryAfter(s)) => assert_eq!(s, Seconds::from_seconds(3)),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    let call = sim.calls_to("sendMessage").pop().expect("logged");
    assert_eq!(call.error, Some((429, "Too Many Requests: retry after 3".into())));
    bot.send_message(to, "x").await.expect("only the next call fails");

    sim.fail_next(FaultRule::new("sendMessage", Fault::Forbidden("bot was blocked by the user".into())));
    assert_eq!(api_err(bot.send_message(to, "x").await), ApiError::BotBlocked);
    sim.fail_next(FaultRule::new("SENDMESSAGE", Fault::BadRequest("chat not found".into())).times(2));
    assert_eq!(api_err(bot.send_message(to, "x").await), ApiError::ChatNotFound);
    assert_eq!(api_err(bot.send_message(to, "x").await), ApiError::ChatNotFound);
    bot.send_message(to, "x").await.expect("rule used up");

    // chat-specific rules only hit that chat
    sim.fail_next(
        FaultRule::new("sendMessage", Fault::BadRequest("TOPIC_CLOSED".into())).chat(SUPPORT_GROUP_ID),
    );
    bot.send_message(to, "x").await.expect("other chat unaffected");
    assert_eq!(
        api_err(bot.send_message(ChatId(SUPPORT_GROUP_ID), "x").await),
        unknown("Bad Request: TOPIC_CLOSED")
    );

    sim.fail_next(FaultRule::new("sendMessage", Fault::DropConnection));
    match bot.send_message(to, "x").await {
        Err(RequestError::Network(_)) => {}
        other => panic!("expected a network error, got {other:?}"),
    }
    bot.send_message(to, "after drop").await.expect("the client recovers");

    sim.fail_next(FaultRule::new("sendMessage", Fault::Delay(Duration::from_millis(700))));
    let started = Instant::now();
    bot.send_message(to, "slow").await.expect("delayed but fine");
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(sim.messages_in(alice.id, None).last().and_then(|m| m.text.clone()), Some("slow".into()));
    assert_schema_ok(&sim);
}

/// teloxide sleeps 10 s after any 5xx before reading the body, so both
/// server faults run concurrently in one test.
#[tokio::test]
async fn server_faults_map_to_teloxide_errors() {
    let (sim, bot) = setup().await;
    sim.fail_next(FaultRule::new("getMe", Fault::ServerError));
    sim.fail_next(FaultRule::new("getChat", Fault::BadGateway));
    let (a, b) =
        tokio::join!(bot.get_me().into_future(), bot.get_chat(ChatId(SUPPORT_GROUP_ID)).into_future());
    assert_eq!(api_err(a), unknown("Internal Server Error"));
    match b {
        Err(RequestError::InvalidJson { raw, .. }) => assert!(raw.contains("502 Bad Gateway")),
        other => panic!("expected InvalidJson, got {other:?}"),
    }
}

#[tokio::test]
async fn rate_limiter_returns_429_with_retry_after() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.add_user(&alice);
    sim.set_rate_limits(RateLimits::default());
    bot.send_message(ChatId(alice.id), "1").await.expect("first");
    match bot.send_message(ChatId(alice.id), "2").await {
        Err(RequestError::RetryAfter(s)) => assert_eq!(s, Seconds::from_seconds(1)),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert_eq!(sim.rate_limited_count(), 1);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    bot.send_message(ChatId(alice.id), "2").await.expect("after waiting");

    sim.set_rate_limits(RateLimits { per_chat_per_sec: 100, per_group_per_min: 3, global_per_sec: 100 });
    let g = ChatId(SUPPORT_GROUP_ID);
    for i in 0..3 {
        bot.send_message(g, format!("{i}")).await.expect("within the group limit");
    }
    match bot.send_message(g, "4").await {
        Err(RequestError::RetryAfter(s)) => assert!((59..=60).contains(&s.seconds()), "{s:?}"),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert_eq!(sim.rate_limited_count(), 2);
    sim.disable_rate_limits();
    bot.send_message(g, "free").await.expect("limits off");
}

// ---------------------------------------------------------------------------
// Protocol level
// ---------------------------------------------------------------------------

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn protocol_details() {
    let (sim, _bot) = setup().await;
    let addr = sim.addr();
    let (status, body) = raw_request(addr, "POST", "/bot1:WRONG/getMe", None, b"").await;
    assert_eq!(
        (status, parse(&body)),
        (401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"}))
    );
    let wrong = Bot::new("1:WRONG").set_api_url(sim.api_url());
    assert_eq!(api_err(wrong.get_me().await), ApiError::InvalidToken);
    let (status, body) = raw_request(addr, "POST", &format!("/bot{TOKEN}/fooBar"), None, b"").await;
    assert_eq!(
        (status, parse(&body)),
        (404, json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}))
    );
    for name in ["getMe", "GetMe", "getme", "GETME"] {
        let (status, body) = raw_request(addr, "POST", &format!("/bot{TOKEN}/{name}"), None, b"").await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(parse(&body)["result"]["username"], sim::BOT_USERNAME);
    }
    let (status, body) = raw_request(addr, "GET", &format!("/bot{TOKEN}/getMe"), None, b"").await;
    assert_eq!((status, parse(&body)["ok"].clone()), (200, json!(true)));
    let (status, body) =
        raw_request(addr, "POST", &format!("/bot{TOKEN}/sendMessage"), Some("application/json"), b"{nope")
            .await;
    assert_eq!(
        (status, parse(&body)["description"].clone()),
        (400, json!("Bad Request: can't parse JSON object"))
    );

    let alice = customer();
    sim.add_user(&alice);
    let form = format!(
        "chat_id={}&text=hello+form&reply_markup=%7B%22inline_keyboard%22%3A%5B%5B%7B%22text%22%3A%22a%22%2C%22callback_data%22%3A%22b%22%7D%5D%5D%7D",
        alice.id
    );
    let (status, body) = raw_request(
        addr,
        "POST",
        &format!("/bot{TOKEN}/sendMessage"),
        Some("application/x-www-form-urlencoded"),
        form.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v = parse(&body);
    assert_eq!(v["result"]["text"], "hello form");
    assert_eq!(v["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "b");
    let (status, body) =
        raw_request(addr, "GET", &format!("/bot{TOKEN}/sendMessage?chat_id={}&text=q", alice.id), None, b"")
            .await;
    assert_eq!((status, parse(&body)["result"]["text"].clone()), (200, json!("q")));

    // required parameters
    let send = |body: Value| {
        let path = format!("/bot{TOKEN}/{}", body["m"].as_str().unwrap_or_default());
        async move {
            let (s, b) =
                raw_request(addr, "POST", &path, Some("application/json"), body["p"].to_string().as_bytes())
                    .await;
            (s, parse(&b)["description"].as_str().unwrap_or_default().to_owned())
        }
    };
    assert_eq!(
        send(json!({"m": "sendMessage", "p": {"chat_id": alice.id}})).await,
        (400, "Bad Request: message text is empty".into())
    );
    assert_eq!(
        send(json!({"m": "sendMessage", "p": {"text": "x"}})).await,
        (400, "Bad Request: chat_id is empty".into())
    );
    assert_eq!(
        send(json!({"m": "createForumTopic", "p": {"chat_id": SUPPORT_GROUP_ID}})).await,
        (400, "Bad Request: parameter name is required".into())
    );
    assert_eq!(
        send(json!({"m": "answerCallbackQuery", "p": {}})).await,
        (400, sim::QUERY_INVALID.to_owned())
    );
    assert_eq!(
        send(json!({"m": "sendMessage", "p": {"chat_id": alice.id, "text": "x", "parse_mode": "BBCode"}}))
            .await,
        (400, "Bad Request: unsupported parse_mode".into())
    );
    // the call log keeps canonical names
    let methods: Vec<String> = sim.calls().into_iter().map(|c| c.method).collect();
    assert!(methods.iter().filter(|m| *m == "getMe").count() >= 5, "{methods:?}");
    assert!(methods.contains(&"fooBar".to_owned()));
    assert_schema_ok(&sim);
}

// ---------------------------------------------------------------------------
// Schema, formatting, waiters
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_injections_are_reported() {
    let sim = BotApiSim::start().await;
    sim.inject_raw(json!({"message": {"message_id": 1, "date": 0, "chat": {"id": 1}}}));
    assert_eq!(
        sim.schema_violations(),
        vec![
            "injected update 100000001: Update.message.chat: missing required field `type` of Chat"
                .to_owned()
        ]
    );
}

#[test]
fn schema_check_catches_missing_fields() {
    let msg = json!({"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                     "from": {"id": 2, "first_name": "x"}});
    let problems = check_required("Message", &msg);
    assert_eq!(problems, vec!["Message.from: missing required field `is_bot` of User".to_owned()]);
    let update = json!({"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1}}});
    let problems = check_required("Update", &update);
    assert!(problems.iter().any(|p| p.contains("`date` of Message")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("`type` of Chat")), "{problems:?}");
    assert!(sim::required_params("sendMessage").contains(&"text".to_owned()));
    assert_eq!(sim::canonical_method("COPYMESSAGE").as_deref(), Some("copyMessage"));
}

#[test]
fn html_parser_follows_telegram() {
    let (text, ents) =
        parse_html("👋 <b>bold <i>both</i></b> &lt;tag&gt; &amp; &quot;q&quot; & ok").expect("valid");
    assert_eq!(text, "👋 bold both <tag> & \"q\" & ok");
    assert_eq!(
        ents,
        vec![
            json!({"type": "bold", "offset": 3, "length": 9}),
            json!({"type": "italic", "offset": 8, "length": 4})
        ]
    );
    let (text, ents) = parse_html(
        "<a href=\"https://t.me/x?a=1&amp;b=2\">link</a> <pre><code class=\"language-rust\">fn</code></pre>",
    )
    .expect("valid");
    assert_eq!(text, "link fn");
    assert_eq!(
        ents[0],
        json!({"type": "text_link", "offset": 0, "length": 4, "url": "https://t.me/x?a=1&b=2"})
    );
    assert_eq!(ents[1], json!({"type": "pre", "offset": 5, "length": 2, "language": "rust"}));
    let (_, ents) = parse_html("<tg-spoiler>s</tg-spoiler><span class=\"tg-spoiler\">p</span><blockquote expandable>q</blockquote><u>u</u><s>s</s><code>c</code>").expect("valid");
    let kinds: Vec<&str> = ents.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        vec!["spoiler", "spoiler", "expandable_blockquote", "underline", "strikethrough", "code"]
    );
    assert_eq!(parse_html("<x>").unwrap_err(), "Unsupported start tag \"x\" at byte offset 0");
    assert_eq!(parse_html("<b>b").unwrap_err(), "Can't find end tag corresponding to start tag \"b\"");
    assert_eq!(parse_html("x</b>").unwrap_err(), "Unexpected end tag at byte offset 1");
    assert_eq!(
        parse_html("<b>x</i>").unwrap_err(),
        "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""
    );
    assert_eq!(parse_html("<b").unwrap_err(), "Unclosed start tag at byte offset 0");
    assert_eq!(
        parse_html("<span>x</span>").unwrap_err(),
        "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
    );
    assert_eq!(
        parse_html("<a href>x</a>").unwrap_err(),
        "Expected equal sign in declaration of an attribute of the tag \"a\" at byte offset 0"
    );

    let (text, ents) =
        parse_markdown_v2("*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://x.y) \\.").expect("valid");
    assert_eq!(text, "bold it u s sp c l .");
    assert_eq!(ents.len(), 7);
    assert_eq!(
        parse_markdown_v2("Hello.").unwrap_err(),
        "Character '.' is reserved and must be escaped with the preceding '\\'"
    );
}

#[tokio::test]
async fn waiters_return_and_report() {
    let (sim, bot) = setup().await;
    let alice = customer();
    sim.add_user(&alice);
    let b2 = bot.clone();
    let id = alice.id;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b2.send_message(ChatId(id), "later").await.expect("send");
    });
    let m = sim.wait_for_message(alice.id, None, |m| m.text.as_deref() == Some("later")).await;
    assert_eq!(m.message_id, 1);
    let call = sim.wait_for_call("sendMessage", |c| c.chat_id() == Some(alice.id)).await;
    assert_eq!(call.result.as_ref().map(|r| r["text"].clone()), Some(json!("later")));
    sim.assert_no_call_within("sendMessage", |_| true, Duration::from_millis(200)).await;
    sim.wait_for(|s| s.calls().len() == 1, Duration::from_millis(100)).await;
}

#[tokio::test]
#[should_panic(expected = "wait_for: condition not met")]
async fn wait_for_panics_with_a_dump() {
    let (sim, bot) = setup().await;
    bot.get_me().await.expect("getMe");
    sim.wait_for(|s| s.calls().len() > 5, Duration::from_millis(100)).await;
}
