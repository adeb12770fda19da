//! Slash commands: parsing (via teloxide's `BotCommands`) and the localised,
//! scoped command menus registered with `setMyCommands` (DESIGN §8).

use teloxide::{
    prelude::*,
    types::{BotCommand, BotCommandScope, Recipient},
    utils::command::BotCommands,
};

use crate::{
    config::Config,
    delivery::retry::with_retry,
    i18n::{I18n, Lang},
};

/// Commands customers use in the private chat.
#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum CustomerCommand {
    Start,
    Cancel,
    Close,
    Language,
    Help,
}

/// Commands agents and admins use in the support group.
#[derive(BotCommands, Clone, Debug, PartialEq, Eq)]
#[command(rename_rule = "snake_case")]
pub enum GroupCommand {
    Close,
    Reopen,
    Note(String),
    Help,
    Take,
    Reassign(String),
    AgentAdd(String),
    AgentRemove(String),
    SkillAdd(String),
    SkillRemove(String),
    Agents,
    Queue,
    Stats(String),
    Audit(String),
    Export(String),
    Available,
    Away,
    Offline,
}

/// The customer menu: (command, locale key of its description).
const CUSTOMER_MENU: &[(&str, &str)] = &[
    ("start", "cmd-start"),
    ("cancel", "cmd-cancel"),
    ("close", "cmd-close-customer"),
    ("language", "cmd-language"),
    ("help", "cmd-help"),
];

/// The support-group menu.
pub const GROUP_MENU: &[(&str, &str)] = &[
    ("close", "cmd-close"),
    ("reopen", "cmd-reopen"),
    ("note", "cmd-note"),
    ("take", "cmd-take"),
    ("reassign", "cmd-reassign"),
    ("available", "cmd-available"),
    ("away", "cmd-away"),
    ("offline", "cmd-offline"),
    ("agents", "cmd-agents"),
    ("queue", "cmd-queue"),
    ("stats", "cmd-stats"),
    ("audit", "cmd-audit"),
    ("export", "cmd-export"),
    ("agent_add", "cmd-agent-add"),
    ("agent_remove", "cmd-agent-remove"),
    ("skill_add", "cmd-skill-add"),
    ("skill_remove", "cmd-skill-remove"),
    ("help", "cmd-help"),
];

/// `/close, /reopen, …` for hints.
pub fn group_command_list() -> String {
    GROUP_MENU.iter().map(|(c, _)| format!("/{c}")).collect::<Vec<_>>().join(", ")
}

fn menu(i18n: &I18n, lang: Lang, entries: &[(&str, &str)]) -> Vec<BotCommand> {
    entries.iter().map(|(command, key)| BotCommand::new(*command, i18n.t(lang, key))).collect()
}

/// Registers the command menus: customers' in every private chat, agents'
/// in the support group, once per language (the default menu in English).
/// Failures are logged, not fatal: the bot works without menus.
pub async fn register(bot: &Bot, i18n: &I18n, config: &Config) {
    let scopes = [
        (BotCommandScope::AllPrivateChats, CUSTOMER_MENU),
        (BotCommandScope::Chat { chat_id: Recipient::Id(config.support_group) }, GROUP_MENU),
    ];
    for (scope, entries) in scopes {
        for lang in Lang::ALL {
            let commands = menu(i18n, lang, entries);
            let result = with_retry("setMyCommands", || {
                let request = bot.set_my_commands(commands.clone()).scope(scope.clone());
                let request = if lang == Lang::En { request } else { request.language_code(lang.code()) };
                async move { request.await }
            })
            .await;
            if let Err(error) = result {
                tracing::warn!(%error, lang = lang.code(), ?scope, "could not register the command menu");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_commands_parse_with_and_without_the_bot_name() {
        let parse = |text| GroupCommand::parse(text, "topicdesk_bot").ok();
        assert_eq!(parse("/close"), Some(GroupCommand::Close));
        assert_eq!(parse("/close@topicdesk_bot"), Some(GroupCommand::Close));
        assert_eq!(
            parse("/note the customer is angry"),
            Some(GroupCommand::Note("the customer is angry".into()))
        );
        assert_eq!(parse("/note"), Some(GroupCommand::Note(String::new())));
        assert_eq!(parse("/close@other_bot"), None);
        assert_eq!(parse("/agent_add 1001 3"), Some(GroupCommand::AgentAdd("1001 3".into())));
        assert_eq!(parse("/skill_add 1001 billing:3"), Some(GroupCommand::SkillAdd("1001 billing:3".into())));
        assert_eq!(parse("/available"), Some(GroupCommand::Available));
        assert_eq!(parse("/frobnicate"), None);
    }

    #[test]
    fn menus_are_valid_for_telegram_in_every_language() {
        let i18n = I18n::load().expect("locales");
        for lang in Lang::ALL {
            for entries in [CUSTOMER_MENU, GROUP_MENU] {
                for command in menu(&i18n, lang, entries) {
                    assert!((1..=32).contains(&command.command.len()));
                    assert!(command.command.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                    assert!(
                        GroupCommand::parse(&format!("/{}", command.command), "bot").is_ok()
                            || CustomerCommand::parse(&format!("/{}", command.command), "bot").is_ok(),
                        "menu entry /{} parses",
                        command.command
                    );
                    let len = command.description.chars().count();
                    assert!((1..=256).contains(&len), "{lang:?} {}", command.command);
                }
            }
        }
    }
}
