//! The internal note pinned at the top of each ticket topic, and the topic's
//! name: pure functions over plain data (DESIGN §7).

use teloxide::utils::html::escape;

use crate::{
    i18n::{I18n, Lang},
    storage::Ticket,
};

/// Telegram counts message length in UTF-16 code units; the note leaves
/// room for its labels within the 4096 limit.
const DESCRIPTION_BUDGET_UTF16: usize = 3000;
/// Topic names are limited to 128 characters.
const TOPIC_NAME_MAX: usize = 128;
/// A customer name never takes more than this much of a topic name.
const TOPIC_CUSTOMER_MAX: usize = 40;

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

/// The topic name: `#42 · Billing and payments · Bob` (at most 128 characters).
pub fn topic_name(i18n: &I18n, lang: Lang, ticket: &Ticket) -> String {
    let customer = truncate_chars(ticket.customer_name.trim(), TOPIC_CUSTOMER_MAX);
    let name = i18n.t_args(
        lang,
        "topic-name",
        &[
            ("id", ticket.id.0.into()),
            ("category", category_label(i18n, lang, &ticket.category).into()),
            ("customer", customer.into()),
        ],
    );
    truncate_chars(&name, TOPIC_NAME_MAX)
}

/// The internal note, as Telegram HTML. Every value from a user is escaped.
pub fn render_note(i18n: &I18n, lang: Lang, ticket: &Ticket) -> String {
    let label = |key: &str| escape(&i18n.t(lang, key));
    let mut customer =
        format!("<a href=\"tg://user?id={}\">{}</a>", ticket.customer_id, escape(&ticket.customer_name));
    if let Some(username) = &ticket.customer_username {
        customer.push_str(&format!(" @{}", escape(username)));
    }
    customer.push_str(&format!(" · id <code>{}</code> · {}", ticket.customer_id, escape(&ticket.language)));

    let tier = match ticket.tier {
        Some(tier) => escape(tier.as_str()),
        None => label("note-tier-unknown"),
    };
    let assignee = match ticket.assignee_id {
        Some(agent) => format!("<a href=\"tg://user?id={agent}\">{agent}</a>"),
        None => label("note-assignee-none"),
    };
    let routing = match &ticket.routing_reason {
        Some(reason) => escape(reason),
        None => label("note-routing-not-enabled"),
    };
    let description = escape(&truncate_utf16(ticket.description.trim(), DESCRIPTION_BUDGET_UTF16));

    let title = escape(&i18n.t_args(lang, "note-title", &[("id", ticket.id.0.into())]));
    let category = escape(&category_label(i18n, lang, &ticket.category));
    [
        format!("🎫 <b>{title}</b>"),
        format!("<b>{}:</b> {customer}", label("note-customer")),
        format!("<b>{}:</b> {tier}", label("note-tier")),
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
        }
    }

    #[test]
    fn the_note_carries_customer_category_and_description_escaped() {
        let i18n = I18n::load().expect("locales");
        let note = render_note(&i18n, Lang::En, &ticket());
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
    fn the_note_names_the_assignee_as_a_mention_and_the_reason() {
        let i18n = I18n::load().expect("locales");
        let mut t = ticket();
        t.assignee_id = Some(1001);
        t.routing_reason = Some("Alice is the senior billing agent".into());
        let note = render_note(&i18n, Lang::En, &t);
        assert!(note.contains("<a href=\"tg://user?id=1001\">"), "{note}");
        assert!(note.contains("Alice is the senior billing agent"), "{note}");
    }

    #[test]
    fn a_huge_description_keeps_the_note_under_telegrams_limit() {
        let i18n = I18n::load().expect("locales");
        let mut t = ticket();
        t.description = "😀".repeat(5000);
        t.customer_name = "N".repeat(64);
        let note = render_note(&i18n, Lang::Ru, &t);
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
    }

    #[test]
    fn truncation_counts_utf16_units() {
        assert_eq!(truncate_utf16("abc", 3), "abc");
        assert_eq!(truncate_utf16("abcd", 3), "ab…");
        assert_eq!(truncate_utf16("😀😀", 3), "😀…");
    }
}
