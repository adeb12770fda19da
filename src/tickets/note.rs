//! The internal note pinned at the top of each ticket topic, and the topic's
//! name: pure functions over plain data (DESIGN §7).

use teloxide::utils::html::escape;

use crate::{
    domain::Tier,
    i18n::{I18n, Lang},
    routing::{Enrichment, reason::tier_label, service::enrichment_from_record},
    storage::Ticket,
};

/// Telegram counts message length in UTF-16 code units; the note leaves
/// room for its labels within the 4096 limit.
const DESCRIPTION_BUDGET_UTF16: usize = 2600;
/// Topic names are limited to 128 characters.
const TOPIC_NAME_MAX: usize = 128;
/// A customer name never takes more than this much of a topic name.
const TOPIC_CUSTOMER_MAX: usize = 40;

/// The start of a customer's text, to quote back to them (one line).
pub fn preview(text: &str) -> String {
    truncate_chars(&text.split_whitespace().collect::<Vec<_>>().join(" "), 200)
}

/// Whether the note shows only the start of the description: the full text
/// then follows the note in the topic (nothing a customer wrote is cut).
pub fn description_is_shortened(ticket: &Ticket) -> bool {
    ticket.description.trim().encode_utf16().count() > DESCRIPTION_BUDGET_UTF16
}

/// Splits `text` into pieces of at most `limit` UTF-16 code units (Telegram's
/// message length), preferring to cut after a line break or a space.
pub fn split_utf16(text: &str, limit: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.encode_utf16().count() > limit {
        let mut used = 0;
        let mut cut = 0;
        let mut soft_cut = None;
        for (index, c) in rest.char_indices() {
            if used + c.len_utf16() > limit {
                break;
            }
            used += c.len_utf16();
            cut = index + c.len_utf8();
            if c == '\n' || c == ' ' {
                soft_cut = Some(cut);
            }
        }
        // A soft cut only if it keeps most of the piece.
        let at = soft_cut.filter(|soft| *soft * 4 >= cut * 3).unwrap_or(cut).max(1);
        let at = if rest.is_char_boundary(at) { at } else { cut };
        pieces.push(rest[..at].to_owned());
        rest = &rest[at..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// Cuts `text` to at most `budget` UTF-16 code units, marking the cut with `…`.
pub fn truncate_utf16(text: &str, budget: usize) -> String {
    if text.encode_utf16().count() <= budget {
        return text.to_owned();
    }
    let mut used = 0;
    let mut out = String::new();
    for c in text.chars() {
        // Keep one unit for the ellipsis.
        if used + c.len_utf16() > budget.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The localised label of a category: `category-<name>` from the locales, or
/// the configured name itself for categories added without a translation.
pub fn category_label(i18n: &I18n, lang: Lang, category: &str) -> String {
    let key = format!("category-{category}");
    if i18n.has(lang, &key) || i18n.has(Lang::En, &key) {
        i18n.t(lang, &key)
    } else {
        let mut chars = category.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect::<String>().replace('_', " "),
            None => String::new(),
        }
    }
}

/// The topic name: `#42 · Premium · Billing and payments · Bob`, without the
/// tier while it is unknown (at most 128 characters).
pub fn topic_name(i18n: &I18n, lang: Lang, ticket: &Ticket) -> String {
    let customer = truncate_chars(ticket.customer_name.trim(), TOPIC_CUSTOMER_MAX);
    let id = ("id", ticket.id.0.into());
    let category = ("category", category_label(i18n, lang, &ticket.category).into());
    let name = match ticket.tier {
        Some(tier) => i18n.t_args(
            lang,
            "topic-name-tier",
            &[id, ("tier", tier_label(i18n, lang, tier).into()), category, ("customer", customer.into())],
        ),
        None => i18n.t_args(lang, "topic-name", &[id, category, ("customer", customer.into())]),
    };
    truncate_chars(&name, TOPIC_NAME_MAX)
}

/// The topic icon colour for a tier (Telegram allows six colours).
pub fn topic_color(tier: Option<Tier>) -> u32 {
    match tier {
        Some(Tier::Premium) => 0xFFD67E,
        Some(Tier::Standard) => 0x6FB9F0,
        Some(Tier::Basic) => 0x8EEE98,
        None => 0xCB86DB,
    }
}

/// The internal note, as Telegram HTML. Every value from a user or the CRM
/// is escaped. `assignee` is the assigned agent's name, when there is one.
/// A customer's earlier tickets: how many, and the last few (newest first).
#[derive(Clone, Debug, Default)]
pub struct History {
    pub count: i64,
    pub recent: Vec<crate::storage::PastTicket>,
    /// The support group, for links to the earlier topics.
    pub group: i64,
}

/// `https://t.me/c/<id>/<thread>`: a link to a topic of a private
/// supergroup (its id without the `-100`).
pub fn topic_link(group: i64, thread: i32) -> String {
    let internal = group.unsigned_abs().saturating_sub(1_000_000_000_000);
    format!("https://t.me/c/{internal}/{thread}")
}

fn history_line(i18n: &I18n, lang: Lang, history: &History) -> String {
    if history.count == 0 {
        return escape(&i18n.t(lang, "note-history-first"));
    }
    let mut parts =
        vec![escape(&i18n.t_args(lang, "note-history-count", &[("count", history.count.into())]))];
    for past in &history.recent {
        let number = match past.thread_id {
            Some(thread) => format!("<a href=\"{}\">#{}</a>", topic_link(history.group, thread), past.id),
            None => format!("#{}", past.id),
        };
        let date = chrono::DateTime::from_timestamp_millis(past.created_at_ms)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let mut item = format!("{number} {date} · {}", escape(&category_label(i18n, lang, &past.category)));
        if let Some(csat) = past.csat {
            item.push_str(&format!(" · ⭐{csat}"));
        }
        parts.push(item);
    }
    parts.join("; ")
}

pub fn render_note(
    i18n: &I18n,
    lang: Lang,
    ticket: &Ticket,
    assignee: Option<&str>,
    history: &History,
) -> String {
    let label = |key: &str| escape(&i18n.t(lang, key));
    let mut customer =
        format!("<a href=\"tg://user?id={}\">{}</a>", ticket.customer_id, escape(&ticket.customer_name));
    if let Some(username) = &ticket.customer_username {
        customer.push_str(&format!(" @{}", escape(username)));
    }
    customer.push_str(&format!(" · id <code>{}</code> · {}", ticket.customer_id, escape(&ticket.language)));

    let tier = match enrichment_from_record(ticket.enrichment.as_deref()) {
        Enrichment::Profile(profile) => {
            let mut parts = vec![match ticket.tier {
                Some(tier) => escape(&tier_label(i18n, lang, tier)),
                None if profile.invalid.iter().any(|f| f.starts_with("tier ")) => {
                    label("note-tier-crm-invalid")
                }
                None => label("note-tier-not-given"),
            }];
            if let Some(orders) = profile.order_count {
                parts.push(escape(&i18n.t_args(lang, "note-orders", &[("count", orders.into())])));
            }
            if let Some(recent) = profile.recent_ticket_count {
                parts.push(escape(&i18n.t_args(lang, "note-recent-tickets", &[("count", recent.into())])));
            }
            if let Some(value) = profile.lifetime_value {
                parts.push(escape(&i18n.t_args(
                    lang,
                    "note-lifetime-value",
                    &[("value", format!("{value:.2}").into())],
                )));
            }
            parts.join(" · ")
        }
        Enrichment::Unavailable(why) => {
            escape(&i18n.t_args(lang, "note-tier-crm-unavailable", &[("why", why.into())]))
        }
        Enrichment::Unusable(_) => label("note-tier-crm-unusable"),
        Enrichment::NotConfigured => label("note-tier-unknown"),
    };
    let assignee = match ticket.assignee_id {
        Some(agent) => {
            let name = assignee.map(str::to_owned).unwrap_or_else(|| agent.to_string());
            format!("<a href=\"tg://user?id={agent}\">{}</a>", escape(&name))
        }
        None => label("note-assignee-none"),
    };
    let routing = match &ticket.routing_reason {
        Some(reason) => escape(reason),
        None => label("note-routing-not-enabled"),
    };
    let mut description = escape(&truncate_utf16(ticket.description.trim(), DESCRIPTION_BUDGET_UTF16));
    if description_is_shortened(ticket) {
        description = format!("{description}\n<i>{}</i>", label("note-description-continued"));
    }

    let title = escape(&i18n.t_args(lang, "note-title", &[("id", ticket.id.0.into())]));
    let category = escape(&category_label(i18n, lang, &ticket.category));
    [
        format!("🎫 <b>{title}</b>"),
        format!("<b>{}:</b> {customer}", label("note-customer")),
        format!("<b>{}:</b> {tier}", label("note-tier")),
        format!("<b>{}:</b> {}", label("note-history"), history_line(i18n, lang, history)),
        format!(
            "<b>{}:</b> {category} (<code>{}</code>)",
            label("note-category"),
            escape(&ticket.required_skill)
        ),
        format!("<b>{}:</b> {assignee}", label("note-assignee")),
        format!("<b>{}:</b> {routing}", label("note-routing")),
        format!("<b>{}:</b>\n<blockquote>{description}</blockquote>", label("note-description")),
        format!("<i>{}</i>", label("note-footer")),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn topic_links_drop_the_supergroup_prefix() {
        assert_eq!(topic_link(-1001234567890, 42), "https://t.me/c/1234567890/42");
    }

    use super::*;
    use crate::domain::{TicketId, TicketStatus};

    fn ticket() -> Ticket {
        Ticket {
            id: TicketId(42),
            customer_id: 777,
            customer_chat_id: 777,
            customer_name: "Bob <script>".into(),
            customer_username: Some("bob".into()),
            language: "en".into(),
            category: "billing".into(),
            required_skill: "billing".into(),
            description: "I was charged twice & want a refund".into(),
            description_message_id: 5,
            description_has_media: false,
            status: TicketStatus::Open,
            thread_id: None,
            note_message_id: None,
            tier: None,
            priority: 0,
            assignee_id: None,
            routing_reason: None,
            created_at_ms: 0,
            first_response_at_ms: None,
            closed_at_ms: None,
            enrichment: None,
            routing_rule: None,
            assigned_at_ms: None,
            override_due_at_ms: None,
            escalation_count: 0,
            note_setup_pending: false,
            answered_at_ms: None,
            reopened_at_ms: None,
        }
    }

    #[test]
    fn the_note_carries_customer_category_and_description_escaped() {
        let i18n = I18n::load().expect("locales");
        let note = render_note(&i18n, Lang::En, &ticket(), None, &History::default());
        assert!(note.contains("Ticket #42"), "{note}");
        assert!(note.contains("<a href=\"tg://user?id=777\">Bob &lt;script&gt;</a> @bob"), "{note}");
        assert!(note.contains("Billing and payments (<code>billing</code>)"), "{note}");
        assert!(note.contains("charged twice &amp; want a refund"), "{note}");
        // Honest about what is not known yet.
        assert!(note.contains("unknown (no CRM connected)"), "{note}");
        assert!(note.contains("nobody yet"), "{note}");
        assert!(!note.contains("<script>"));
    }

    #[test]
    fn a_failed_crm_is_stated_in_the_note() {
        let i18n = I18n::load().expect("locales");
        let mut t = ticket();
        t.enrichment = Some(r#"{"status":"failed","reason":"timeout after 5s","detail":""}"#.into());
        let note = render_note(&i18n, Lang::En, &t, None, &History::default());
        assert!(note.contains("unknown (CRM unavailable: timeout after 5s)"), "{note}");
    }

    #[test]
    fn the_note_names_the_assignee_as_a_mention_and_the_reason() {
        let i18n = I18n::load().expect("locales");
        let mut t = ticket();
        t.assignee_id = Some(1001);
        t.tier = Some(Tier::Premium);
        t.enrichment = Some(
            r#"{"status":"ok","response":{"tier":"premium","order_count":12,"recent_ticket_count":1}}"#
                .into(),
        );
        t.routing_reason = Some("Alice is the senior billing agent".into());
        let note = render_note(&i18n, Lang::En, &t, Some("Alice <3"), &History::default());
        assert!(note.contains("<a href=\"tg://user?id=1001\">Alice &lt;3</a>"), "{note}");
        assert!(note.contains("Premium · 12 orders · 1 recent ticket"), "{note}");
        assert!(note.contains("Alice is the senior billing agent"), "{note}");
    }

    #[test]
    fn a_huge_description_keeps_the_note_under_telegrams_limit() {
        let i18n = I18n::load().expect("locales");
        let mut t = ticket();
        t.description = "😀".repeat(5000);
        t.customer_name = "N".repeat(64);
        let note = render_note(&i18n, Lang::Ru, &t, None, &History::default());
        assert!(note.encode_utf16().count() < 4096, "{}", note.encode_utf16().count());
        assert!(note.contains('…'));
    }

    #[test]
    fn topic_names_fit_and_show_number_category_customer() {
        let i18n = I18n::load().expect("locales");
        assert_eq!(topic_name(&i18n, Lang::En, &ticket()), "#42 · Billing and payments · Bob <script>");
        let mut t = ticket();
        t.customer_name = "Ж".repeat(300);
        t.category = "custom_cat".into();
        let name = topic_name(&i18n, Lang::En, &t);
        assert!(name.chars().count() <= 128);
        assert!(name.starts_with("#42 · Custom cat · ЖЖ"), "{name}");
        t.tier = Some(Tier::Premium);
        t.customer_name = "Bob".into();
        assert_eq!(topic_name(&i18n, Lang::En, &t), "#42 · Premium · Custom cat · Bob");
    }

    #[test]
    fn truncation_counts_utf16_units() {
        assert_eq!(truncate_utf16("abc", 3), "abc");
        assert_eq!(truncate_utf16("abcd", 3), "ab…");
        assert_eq!(truncate_utf16("😀😀", 3), "😀…");
    }

    #[test]
    fn long_text_splits_into_telegram_sized_pieces_and_loses_nothing() {
        let text: String = (0..3000).map(|i| format!("w{i} ")).collect::<String>() + "😀end";
        let pieces = split_utf16(&text, 4096);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.encode_utf16().count() <= 4096 && !p.is_empty()));
        assert_eq!(pieces.concat(), text, "the pieces put together are the text");
        // No space to cut at: a hard cut, never inside a character.
        let emoji = "😀".repeat(3000);
        let pieces = split_utf16(&emoji, 4096);
        assert_eq!(pieces.iter().map(|p| p.encode_utf16().count()).collect::<Vec<_>>(), vec![4096, 1904]);
        assert_eq!(pieces.concat(), emoji);
        assert_eq!(split_utf16("short", 4096), vec!["short".to_owned()]);
    }
}
