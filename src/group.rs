//! Whether the support group can hold tickets (DESIGN §2, §7): it exists,
//! is a forum supergroup, and the bot is an administrator there with
//! "Manage topics" and "Pin messages".
//!
//! Checked once at start (`getChat` and `getChatMember` of the bot itself),
//! then kept current from the `my_chat_member` updates Telegram sends when
//! the bot is promoted, demoted, removed or added back, and re-checked while
//! something is wrong. The bot keeps running with a broken group (rights can
//! be granted later); `/healthz` reports the problem, customers are told
//! their message was received rather than promised a ticket topic, and the
//! operator reads exactly what to fix.

use std::sync::{Arc, Mutex, PoisonError};

use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{
        Chat, ChatFullInfo, ChatFullInfoKind, ChatFullInfoPublicKind, ChatKind, ChatMemberKind,
        PublicChatKind,
    },
};

/// A right the bot needs in the support group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    ManageTopics,
    PinMessages,
}

impl Right {
    /// The right's name as Telegram's group settings show it.
    pub fn label(self) -> &'static str {
        match self {
            Right::ManageTopics => "Manage topics",
            Right::PinMessages => "Pin messages",
        }
    }
}

/// What makes the support group unusable, each with its fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupProblem {
    /// `getChat` says the chat does not exist (or the bot never saw it).
    NotFound,
    /// A private chat, a channel or a basic group.
    NotSupergroup,
    /// A supergroup without topics.
    NotForum,
    /// The bot left or was removed.
    BotNotMember,
    /// The bot is a plain member.
    BotNotAdmin,
    /// The bot is an administrator without these rights.
    MissingRights(Vec<Right>),
}

impl GroupProblem {
    /// One line for the operator: what is wrong and how to fix it.
    pub fn explain(&self, group: ChatId) -> String {
        let id = group.0;
        match self {
            GroupProblem::NotFound => format!(
                "SUPPORT_GROUP_ID {id} is not a chat this bot can see: check the id (a forum supergroup's id starts \
                 with -100) and add the bot to the group"
            ),
            GroupProblem::NotSupergroup => format!(
                "SUPPORT_GROUP_ID {id} is not a supergroup: create a group, turn on Topics in its settings \
                 (which makes it a forum supergroup) and use its new id"
            ),
            GroupProblem::NotForum => {
                format!("the support group {id} is not a forum: turn on Topics in the group's settings")
            }
            GroupProblem::BotNotMember => format!(
                "the bot is not a member of the support group {id}: add it and make it an administrator with \
                 \"Manage topics\" and \"Pin messages\""
            ),
            GroupProblem::BotNotAdmin => format!(
                "the bot is only a member of the support group {id}: make it an administrator with \"Manage \
                 topics\" and \"Pin messages\""
            ),
            GroupProblem::MissingRights(rights) => {
                let names: Vec<String> = rights.iter().map(|r| format!("\"{}\"", r.label())).collect();
                format!(
                    "the bot is an administrator of the support group {id} but lacks {}: grant it in the group's \
                     administrator settings",
                    names.join(" and ")
                )
            }
        }
    }

    /// A short stable name, for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            GroupProblem::NotFound => "not_found",
            GroupProblem::NotSupergroup => "not_supergroup",
            GroupProblem::NotForum => "not_forum",
            GroupProblem::BotNotMember => "bot_not_member",
            GroupProblem::BotNotAdmin => "bot_not_admin",
            GroupProblem::MissingRights(_) => "missing_rights",
        }
    }
}

/// What is known about the chat itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatShape {
    Forum,
    Supergroup,
    Other,
}

impl ChatShape {
    /// The shape of a chat as `getChat` describes it.
    pub fn of_full(chat: &ChatFullInfo) -> Self {
        match &chat.kind {
            ChatFullInfoKind::Public(public) => match &public.kind {
                ChatFullInfoPublicKind::Supergroup(s) if s.is_forum => ChatShape::Forum,
                ChatFullInfoPublicKind::Supergroup(_) => ChatShape::Supergroup,
                _ => ChatShape::Other,
            },
            ChatFullInfoKind::Private(_) => ChatShape::Other,
        }
    }

    /// The shape of a chat as an update describes it.
    pub fn of(chat: &Chat) -> Self {
        match &chat.kind {
            ChatKind::Public(public) => match &public.kind {
                PublicChatKind::Supergroup(s) if s.is_forum => ChatShape::Forum,
                PublicChatKind::Supergroup(_) => ChatShape::Supergroup,
                _ => ChatShape::Other,
            },
            ChatKind::Private(_) => ChatShape::Other,
        }
    }
}

/// Whether a chat of this shape, where the bot is `member`, can hold tickets.
pub fn assess(shape: ChatShape, member: &ChatMemberKind) -> Result<(), GroupProblem> {
    match shape {
        ChatShape::Other => return Err(GroupProblem::NotSupergroup),
        ChatShape::Supergroup => return Err(GroupProblem::NotForum),
        ChatShape::Forum => {}
    }
    match member {
        ChatMemberKind::Owner(_) => Ok(()),
        ChatMemberKind::Administrator(admin) => {
            let mut missing = Vec::new();
            if !admin.can_manage_topics {
                missing.push(Right::ManageTopics);
            }
            if !admin.can_pin_messages {
                missing.push(Right::PinMessages);
            }
            if missing.is_empty() { Ok(()) } else { Err(GroupProblem::MissingRights(missing)) }
        }
        ChatMemberKind::Member(_) | ChatMemberKind::Restricted(_) => Err(GroupProblem::BotNotAdmin),
        ChatMemberKind::Left | ChatMemberKind::Banned(_) => Err(GroupProblem::BotNotMember),
    }
}

/// The group's health as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not checked yet, or the check could not reach Telegram: assumed usable.
    Unknown(Option<String>),
    /// The group can hold tickets.
    Ready,
    /// The group cannot hold tickets until an admin fixes this.
    Broken(GroupProblem),
}

/// How a new assessment changed the group's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The same as before.
    Unchanged,
    /// It was broken and can hold tickets again.
    Fixed,
    /// It is usable (first check, or it was unknown).
    Ready,
    /// It is broken now.
    Broken(GroupProblem),
}

#[derive(Debug)]
struct State {
    title: Option<String>,
    health: Health,
}

/// The support group and what is known about it, shared by the handlers,
/// the health endpoint and the background checks.
#[derive(Clone, Debug)]
pub struct SupportGroup {
    id: ChatId,
    state: Arc<Mutex<State>>,
}

impl SupportGroup {
    /// A group not checked yet.
    pub fn new(id: ChatId) -> Self {
        Self { id, state: Arc::new(Mutex::new(State { title: None, health: Health::Unknown(None) })) }
    }

    /// The group's chat id (`SUPPORT_GROUP_ID`).
    pub fn id(&self) -> ChatId {
        self.id
    }

    /// The group's title, once seen.
    pub fn title(&self) -> Option<String> {
        self.lock().title.clone()
    }

    /// The current health.
    pub fn health(&self) -> Health {
        self.lock().health.clone()
    }

    /// Whether tickets can be set up now (an unknown state counts as usable:
    /// the delivery gate still holds what Telegram refuses).
    pub fn usable(&self) -> bool {
        !matches!(self.lock().health, Health::Broken(_))
    }

    /// What the operator must fix, if anything.
    pub fn problem(&self) -> Option<String> {
        match &self.lock().health {
            Health::Broken(problem) => Some(problem.explain(self.id)),
            _ => None,
        }
    }

    /// Records an assessment (and the title, when known) and says how the
    /// health changed; logs the change.
    pub fn record(&self, title: Option<String>, result: Result<(), GroupProblem>) -> Change {
        let mut state = self.lock();
        if title.is_some() {
            state.title = title;
        }
        let next = match result {
            Ok(()) => Health::Ready,
            Err(problem) => Health::Broken(problem),
        };
        let change = match (&state.health, &next) {
            (before, after) if before == after => Change::Unchanged,
            (Health::Broken(_), Health::Ready) => Change::Fixed,
            (_, Health::Ready) => Change::Ready,
            (_, Health::Broken(problem)) => Change::Broken(problem.clone()),
            (_, Health::Unknown(_)) => Change::Unchanged,
        };
        let group_id = self.id.0;
        match &change {
            Change::Unchanged => {}
            Change::Ready | Change::Fixed => tracing::info!(
                group_id,
                title = state.title.as_deref().unwrap_or(""),
                "support group ready: a forum where the bot manages topics and pins notes"
            ),
            Change::Broken(problem) => tracing::error!(
                group_id,
                problem = problem.code(),
                "support group unusable: {}; topicdesk keeps running and picks the change up as soon as it is made",
                problem.explain(self.id)
            ),
        }
        state.health = next;
        change
    }

    /// Remembers the group's title (from a check or an update).
    pub fn set_title(&self, title: Option<String>) {
        if title.is_some() {
            self.lock().title = title;
        }
    }

    /// Notes that the group could not be checked (Telegram unreachable).
    pub fn unchecked(&self, why: String) {
        let mut state = self.lock();
        if !matches!(state.health, Health::Broken(_)) {
            state.health = Health::Unknown(Some(why));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks the group with two Bot API calls made at once (`getChat` and
/// `getChatMember` of the bot: one round trip) and records the result.
pub async fn check(bot: &Bot, group: &SupportGroup, me: UserId) -> Change {
    let (chat, member) = tokio::join!(bot.get_chat(group.id()), bot.get_chat_member(group.id(), me));
    let chat = match chat {
        Ok(chat) => chat,
        Err(error) => return record_refusal(group, error),
    };
    let title = chat.title().map(str::to_owned);
    let shape = ChatShape::of_full(&chat);
    if shape != ChatShape::Forum {
        return group.record(title, assess(shape, &ChatMemberKind::Left));
    }
    match member {
        Ok(member) => group.record(title, assess(shape, &member.kind)),
        Err(error) => {
            group.set_title(title);
            record_refusal(group, error)
        }
    }
}

/// A refused check: a definite answer about the group, or not checked.
fn record_refusal(group: &SupportGroup, error: RequestError) -> Change {
    match &error {
        RequestError::Api(ApiError::ChatNotFound) => group.record(None, Err(GroupProblem::NotFound)),
        RequestError::Api(
            ApiError::BotKicked | ApiError::BotKickedFromSupergroup | ApiError::BotKickedFromChannel,
        ) => group.record(None, Err(GroupProblem::BotNotMember)),
        RequestError::Api(ApiError::Unknown(text))
            if text.contains("bot is not a member") || text.contains("bot was kicked") =>
        {
            group.record(None, Err(GroupProblem::BotNotMember))
        }
        _ => {
            tracing::warn!(group_id = group.id().0, %error, "cannot check the support group now; will try again");
            group.unchecked(error.to_string());
            Change::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use teloxide::types::{Administrator, Member};

    use super::*;

    fn admin(topics: bool, pin: bool) -> ChatMemberKind {
        ChatMemberKind::Administrator(Administrator {
            custom_title: None,
            is_anonymous: false,
            can_be_edited: false,
            can_manage_chat: true,
            can_change_info: true,
            can_post_messages: false,
            can_edit_messages: false,
            can_delete_messages: true,
            can_post_stories: false,
            can_edit_stories: false,
            can_delete_stories: false,
            can_manage_video_chats: true,
            can_invite_users: true,
            can_restrict_members: true,
            can_pin_messages: pin,
            can_manage_topics: topics,
            can_promote_members: false,
        })
    }

    #[test]
    fn each_missing_piece_is_named() {
        assert_eq!(assess(ChatShape::Forum, &admin(true, true)), Ok(()));
        assert_eq!(
            assess(ChatShape::Forum, &admin(false, false)),
            Err(GroupProblem::MissingRights(vec![Right::ManageTopics, Right::PinMessages]))
        );
        assert_eq!(
            assess(ChatShape::Forum, &admin(true, false)),
            Err(GroupProblem::MissingRights(vec![Right::PinMessages]))
        );
        let member = ChatMemberKind::Member(Member { until_date: None });
        assert_eq!(assess(ChatShape::Forum, &member), Err(GroupProblem::BotNotAdmin));
        assert_eq!(assess(ChatShape::Forum, &ChatMemberKind::Left), Err(GroupProblem::BotNotMember));
        assert_eq!(assess(ChatShape::Supergroup, &admin(true, true)), Err(GroupProblem::NotForum));
        assert_eq!(assess(ChatShape::Other, &admin(true, true)), Err(GroupProblem::NotSupergroup));
    }

    #[test]
    fn explanations_say_what_to_do() {
        let id = ChatId(-1001234);
        let line = GroupProblem::MissingRights(vec![Right::ManageTopics, Right::PinMessages]).explain(id);
        assert!(line.contains("\"Manage topics\" and \"Pin messages\""), "{line}");
        assert!(GroupProblem::NotForum.explain(id).contains("turn on Topics"));
        assert!(GroupProblem::NotFound.explain(id).contains("-1001234"));
        for problem in [GroupProblem::BotNotMember, GroupProblem::BotNotAdmin] {
            assert!(problem.explain(id).contains("administrator"), "{problem:?}");
        }
    }

    #[test]
    fn health_changes_are_reported_once() {
        let group = SupportGroup::new(ChatId(-100));
        assert!(group.usable(), "unknown counts as usable");
        assert_eq!(group.record(Some("Support".into()), Ok(())), Change::Ready);
        assert_eq!(group.record(None, Ok(())), Change::Unchanged);
        assert_eq!(group.title().as_deref(), Some("Support"));
        let broken = group.record(None, Err(GroupProblem::BotNotAdmin));
        assert_eq!(broken, Change::Broken(GroupProblem::BotNotAdmin));
        assert!(!group.usable());
        assert!(group.problem().is_some_and(|p| p.contains("only a member")));
        assert_eq!(group.record(None, Err(GroupProblem::BotNotAdmin)), Change::Unchanged);
        group.unchecked("network".into());
        assert!(!group.usable(), "an unreachable Telegram does not hide a known problem");
        assert_eq!(group.record(None, Ok(())), Change::Fixed);
        assert!(group.usable() && group.problem().is_none());
    }
}
