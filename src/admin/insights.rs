//! Insights for the team lead (DESIGN §15): `/queue`, `/agents`, `/stats`
//! (figures and a chart), `/audit` (admins) and `/export` (admins).
//!
//! Every figure comes from stored timestamps: SQL aggregates, and for
//! `/stats` one pass over the period's tickets (`insights::stats`); this
//! module only renders them in the reader's language.

use std::collections::HashMap;

use fluent_bundle::FluentValue;
use teloxide::types::Message;

use super::{admin, reply, reply_key, status_label};
use crate::{
    domain::Tier,
    i18n::{I18n, Lang},
    insights::{
        chart, export, period,
        stats::{self, StatsFigures},
    },
    routing::reason::tier_label,
    storage::{Spread, Ticket, Window},
    telegram::{HandlerError, sender_lang, topic_thread},
    tickets::{GroupFile, TicketDesk, note::category_label, note::topic_link},
};

/// How many tickets `/queue` lists (the rest are counted).
const QUEUE_SHOWN: i64 = 30;
/// How many tickets each `/audit` flag links to (the rest are counted).
const FLAGS_SHOWN: i64 = 10;
/// The longest reply, in UTF-16 units, below Telegram's 4096.
const REPLY_LIMIT: usize = 4000;
const DAY_MS: i64 = 86_400_000;
/// The largest file a bot may send (Telegram's limit: 50 MB).
const EXPORT_MAX_BYTES: u64 = 50_000_000;
/// Telegram's limit on messages per minute into one group.
const GROUP_LIMIT: u32 = crate::config::Limits::TELEGRAM.per_group.count;

pub use crate::insights::duration_label as wait_label;

/// A tier as stored (`""` = unknown), in the reader's words.
fn tier_name(i18n: &I18n, lang: Lang, stored: &str) -> String {
    match Tier::parse(stored) {
        Some(tier) => tier_label(i18n, lang, tier),
        None => i18n.t(lang, "tier-unknown"),
    }
}

/// Sends `lines` as one reply, or several when they exceed Telegram's
/// limit (cut between lines).
async fn reply_lines(desk: &TicketDesk, msg: &Message, lines: Vec<String>) -> Result<(), HandlerError> {
    let mut chunk = String::new();
    for line in lines {
        let len = |s: &str| s.encode_utf16().count();
        if !chunk.is_empty() && len(&chunk) + 1 + len(&line) > REPLY_LIMIT {
            reply(desk, msg, std::mem::take(&mut chunk)).await?;
        }
        if !chunk.is_empty() {
            chunk.push('\n');
        }
        chunk.push_str(&line);
    }
    if !chunk.is_empty() {
        reply(desk, msg, chunk).await?;
    }
    Ok(())
}

/// Whether the sender is an agent or an admin; answers others with a
/// short refusal (DESIGN §15: `/stats`, `/queue`, `/agents`).
async fn staff(desk: &TicketDesk, msg: &Message) -> Result<bool, HandlerError> {
    if desk.is_staff(msg).await? {
        return Ok(true);
    }
    let id = msg.from.as_ref().map_or(0, |u| u.id.0 as i64);
    tracing::info!(user_id = id, "insights command refused: not an agent");
    let text = desk.i18n().t_args(sender_lang(msg), "agent-only", &[("id", id.into())]);
    reply(desk, msg, text).await?;
    Ok(false)
}

/// Reads `[period]`; answers with the usage hint when it cannot.
async fn read_period(
    desk: &TicketDesk,
    msg: &Message,
    arg: &str,
    usage: &str,
) -> Result<Option<(std::time::Duration, Window)>, HandlerError> {
    match period::parse(arg) {
        Ok(p) => Ok(Some((p, period::window(p, desk.now_ms())))),
        Err(period::BadPeriod) => {
            tracing::info!(arg, "unreadable period");
            reply_key(desk, msg, usage).await?;
            Ok(None)
        }
    }
}

/// `/queue`: open tickets nobody has answered yet, by priority then age.
pub async fn queue(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    if !staff(&desk, &msg).await? {
        return Ok(());
    }
    let lang = sender_lang(&msg);
    let tickets = desk.storage().unanswered(QUEUE_SHOWN).await?;
    if tickets.is_empty() {
        return reply_key(&desk, &msg, "queue-empty").await;
    }
    let total = desk.storage().unanswered_count().await?.max(tickets.len() as i64);
    let names: HashMap<i64, String> =
        desk.storage().roster().await?.into_iter().map(|agent| (agent.id, agent.name)).collect();
    let i18n = desk.i18n();
    let now = desk.now_ms();
    let mut lines = vec![i18n.t_args(lang, "queue-title", &[("count", total.into())])];
    for ticket in &tickets {
        lines.push(queue_line(&desk, lang, ticket, &names, now));
    }
    let more = total - tickets.len() as i64;
    if more > 0 {
        lines.push(i18n.t_args(lang, "queue-more", &[("count", more.into())]));
    }
    reply_lines(&desk, &msg, lines).await
}

fn queue_line(
    desk: &TicketDesk,
    lang: Lang,
    ticket: &Ticket,
    names: &HashMap<i64, String>,
    now: i64,
) -> String {
    let i18n = desk.i18n();
    let tier = match ticket.tier {
        Some(tier) => tier_label(i18n, lang, tier),
        None => i18n.t(lang, "tier-unknown"),
    };
    let since = ticket.reopened_at_ms.unwrap_or(ticket.created_at_ms);
    let state = match ticket.assignee_id {
        None => i18n.t(lang, "queue-state-waiting"),
        Some(agent) => i18n.t_args(
            lang,
            "queue-state-assigned",
            &[("name", names.get(&agent).cloned().unwrap_or_else(|| agent.to_string()).into())],
        ),
    };
    let link = ticket.thread_id.map(|t| topic_link(desk.config().support_group.0, t)).unwrap_or_default();
    i18n.t_args(
        lang,
        "queue-line",
        &[
            ("id", ticket.id.0.into()),
            ("tier", tier.into()),
            ("category", category_label(i18n, lang, &ticket.category).into()),
            ("priority", ticket.priority.into()),
            ("wait", wait_label(now - since).into()),
            ("state", state.into()),
            ("link", link.into()),
        ],
    )
}

/// `/agents`: status, skills, load against capacity, and today's (UTC)
/// answered tickets with their first-response p50.
pub async fn roster(desk: TicketDesk, msg: Message) -> Result<(), HandlerError> {
    if !staff(&desk, &msg).await? {
        return Ok(());
    }
    let lang = sender_lang(&msg);
    let agents = desk.storage().roster().await?;
    if agents.is_empty() {
        return reply_key(&desk, &msg, "roster-empty").await;
    }
    let now = desk.now_ms();
    let today = Window { from_ms: now.div_euclid(DAY_MS) * DAY_MS, to_ms: now + 1 };
    let answered: HashMap<String, Spread> =
        desk.storage().answered_by_agent(today).await?.into_iter().map(|s| (s.key.clone(), s)).collect();
    let i18n = desk.i18n();
    let mut lines = vec![i18n.t_args(lang, "roster-title", &[("count", FluentValue::from(agents.len()))])];
    for agent in agents {
        let skills = if agent.skills.is_empty() {
            i18n.t(lang, "roster-no-skills")
        } else {
            agent.skills.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        };
        let today = match answered.get(&agent.id.to_string()) {
            Some(s) => i18n.t_args(
                lang,
                "roster-today",
                &[("count", s.count.into()), ("p50", wait_label(s.p50).into())],
            ),
            None => i18n.t(lang, "roster-today-none"),
        };
        lines.push(i18n.t_args(
            lang,
            "roster-line",
            &[
                ("name", agent.name.clone().into()),
                ("id", agent.id.into()),
                ("status", status_label(&desk, lang, agent.status).into()),
                ("load", agent.open_tickets.into()),
                ("capacity", agent.capacity.into()),
                ("skills", skills.into()),
                ("today", today.into()),
            ],
        ));
    }
    reply_lines(&desk, &msg, lines).await
}

/// "p50 2m · p90 14m (12)" for each tier, in tier order.
fn spread_lines(i18n: &I18n, lang: Lang, key: &str, spreads: &[Spread]) -> Vec<String> {
    spreads
        .iter()
        .map(|s| {
            i18n.t_args(
                lang,
                key,
                &[
                    ("tier", tier_name(i18n, lang, &s.key).into()),
                    ("p50", wait_label(s.p50).into()),
                    ("p90", wait_label(s.p90).into()),
                    ("count", s.count.into()),
                ],
            )
        })
        .collect()
}

/// An average rating with one decimal: "4.6".
fn csat_label(sum: i64, count: i64) -> String {
    if count == 0 { "–".to_owned() } else { format!("{:.1}", sum as f64 / count as f64) }
}

/// `/stats [period]`: the figures as text, and the chart as a photo.
pub async fn stats(desk: TicketDesk, msg: Message, arg: String) -> Result<(), HandlerError> {
    if !staff(&desk, &msg).await? {
        return Ok(());
    }
    let lang = sender_lang(&msg);
    let Some((span, window)) = read_period(&desk, &msg, &arg, "usage-stats").await? else { return Ok(()) };
    let label = period::label(span);
    let figures = stats::gather(desk.storage(), window).await?;
    let mut lines = stats_lines(desk.i18n(), lang, &label, window, &figures);
    if !figures.days.is_empty() {
        let labels = chart_labels(desk.i18n(), lang, &label);
        let days = figures.days;
        match tokio::task::spawn_blocking(move || chart::render_frt_chart(&days, &labels)).await {
            Ok(Ok(png)) => {
                let caption = desk.i18n().t_args(lang, "chart-caption", &[("period", label.into())]);
                let file = GroupFile::Photo { png, name: "stats.png".to_owned(), caption };
                if let Err(error) = desk.send_group_file(topic_thread(&msg), Some(msg.id), file).await {
                    tracing::warn!(%error, "cannot send the /stats chart");
                    lines.push(desk.i18n().t(lang, "stats-chart-failed"));
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot draw the /stats chart");
                lines.push(desk.i18n().t(lang, "stats-chart-failed"));
            }
            Err(error) => {
                tracing::warn!(%error, "the /stats chart task failed");
                lines.push(desk.i18n().t(lang, "stats-chart-failed"));
            }
        }
    }
    reply_lines(&desk, &msg, lines).await
}

/// The chart's words in the reader's language.
pub fn chart_labels(i18n: &I18n, lang: Lang, period: &str) -> chart::ChartLabels {
    chart::ChartLabels {
        title: i18n.t_args(lang, "chart-title", &[("period", period.into())]),
        tiers: [
            i18n.t(lang, "tier-premium"),
            i18n.t(lang, "tier-standard"),
            i18n.t(lang, "tier-basic"),
            i18n.t(lang, "tier-unknown"),
        ],
        minutes_axis: i18n.t(lang, "chart-minutes-axis"),
        tickets_axis: i18n.t(lang, "chart-tickets-axis"),
    }
}

/// `/stats`' text, line by line.
pub fn stats_lines(
    i18n: &I18n,
    lang: Lang,
    period: &str,
    window: Window,
    figures: &StatsFigures,
) -> Vec<String> {
    let mut lines = vec![i18n.t_args(
        lang,
        "stats-title",
        &[
            ("period", period.into()),
            ("from", export::iso_utc(window.from_ms).into()),
            ("to", export::iso_utc(window.to_ms).into()),
        ],
    )];
    if figures.is_empty() {
        lines.push(i18n.t(lang, "stats-no-tickets"));
        return lines;
    }
    lines.push(i18n.t(lang, "stats-tickets-title"));
    for t in &figures.tiers {
        lines.push(i18n.t_args(
            lang,
            "stats-tickets-line",
            &[
                ("tier", tier_name(i18n, lang, &t.tier).into()),
                ("opened", t.opened.into()),
                ("closed", t.closed.into()),
            ],
        ));
    }
    lines.push(i18n.t(lang, "stats-frt-title"));
    if figures.first_response.is_empty() {
        lines.push(i18n.t(lang, "stats-frt-none"));
    }
    lines.extend(spread_lines(i18n, lang, "stats-frt-line", &figures.first_response));
    lines.push(i18n.t(lang, "stats-resolution-title"));
    if figures.resolution.is_empty() {
        lines.push(i18n.t(lang, "stats-resolution-none"));
    }
    lines.extend(spread_lines(i18n, lang, "stats-resolution-line", &figures.resolution));
    let counters = &figures.counters;
    lines.push(i18n.t_args(
        lang,
        "stats-counters",
        &[
            ("overrides", counters.premium_overrides.into()),
            ("reassignments", counters.reassignments.into()),
            ("fallbacks", counters.crm_fallbacks.into()),
        ],
    ));
    lines.push(i18n.t_args(
        lang,
        "stats-csat",
        &[
            ("average", csat_label(figures.csat_sum, figures.csat_count).into()),
            ("count", figures.csat_count.into()),
        ],
    ));
    if !figures.agents.is_empty() {
        lines.push(i18n.t(lang, "stats-agents-title"));
        for agent in &figures.agents {
            let p50 = agent.first_response_p50.map_or_else(|| "–".to_owned(), wait_label);
            lines.push(i18n.t_args(
                lang,
                "stats-agent-line",
                &[
                    ("name", agent.name.clone().into()),
                    ("tickets", agent.tickets.into()),
                    ("p50", p50.into()),
                    ("csat", csat_label(agent.csat_sum, agent.csat_count).into()),
                    ("ratings", agent.csat_count.into()),
                ],
            ));
        }
    }
    let budget = &figures.budget;
    lines.push(i18n.t_args(
        lang,
        "stats-budget",
        &[
            ("p50", budget.p50.into()),
            ("peak", budget.peak.into()),
            ("limit", GROUP_LIMIT.into()),
            ("wait", wait_label(budget.longest_wait_ms).into()),
        ],
    ));
    if budget.peak >= i64::from(GROUP_LIMIT) {
        lines.push(i18n.t(lang, "stats-budget-full"));
    }
    lines
}

/// `/audit [period]` (admins): the CRM's health and data-quality flags.
pub async fn audit(desk: TicketDesk, msg: Message, arg: String) -> Result<(), HandlerError> {
    if admin(&desk, &msg).await?.is_none() {
        return Ok(());
    }
    let lang = sender_lang(&msg);
    let Some((span, window)) = read_period(&desk, &msg, &arg, "usage-audit").await? else { return Ok(()) };
    let storage = desk.storage();
    let i18n = desk.i18n();
    let mut lines = vec![i18n.t_args(lang, "audit-title", &[("period", period::label(span).into())])];
    if desk.config().routing_webhook_url.is_none() {
        lines.push(i18n.t(lang, "audit-no-crm"));
    }
    let health = storage.crm_health(window).await?;
    let count = |outcome: &str| health.outcomes.iter().find(|(o, _)| o == outcome).map_or(0, |(_, n)| *n);
    if health.outcomes.is_empty() {
        lines.push(i18n.t(lang, "audit-no-calls"));
    } else {
        lines.push(
            i18n.t_args(
                lang,
                "audit-calls",
                &[
                    ("calls", health.calls.into()),
                    // Any HTTP answer within the deadline, usable or not.
                    (
                        "answered",
                        (count("ok") + count("invalid_fields") + count("invalid_body") + count("http_error"))
                            .into(),
                    ),
                    ("timeouts", count("timeout").into()),
                    ("http", count("http_error").into()),
                    ("invalid", count("invalid_body").into()),
                    ("other", (count("connection") + count("other")).into()),
                ],
            ),
        );
        if let Some(latency) = &health.latency {
            lines.push(i18n.t_args(
                lang,
                "audit-latency",
                &[("p50", wait_label(latency.p50).into()), ("p99", wait_label(latency.p99).into())],
            ));
        }
        lines.push(i18n.t_args(
            lang,
            "audit-fallbacks",
            &[
                (
                    "fallbacks",
                    health.outcomes.iter().filter(|(o, _)| o != "ok").map(|(_, n)| n).sum::<i64>().into(),
                ),
                ("refused", count("circuit_open").into()),
                ("openings", health.breaker_openings.into()),
            ],
        ));
        if !health.invalid_fields.is_empty() {
            let fields: Vec<String> =
                health.invalid_fields.iter().map(|(name, n)| format!("{name} ×{n}")).collect();
            lines.push(i18n.t_args(lang, "audit-invalid-fields", &[("fields", fields.join(", ").into())]));
        }
    }
    let group = desk.config().support_group.0;
    let flags = [
        ("audit-flag-tier-changed", storage.tier_changes(window, FLAGS_SHOWN).await?),
        ("audit-flag-unknown-agent", storage.unknown_preferred_agents(window, FLAGS_SHOWN).await?),
        ("audit-flag-out-of-range", storage.out_of_range(window, FLAGS_SHOWN).await?),
    ];
    if flags.iter().all(|(_, (n, _))| *n == 0) {
        lines.push(i18n.t(lang, "audit-flags-none"));
    }
    for (key, (total, flagged)) in flags {
        if total == 0 {
            continue;
        }
        lines.push(i18n.t_args(lang, key, &[("count", total.into())]));
        for flag in &flagged {
            let link = flag
                .thread_id
                .and_then(|t| i32::try_from(t).ok())
                .map(|t| topic_link(group, t))
                .unwrap_or_default();
            lines.push(format!("• #{} · {} {link}", flag.ticket_id, flag.detail).trim_end().to_owned());
        }
        let more = total - flagged.len() as i64;
        if more > 0 {
            lines.push(i18n.t_args(lang, "queue-more", &[("count", more.into())]));
        }
    }
    reply_lines(&desk, &msg, lines).await
}

/// `/export [period]` (admins): the period's tickets as a CSV document.
/// Rows are streamed from the database into a temporary file, never all
/// held in memory.
pub async fn export(desk: TicketDesk, msg: Message, arg: String) -> Result<(), HandlerError> {
    if admin(&desk, &msg).await?.is_none() {
        return Ok(());
    }
    let lang = sender_lang(&msg);
    let Some((span, window)) = read_period(&desk, &msg, &arg, "usage-export").await? else { return Ok(()) };
    let i18n = desk.i18n();
    let file = match tempfile::NamedTempFile::new() {
        Ok(file) => file,
        Err(error) => {
            tracing::error!(%error, "cannot create a temporary file for /export");
            return reply_key(&desk, &msg, "export-failed").await;
        }
    };
    let out = match file.reopen() {
        Ok(out) => out,
        Err(error) => {
            tracing::error!(%error, "cannot open the temporary file for /export");
            return reply_key(&desk, &msg, "export-failed").await;
        }
    };
    let written = match export::write(desk.storage(), window, out).await {
        Ok(written) => written,
        Err(export::ExportError::Storage(error)) => return Err(error.into()),
        Err(error @ export::ExportError::Write(_)) => {
            tracing::error!(%error, "cannot write the /export file");
            return reply_key(&desk, &msg, "export-failed").await;
        }
    };
    let label = period::label(span);
    if written == 0 {
        return reply(&desk, &msg, i18n.t_args(lang, "export-empty", &[("period", label.into())])).await;
    }
    let size = std::fs::metadata(file.path()).map(|m| m.len()).unwrap_or(0);
    if size > EXPORT_MAX_BYTES {
        tracing::info!(rows = written, size, "export larger than Telegram accepts");
        let text = i18n.t_args(
            lang,
            "export-too-big",
            &[("count", written.into()), ("megabytes", (size / 1_000_000).into())],
        );
        return reply(&desk, &msg, text).await;
    }
    let caption = i18n.t_args(lang, "export-caption", &[("count", written.into()), ("period", label.into())]);
    let document =
        GroupFile::Document { path: file.path().to_path_buf(), name: export::file_name(window), caption };
    if let Err(error) = desk.send_group_file(topic_thread(&msg), Some(msg.id), document).await {
        tracing::warn!(%error, rows = written, "cannot send the /export file");
        return reply_key(&desk, &msg, "export-failed").await;
    }
    tracing::info!(rows = written, "export sent");
    // The temporary file is removed when `file` is dropped here.
    drop(file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{csat_label, wait_label};

    #[test]
    fn durations_read_naturally() {
        assert_eq!(wait_label(12_000), "12s");
        assert_eq!(wait_label(1_500), "1.5s");
        assert_eq!(wait_label(1_001), "1s");
        assert_eq!(wait_label(9_960), "10s");
        assert_eq!(wait_label(120), "120ms");
        assert_eq!(wait_label(0), "0s");
        assert_eq!(wait_label(59_600), "1m");
        assert_eq!(wait_label(4 * 60_000 + 5_000), "4m");
        assert_eq!(wait_label(119_000), "2m", "rounded, not cut");
        assert_eq!(wait_label(125 * 60_000), "2h 5m");
        assert_eq!(wait_label(120 * 60_000), "2h");
        assert_eq!(wait_label(86_399_000), "1d");
        assert_eq!(wait_label(2 * 86_400_000 - 60_000), "2d");
        assert_eq!(wait_label(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(wait_label(-5), "0s");
    }

    #[test]
    fn ratings_average_to_one_decimal() {
        assert_eq!(csat_label(23, 5), "4.6");
        assert_eq!(csat_label(0, 0), "–");
    }
}
