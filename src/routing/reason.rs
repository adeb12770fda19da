//! Renders a [`RoutingReason`] as the sentence agents read in the pinned
//! note: specific about who, why and what was not known.

use fluent_bundle::FluentValue;

use super::router::{Decision, Outcome, Rule};
use crate::{
    domain::Tier,
    i18n::{I18n, Lang},
};

/// The localised label of a tier (`Premium`).
pub fn tier_label(i18n: &I18n, lang: Lang, tier: Tier) -> String {
    i18n.t(lang, &format!("tier-{}", tier.as_str()))
}

/// "Premium customer (12 orders); needs billing; Alice is the most senior
/// available billing agent (level 3, 1 open ticket)".
pub fn render_reason(i18n: &I18n, lang: Lang, decision: &Decision) -> String {
    let reason = &decision.reason;
    let mut parts: Vec<String> = Vec::new();

    let invalid = reason.crm_invalid.join(", ");
    if let Some(why) = &reason.enrichment_failure {
        parts.push(i18n.t_args(lang, "reason-crm-unavailable", &[("why", why.clone().into())]));
    } else if !reason.crm_configured {
        parts.push(i18n.t(lang, "reason-crm-none"));
    } else if !invalid.is_empty() && !reason.crm_used {
        parts.push(i18n.t_args(lang, "reason-crm-unusable", &[("fields", invalid.clone().into())]));
    }
    if let Some(tier) = reason.tier {
        let tier = tier_label(i18n, lang, tier);
        parts.push(match reason.order_count {
            Some(orders) => i18n.t_args(
                lang,
                "reason-tier-orders",
                &[("tier", tier.into()), ("orders", FluentValue::from(orders))],
            ),
            None => i18n.t_args(lang, "reason-tier", &[("tier", tier.into())]),
        });
    }
    parts.push(i18n.t_args(lang, "reason-needs", &[("skill", reason.skill.to_string().into())]));
    if let Some(id) = reason.preferred_unavailable {
        parts.push(i18n.t_args(lang, "reason-preferred-unavailable", &[("id", id.into())]));
    }
    match (&reason.agent, decision.outcome) {
        (Some(agent), Outcome::Assign(_)) => {
            let skill = reason.matched_skill.as_ref().unwrap_or(&reason.skill).to_string();
            let key = match reason.rule {
                Rule::PreferredAgent => "reason-preferred",
                Rule::SeniorSpecialist => "reason-senior",
                Rule::JuniorSpecialist => "reason-junior",
                Rule::Specialist => "reason-specialist",
                Rule::GeneralistPool => "reason-generalist",
                // The router never decides by hand or by override; those
                // notes carry their own reasons.
                Rule::LeastLoaded | Rule::Queued | Rule::Taken | Rule::Reassigned | Rule::PremiumOverride => {
                    "reason-least-loaded"
                }
            };
            parts.push(i18n.t_args(
                lang,
                key,
                &[
                    ("agent", agent.name.clone().into()),
                    ("skill", skill.into()),
                    ("required", reason.skill.to_string().into()),
                    ("level", FluentValue::from(agent.level)),
                    ("load", FluentValue::from(agent.open_tickets)),
                ],
            ));
        }
        _ => parts.push(i18n.t_args(lang, "reason-queued", &[("priority", decision.priority.into())])),
    }
    if let Some(crm) = &reason.crm_reason {
        parts.push(i18n.t_args(lang, "reason-crm-says", &[("reason", crm.clone().into())]));
    }
    if !invalid.is_empty() && reason.crm_used {
        parts.push(i18n.t_args(lang, "reason-crm-invalid", &[("fields", invalid.into())]));
    }
    let mut text = parts.join("; ");
    if let Some(first) = text.chars().next() {
        let upper: String = first.to_uppercase().collect();
        text.replace_range(..first.len_utf8(), &upper);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{SkillLevel, SkillName},
        routing::router::{AgentSnapshot, AgentStatus, CustomerProfile, Enrichment, RoutingPolicy, route},
    };

    fn agent(id: i64, name: &str, skills: &[&str], open: u32) -> AgentSnapshot {
        AgentSnapshot {
            id,
            name: name.into(),
            status: AgentStatus::Available,
            capacity: 5,
            open_tickets: open,
            skills: skills.iter().map(|s| SkillLevel::parse(s).expect("skill")).collect(),
            idle_since_ms: id,
        }
    }

    #[test]
    fn the_case_study_reason_reads_well() {
        let i18n = I18n::load().expect("locales");
        let agents = [agent(1, "Alice", &["billing:3"], 1), agent(2, "Bob", &["billing:1"], 0)];
        let profile = Enrichment::Profile(CustomerProfile {
            tier: Some(Tier::Premium),
            order_count: Some(12),
            ..Default::default()
        });
        let d = route(&SkillName::parse("billing").expect("s"), &profile, &agents, &RoutingPolicy::default());
        assert_eq!(
            render_reason(&i18n, Lang::En, &d),
            "Premium customer (12 orders); needs billing; Alice is the most senior available billing agent \
             (level 3, 1 open ticket)"
        );
        let ru = render_reason(&i18n, Lang::Ru, &d);
        assert!(ru.contains("Alice") && ru.contains("1 открытое обращение"), "{ru}");
    }

    #[test]
    fn fallbacks_say_why() {
        let i18n = I18n::load().expect("locales");
        let agents = [agent(1, "Alice", &["billing:3"], 2), agent(2, "Bob", &["billing:1"], 0)];
        let billing = SkillName::parse("billing").expect("s");
        let down = Enrichment::Unavailable("timeout after 5s".into());
        let d = route(&billing, &down, &agents, &RoutingPolicy::default());
        assert_eq!(
            render_reason(&i18n, Lang::En, &d),
            "CRM unavailable (timeout after 5s); needs billing; least-loaded available agent: Bob (0 open tickets)"
        );
        let d = route(&billing, &Enrichment::NotConfigured, &[], &RoutingPolicy::default());
        assert_eq!(
            render_reason(&i18n, Lang::En, &d),
            "No CRM configured; needs billing; nobody who can take it is available, so it waits in the queue (priority 50)"
        );
    }
}
