//! Languages (DESIGN §14): a customer's whole conversation in their
//! language, `/language` to choose another, kept across restarts.

use std::time::Duration;

use topicdesk::i18n::{I18n, Lang};

use crate::{
    routing::add_billing_agent,
    support::{
        bot::TestBot,
        sim::{SUPPORT_GROUP_ID, SimUser},
    },
};

/// The start of every English text (before its first placeable), to catch
/// English leaking into another language's conversation.
fn english_openings() -> Vec<String> {
    let i18n = I18n::load().expect("locales");
    I18n::keys(Lang::En)
        .into_iter()
        .map(|key| i18n.t(Lang::En, &key))
        .map(|text| text.split('{').next().unwrap_or_default().trim().chars().take(16).collect::<String>())
        .filter(|opening| opening.chars().filter(|c| c.is_alphabetic()).count() >= 8)
        .collect()
}

/// Every text the bot itself wrote to `customer` (not relayed copies).
fn bot_texts(bot: &TestBot, customer: &SimUser) -> Vec<String> {
    bot.sim
        .messages_in(customer.id, None)
        .into_iter()
        .filter(|m| m.copied_from.is_none())
        .filter_map(|m| m.body().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_customer_hears_only_their_language_and_can_choose_another() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let alice = SimUser::operator(2001, "Alice");
    add_billing_agent(&bot, &alice).await;
    let olga = SimUser::customer(1901, "Olga").lang("ru");
    let (_, thread) = bot.open_ticket(&olga, "billing", "двойное списание").await;
    let reply = bot.sim.group_text(&alice, Some(thread), "Проверяем");
    bot.sim.wait_for_message(olga.id, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    bot.sim.private_text(&olga, "/cancel");
    bot.sim.private_text(&olga, "/close");
    bot.sim
        .wait_for_message(olga.id, None, |m| m.callback_data().iter().any(|d| d.starts_with("1/rate/")))
        .await;
    let openings = english_openings();
    for text in bot_texts(&bot, &olga) {
        assert!(text.chars().any(|c| matches!(c, 'а'..='я' | 'А'..='Я')), "not Russian: {text}");
        assert!(!openings.iter().any(|o| text.starts_with(o.as_str())), "English leaked: {text}");
    }

    // She switches to Spanish; the choice outlives a restart.
    bot.sim.private_text(&olga, "/language");
    let menu = bot
        .sim
        .wait_for_message(olga.id, None, |m| m.callback_data().iter().any(|d| d.starts_with("1/lang/")))
        .await;
    assert_eq!(menu.callback_data(), vec!["1/lang/en", "1/lang/ru", "1/lang/es"]);
    bot.sim.press_button(&olga, menu.message_id, "1/lang/es");
    bot.sim.wait_for_message(olga.id, None, |m| m.body().is_some_and(|b| b.contains("en español"))).await;
    bot.restart().await;
    let before = bot.sim.messages_in(olga.id, None).len();
    bot.sim.private_text(&olga, "/help");
    let help = bot.wait_for_customer_message(&olga, before, |_| true).await;
    assert!(help.body().is_some_and(|b| b.starts_with("Te pongo en contacto")), "{:?}", help.body());
    tokio::time::sleep(Duration::from_millis(100)).await;
    bot.stop().await.expect("clean stop");
}
