//! Admin and agent commands in the support group (DESIGN §8): the roster
//! (`/agent_add`, `/agent_remove`, `/skill_add`, `/skill_remove`, `/agents`),
//! the insights (`/queue`, `/agents`, `/stats`, `/audit`, `/export`, in
//! [`insights`]), self-service status (`/available`, `/away`,
//! `/offline`) and ticket hand-offs (`/take`, `/reassign`).
//!
//! Every command answers where it was given. Admin commands from anyone not
//! in `ADMIN_IDS` are refused and change nothing. Roster changes are written
//! to the audit log with who made them.

pub mod args;
pub mod insights;

use fluent_bundle::FluentValue;
use teloxide::{
    dispatching::UpdateHandler,
    prelude::*,
    types::{Message, MessageEntityKind, User},
};

use crate::{
    domain::TicketStatus,
    i18n::Lang,
    routing::AgentStatus,
    storage::{AgentUpsert, Audit},
    telegram::{HandlerError, chosen_reply, commands::GroupCommand, sender_lang, topic_thread},
    tickets::TicketDesk,
};

/// The admin/agent part of the support group's command tree.
pub fn branch() -> UpdateHandler<HandlerError> {
    use dptree::case;
    dptree::entry()
        .branch(case![GroupCommand::AgentAdd(args)].endpoint(agent_add))
        .branch(case![GroupCommand::AgentRemove(args)].endpoint(agent_remove))
        .branch(case![GroupCommand::SkillAdd(args)].endpoint(skill_add))
        .branch(case![GroupCommand::SkillRemove(args)].endpoint(skill_remove))
        .branch(case![GroupCommand::Agents].endpoint(insights::roster))
        .branch(case![GroupCommand::Queue].endpoint(insights::queue))
        .branch(case![GroupCommand::Stats(arg)].endpoint(insights::stats))
        .branch(case![GroupCommand::Audit(arg)].endpoint(insights::audit))
        .branch(case![GroupCommand::Export(arg)].endpoint(insights::export))
        .branch(case![GroupCommand::Available].endpoint(|d, m| set_status(d, m, AgentStatus::Available)))
        .branch(case![GroupCommand::Away].endpoint(|d, m| set_status(d, m, AgentStatus::Away)))
        .branch(case![GroupCommand::Offline].endpoint(|d, m| set_status(d, m, AgentStatus::Offline)))
        .branch(case![GroupCommand::Take].endpoint(take))
        .branch(case![GroupCommand::Reassign(args)].endpoint(reassign))
}

async fn reply(desk: &TicketDesk, msg: &Message, text: String) -> Result<(), HandlerError> {
    desk.tell_topic(topic_thread(msg), Some(msg.id), text).await?;
    Ok(())
}

async fn reply_key(desk: &TicketDesk, msg: &Message, key: &str) -> Result<(), HandlerError> {
    reply(desk, msg, desk.i18n().t(sender_lang(msg), key)).await
}

/// The sender, if they are an admin; otherwise answers with a refusal.
async fn admin<'a>(desk: &TicketDesk, msg: &'a Message) -> Result<Option<&'a User>, HandlerError> {
    match msg.from.as_ref() {
        Some(user) if desk.config().is_admin(user.id) => Ok(Some(user)),
        other => {
            tracing::info!(user_id = ?other.map(|u| u.id.0), "admin command refused");
            reply_key(desk, msg, "admin-only").await?;
            Ok(None)
        }
    }
}

fn replied_user(msg: &Message) -> Option<i64> {
    chosen_reply(msg)?.from.as_ref().filter(|u| !u.is_bot).map(|u| u.id.0 as i64)
}

/// The command's arguments with each person named by a mention written as
/// their numeric id: a mention picked from Telegram's list (a text mention,
/// which carries the user) or an `@username` an agent was last seen with.
/// `None` when an `@username` is unknown (the admin is told how to name the
/// person instead).
async fn with_ids(desk: &TicketDesk, msg: &Message, args: &str) -> Result<Option<String>, HandlerError> {
    let mut out = args.to_owned();
    for entity in msg.parse_entities().unwrap_or_default() {
        if let MessageEntityKind::TextMention { user } = entity.kind() {
            out = out.replacen(entity.text(), &user.id.0.to_string(), 1);
        }
    }
    let words: Vec<String> =
        out.split_whitespace().filter(|w| w.len() > 1 && w.starts_with('@')).map(str::to_owned).collect();
    for word in words {
        match desk.storage().agent_by_username(&word[1..]).await? {
            Some(id) => out = out.replacen(&word, &id.to_string(), 1),
            None => {
                let text =
                    desk.i18n().t_args(sender_lang(msg), "username-unknown", &[("username", word.into())]);
                reply(desk, msg, text).await?;
                return Ok(None);
            }
        }
    }
    Ok(Some(out))
}

fn replied_name(msg: &Message, user: i64) -> Option<String> {
    let from = chosen_reply(msg)?.from.as_ref()?;
    (from.id.0 as i64 == user).then(|| from.full_name())
}

/// The audit row of a roster change made by `actor` for this update.
fn audit<'a>(desk: &TicketDesk, actor: i64, action: &'a str, details: String) -> Audit<'a> {
    Audit {
        update_id: crate::delivery::current_update(),
        actor_id: actor,
        action,
        details,
        at_ms: desk.now_ms(),
    }
}

/// A roster command replayed after a crash that came after its change (and
/// its audit row, written together) but before its inbox mark: the change
/// is made, so it is not made again; the sender is told it is done.
async fn already_done(desk: &TicketDesk, msg: &Message) -> Result<bool, HandlerError> {
    let Some(update) = crate::delivery::current_update() else { return Ok(false) };
    if !desk.storage().audited_update(update).await? {
        return Ok(false);
    }
    tracing::info!(update_id = update, "roster command already carried out before a restart");
    reply_key(desk, msg, "command-already-done").await?;
    drain(desk).await;
    Ok(true)
}

/// Hands waiting tickets to agents after a change that may free capacity.
async fn drain(desk: &TicketDesk) {
    if let Err(error) = desk.drain_queue().await {
        tracing::warn!(%error, "could not assign waiting tickets");
    }
}

async fn agent_add(desk: TicketDesk, msg: Message, args: String) -> Result<(), HandlerError> {
    let Some(by) = admin(&desk, &msg).await? else { return Ok(()) };
    let Some(args) = with_ids(&desk, &msg, &args).await? else { return Ok(()) };
    let Ok((user, capacity)) = args::agent_add(&args, replied_user(&msg)) else {
        return reply_key(&desk, &msg, "usage-agent-add").await;
    };
    if already_done(&desk, &msg).await? {
        return Ok(());
    }
    let storage = desk.storage();
    let existing = storage.agent(user).await?;
    let name =
        replied_name(&msg, user).or_else(|| existing.as_ref().map(|a| a.name.clone())).unwrap_or_else(|| {
            desk.i18n().t_args(sender_lang(&msg), "agent-default-name", &[("id", user.into())])
        });
    let audit = audit(&desk, by.id.0 as i64, "agent_add", format!("capacity={capacity}"));
    let outcome = storage.upsert_agent(user, &name, capacity, desk.now_ms(), Some(&audit)).await?;
    // Added by replying to their message: their @username is known now.
    if let Some(from) = chosen_reply(&msg).and_then(|m| m.from.as_ref()).filter(|u| u.id.0 as i64 == user) {
        desk.learn_agent_name(from).await?;
    }
    tracing::info!(admin_id = by.id.0, agent_id = user, capacity, ?outcome, "agent added or updated");
    let key = match outcome {
        AgentUpsert::Added => "agent-added",
        AgentUpsert::Updated => "agent-updated",
    };
    let mut text = desk.i18n().t_args(
        sender_lang(&msg),
        key,
        &[("name", name.clone().into()), ("id", user.into()), ("capacity", capacity.into())],
    );
    // Lowering a capacity below the current load takes nothing away, but
    // the admin should know why the agent gets no new tickets for a while.
    if let Some(load) = existing.map(|a| a.open_tickets).filter(|load| *load > capacity) {
        text.push('\n');
        text.push_str(&desk.i18n().t_args(
            sender_lang(&msg),
            "agent-capacity-below-load",
            &[("name", name.into()), ("load", load.into()), ("capacity", capacity.into())],
        ));
    }
    reply(&desk, &msg, text).await?;
    drain(&desk).await;
    Ok(())
}

async fn agent_remove(desk: TicketDesk, msg: Message, args: String) -> Result<(), HandlerError> {
    let Some(by) = admin(&desk, &msg).await? else { return Ok(()) };
    let Some(args) = with_ids(&desk, &msg, &args).await? else { return Ok(()) };
    let Ok(user) = args::single_user(&args, replied_user(&msg)) else {
        return reply_key(&desk, &msg, "usage-agent-remove").await;
    };
    if already_done(&desk, &msg).await? {
        return Ok(());
    }
    let audit = audit(&desk, by.id.0 as i64, "agent_remove", String::new());
    let name = desk.storage().agent(user).await?.map(|a| a.name);
    let Some(released) = desk.storage().remove_agent(user, Some(&audit)).await? else {
        let text = desk.i18n().t_args(sender_lang(&msg), "agent-not-found", &[("id", user.into())]);
        return reply(&desk, &msg, text).await;
    };
    tracing::info!(admin_id = by.id.0, agent_id = user, released = released.len(), "agent removed");
    let name = name.unwrap_or_else(|| user.to_string());
    let text = desk.i18n().t_args(
        sender_lang(&msg),
        "agent-removed",
        &[("name", name.into()), ("id", user.into()), ("count", FluentValue::from(released.len()))],
    );
    reply(&desk, &msg, text).await?;
    drain(&desk).await;
    Ok(())
}

async fn skill_add(desk: TicketDesk, msg: Message, args: String) -> Result<(), HandlerError> {
    let Some(by) = admin(&desk, &msg).await? else { return Ok(()) };
    let Some(args) = with_ids(&desk, &msg, &args).await? else { return Ok(()) };
    let Ok((user, skill, force)) = args::skill_add(&args) else {
        return reply_key(&desk, &msg, "usage-skill-add").await;
    };
    let needed = needed_skills(&desk);
    if !force && !needed.iter().any(|n| n == skill.name.as_str()) {
        let text = desk.i18n().t_args(
            sender_lang(&msg),
            "skill-not-required",
            &[("id", user.into()), ("skill", skill.to_string().into()), ("needed", needed.join(", ").into())],
        );
        return reply(&desk, &msg, text).await;
    }
    if already_done(&desk, &msg).await? {
        return Ok(());
    }
    let audit = audit(&desk, by.id.0 as i64, "skill_add", skill.to_string());
    if !desk.storage().set_agent_skill(user, &skill, Some(&audit)).await? {
        let text = desk.i18n().t_args(sender_lang(&msg), "agent-not-found", &[("id", user.into())]);
        return reply(&desk, &msg, text).await;
    }
    let name = desk.storage().agent(user).await?.map(|a| a.name).unwrap_or_default();
    let text = desk.i18n().t_args(
        sender_lang(&msg),
        "skill-added",
        &[("name", name.into()), ("id", user.into()), ("skill", skill.to_string().into())],
    );
    reply(&desk, &msg, text).await?;
    drain(&desk).await;
    Ok(())
}

/// The skills routing can ask for: each category's, and the generalist pool.
fn needed_skills(desk: &TicketDesk) -> Vec<String> {
    let mut needed: Vec<String> =
        desk.config().categories.iter().map(|c| c.skill().as_str().to_owned()).collect();
    needed.push(crate::domain::GENERAL_SKILL.to_owned());
    needed.sort();
    needed.dedup();
    needed
}

async fn skill_remove(desk: TicketDesk, msg: Message, args: String) -> Result<(), HandlerError> {
    let Some(by) = admin(&desk, &msg).await? else { return Ok(()) };
    let Some(args) = with_ids(&desk, &msg, &args).await? else { return Ok(()) };
    let Ok((user, skill)) = args::skill_remove(&args) else {
        return reply_key(&desk, &msg, "usage-skill-remove").await;
    };
    let Some(agent) = desk.storage().agent(user).await? else {
        let text = desk.i18n().t_args(sender_lang(&msg), "agent-not-found", &[("id", user.into())]);
        return reply(&desk, &msg, text).await;
    };
    if already_done(&desk, &msg).await? {
        return Ok(());
    }
    let args = [("name", agent.name.into()), ("id", user.into()), ("skill", skill.to_string().into())];
    let audit = audit(&desk, by.id.0 as i64, "skill_remove", skill.as_str().to_owned());
    if !desk.storage().remove_agent_skill(user, &skill, Some(&audit)).await? {
        return reply(&desk, &msg, desk.i18n().t_args(sender_lang(&msg), "skill-not-held", &args)).await;
    }
    reply(&desk, &msg, desk.i18n().t_args(sender_lang(&msg), "skill-removed", &args)).await
}

fn status_label(desk: &TicketDesk, lang: Lang, status: AgentStatus) -> String {
    desk.i18n().t(lang, &format!("status-{}", status.as_str()))
}

async fn set_status(desk: TicketDesk, msg: Message, status: AgentStatus) -> Result<(), HandlerError> {
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    let id = user.id.0 as i64;
    if already_done(&desk, &msg).await? {
        return Ok(());
    }
    let audit = audit(&desk, id, "status", status.as_str().to_owned());
    let name = user.full_name();
    if !desk.storage().set_agent_status(id, status, desk.now_ms(), Some(&name), Some(&audit)).await? {
        let text = desk.i18n().t_args(sender_lang(&msg), "agent-only", &[("id", id.into())]);
        return reply(&desk, &msg, text).await;
    }
    tracing::info!(agent_id = id, status = status.as_str(), "agent status changed");
    // Unanswered customers do not wait for an agent who has left; an away
    // agent keeps theirs unless the operator chose otherwise.
    let gives_back = match status {
        AgentStatus::Available => false,
        AgentStatus::Offline => true,
        AgentStatus::Away => desk.config().away_gives_back_tickets,
    };
    let key = match status {
        AgentStatus::Away if gives_back => "status-set-away-gives-back".to_owned(),
        other => format!("status-set-{}", other.as_str()),
    };
    let text = desk.i18n().t_args(sender_lang(&msg), &key, &[("name", user.full_name().into())]);
    reply(&desk, &msg, text).await?;
    if gives_back {
        desk.give_back_unanswered(id, &name, status).await?;
    } else if status == AgentStatus::Available {
        drain(&desk).await;
    }
    Ok(())
}

async fn take(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    let lang = sender_lang(&msg);
    let i18n = desk.i18n();
    let Some(ticket) = ticket_of_topic(&desk, &msg).await? else { return Ok(()) };
    let id = user.id.0 as i64;
    let Some(agent) = desk.storage().agent(id).await? else {
        return reply(&desk, &msg, i18n.t_args(lang, "agent-only", &[("id", id.into())])).await;
    };
    let ticket_arg = ("id", ticket.id.0.into());
    if ticket.status != TicketStatus::Open {
        return reply(&desk, &msg, i18n.t_args(lang, "ticket-not-open", &[ticket_arg])).await;
    }
    let update = crate::delivery::current_update();
    match ticket.assignee_id {
        Some(current) if current == id => {
            if desk.storage().ticket_changed_by(ticket.id, update).await? {
                // This very update took it before a crash: finish its work.
                desk.republish(ticket.id).await?;
                return Ok(());
            }
            return reply(&desk, &msg, i18n.t_args(lang, "take-already-yours", &[ticket_arg])).await;
        }
        Some(current) => {
            let name =
                desk.storage().agent(current).await?.map(|a| a.name).unwrap_or_else(|| current.to_string());
            return reply(
                &desk,
                &msg,
                i18n.t_args(lang, "take-assigned-to-other", &[ticket_arg, ("name", name.into())]),
            )
            .await;
        }
        None => {}
    }
    let reason = i18n.t_args(desk.group_lang(), "reason-taken", &[("agent", agent.name.clone().into())]);
    if !desk.routing().claim(&ticket, id, crate::domain::Rule::Taken, &reason, update).await? {
        let text = i18n.t_args(lang, "take-at-capacity", &[("capacity", agent.capacity.into())]);
        return reply(&desk, &msg, text).await;
    }
    tracing::info!(ticket_id = ticket.id.0, agent_id = id, "ticket taken");
    desk.republish(ticket.id).await?;
    Ok(())
}

async fn reassign(desk: TicketDesk, msg: Message, args: String) -> Result<(), HandlerError> {
    let Some(by) = admin(&desk, &msg).await? else { return Ok(()) };
    let lang = sender_lang(&msg);
    let i18n = desk.i18n();
    let Some(ticket) = ticket_of_topic(&desk, &msg).await? else { return Ok(()) };
    let Some(args) = with_ids(&desk, &msg, &args).await? else { return Ok(()) };
    let Ok(target) = args::single_user(&args, replied_user(&msg)) else {
        return reply_key(&desk, &msg, "usage-reassign").await;
    };
    let Some(agent) = desk.storage().agent(target).await? else {
        return reply(&desk, &msg, i18n.t_args(lang, "agent-not-found", &[("id", target.into())])).await;
    };
    if ticket.status != TicketStatus::Open {
        return reply(&desk, &msg, i18n.t_args(lang, "ticket-not-open", &[("id", ticket.id.0.into())])).await;
    }
    let update = crate::delivery::current_update();
    if ticket.assignee_id == Some(target) {
        if desk.storage().ticket_changed_by(ticket.id, update).await? {
            // This very update handed it over before a crash: finish its work.
            desk.republish(ticket.id).await?;
            drain(&desk).await;
            return Ok(());
        }
        let text =
            i18n.t_args(lang, "reassign-done", &[("id", ticket.id.0.into()), ("name", agent.name.into())]);
        return reply(&desk, &msg, text).await;
    }
    let reason = i18n.t_args(
        desk.group_lang(),
        "reason-reassigned",
        &[("admin", by.full_name().into()), ("agent", agent.name.clone().into())],
    );
    if !desk.routing().claim(&ticket, target, crate::domain::Rule::Reassigned, &reason, update).await? {
        return reply(&desk, &msg, i18n.t_args(lang, "reassign-at-capacity", &[("name", agent.name.into())]))
            .await;
    }
    // Not written again by a replay: the replay finds the hand-off made above.
    desk.storage()
        .audit(by.id.0 as i64, "reassign", Some(target), &format!("ticket={}", ticket.id.0), desk.now_ms())
        .await?;
    tracing::info!(ticket_id = ticket.id.0, agent_id = target, admin_id = by.id.0, "ticket reassigned");
    desk.republish(ticket.id).await?;
    if ticket.assignee_id.is_some() {
        drain(&desk).await;
    }
    Ok(())
}

/// The ticket of the topic the command was given in; answers otherwise.
async fn ticket_of_topic(
    desk: &TicketDesk,
    msg: &Message,
) -> Result<Option<crate::storage::Ticket>, HandlerError> {
    let thread = topic_thread(msg);
    let ticket = match thread {
        Some(t) => desk.storage().ticket_by_thread(t).await?,
        None => None,
    };
    if ticket.is_none() {
        let key = if thread.is_some() { "topic-not-a-ticket" } else { "command-needs-ticket-topic" };
        reply_key(desk, msg, key).await?;
    }
    Ok(ticket)
}
