//! Routing as a service: enrich a ticket, decide with the pure router,
//! record the decision atomically, and hand queued tickets out as agents
//! free up.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    enrichment::{CustomerInfo, EnrichmentClient, EnrichmentRequest, EnrichmentResult, parse_answer},
    router::{AgentSnapshot, Decision, Enrichment, Outcome, RoutingPolicy, Rule, route},
};
use crate::{
    clock::SharedClock,
    domain::{SkillName, TicketId, Tier},
    i18n::I18n,
    routing::reason::render_reason,
    storage::{Assignment, Claim, CrmCall, Storage, StorageError, Ticket},
};

/// What happened to a ticket's assignment.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    pub ticket: Ticket,
    pub decision: Decision,
}

/// Stored form of enrichment, so a queued ticket can be routed again later
/// with what the CRM said at intake (and audits see the raw answer).
pub fn audit_record(enrichment: &Enrichment, raw: &str) -> Option<String> {
    match enrichment {
        Enrichment::NotConfigured => None,
        Enrichment::Profile(_) | Enrichment::Unusable(_) => {
            let response =
                serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
            let status = if matches!(enrichment, Enrichment::Unusable(_)) { "unusable" } else { "ok" };
            Some(json!({ "status": status, "response": response }).to_string())
        }
        Enrichment::Unavailable(reason) => {
            Some(json!({ "status": "failed", "reason": reason, "detail": raw }).to_string())
        }
    }
}

/// What `/audit` keeps of one CRM call (DESIGN §15).
fn crm_call(ticket_id: i64, at_ms: i64, result: &EnrichmentResult) -> CrmCall {
    let (invalid, profile) = match &result.enrichment {
        Enrichment::Profile(profile) => (profile.invalid.as_slice(), Some(profile)),
        Enrichment::Unusable(invalid) => (invalid.as_slice(), None),
        _ => (&[][..], None),
    };
    // Each invalid field is named `name value (why)`.
    let mut invalid_fields: Vec<String> =
        invalid.iter().filter_map(|field| field.split_whitespace().next()).map(str::to_owned).collect();
    invalid_fields.sort();
    invalid_fields.dedup();
    CrmCall {
        ticket_id,
        at_ms,
        outcome: result.outcome.to_owned(),
        latency_ms: result.elapsed.map(|e| i64::try_from(e.as_millis()).unwrap_or(i64::MAX)),
        http_status: result.http_status.map(i64::from),
        invalid_fields,
        invalid_values: invalid.to_vec(),
        tier: profile.and_then(|p| p.tier).map(|t| t.as_str().to_owned()),
        preferred_agent_id: profile.and_then(|p| p.preferred_agent_id),
        opened_circuit: result.opened_circuit,
    }
}

/// Rebuilds the enrichment from a stored audit record.
pub fn enrichment_from_record(record: Option<&str>) -> Enrichment {
    let Some(record) = record else { return Enrichment::NotConfigured };
    let Ok(value) = serde_json::from_str::<Value>(record) else {
        return Enrichment::Unavailable("stored enrichment unreadable".to_owned());
    };
    match value.get("status").and_then(Value::as_str) {
        Some("ok" | "unusable") => {
            let body = value.get("response").map(Value::to_string).unwrap_or_default();
            parse_answer(body.as_bytes())
        }
        _ => Enrichment::Unavailable(
            value.get("reason").and_then(Value::as_str).unwrap_or("unknown failure").to_owned(),
        ),
    }
}

/// Errors of the routing service.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("ticket {0} has an invalid required skill")]
    BadSkill(i64),
}

impl From<RoutingError> for crate::telegram::HandlerError {
    fn from(error: RoutingError) -> Self {
        match error {
            RoutingError::Storage(error) => Self::Storage(error),
            other => Self::Service(Box::new(other)),
        }
    }
}

/// The routing service shared by intake, commands and background tasks.
#[derive(Clone, Debug)]
pub struct RoutingService {
    storage: Storage,
    enrichment: Option<Arc<EnrichmentClient>>,
    policy: RoutingPolicy,
    i18n: Arc<I18n>,
    clock: SharedClock,
    premium_override_after: std::time::Duration,
    /// The language routing reasons are written in (`GROUP_LANGUAGE`).
    group_lang: crate::i18n::Lang,
}

/// How often a claim is retried when another router took the agent's last slot.
const CLAIM_ATTEMPTS: usize = 3;
/// Waiting tickets one queue drain looks at, highest priority first.
const DRAIN_LIMIT: i64 = 5_000;

impl RoutingService {
    /// Builds the service.
    pub fn new(
        storage: Storage,
        enrichment: Option<Arc<EnrichmentClient>>,
        policy: RoutingPolicy,
        i18n: Arc<I18n>,
        clock: SharedClock,
        premium_override_after: std::time::Duration,
    ) -> Self {
        Self {
            storage,
            enrichment,
            policy,
            i18n,
            clock,
            premium_override_after,
            group_lang: crate::i18n::Lang::En,
        }
    }

    /// Writes routing reasons in `lang` (the support group's language).
    pub fn with_group_language(mut self, lang: crate::i18n::Lang) -> Self {
        self.group_lang = lang;
        self
    }

    /// Enriches a new ticket and assigns it (or queues it).
    /// Returns the ticket as routed.
    pub async fn route_new(&self, ticket: &Ticket) -> Result<Ticket, RoutingError> {
        if let Some(current) = self.storage.ticket(ticket.id).await?
            && current.routing_rule.is_some()
        {
            // Routed meanwhile (the repair task, or the first run of a
            // replayed update): the CRM is not asked twice.
            return Ok(current);
        }
        let roster = self.storage.roster().await?;
        let (enrichment, raw) = match &self.enrichment {
            None => (Enrichment::NotConfigured, String::new()),
            Some(client) => {
                let request = EnrichmentRequest {
                    ticket_id: ticket.id.0,
                    customer: CustomerInfo {
                        telegram_id: ticket.customer_id,
                        username: ticket.customer_username.clone(),
                        first_name: ticket.customer_name.clone(),
                        language_code: ticket.language.clone(),
                    },
                    category: ticket.category.clone(),
                    required_skill: ticket.required_skill.clone(),
                    description: ticket.description.clone(),
                    candidates: roster.iter().filter(|a| a.can_take_work()).map(Into::into).collect(),
                };
                let result = client.enrich(&request).await;
                self.storage.record_crm_call(&crm_call(ticket.id.0, self.clock.now_ms(), &result)).await?;
                (result.enrichment, result.audit)
            }
        };
        let tier = match &enrichment {
            Enrichment::Profile(p) => p.tier,
            _ => None,
        };
        let priority = match &enrichment {
            Enrichment::Profile(p) => p.priority.unwrap_or_else(|| self.policy.priority_of(tier)),
            _ => self.policy.priority_of(None),
        };
        let record = audit_record(&enrichment, &raw);
        // The premium override's deadline (DESIGN §6), cleared by the first agent response.
        let override_due = (tier == Some(Tier::Premium)).then(|| {
            let after = i64::try_from(self.premium_override_after.as_millis()).unwrap_or(i64::MAX);
            ticket.created_at_ms.saturating_add(after)
        });
        self.storage
            .set_ticket_enrichment(ticket.id, tier, priority, record.as_deref(), override_due)
            .await?;
        let tier_label = tier.map_or("unknown", Tier::as_str);
        metrics::counter!(crate::telemetry::names::TICKETS_OPENED, "tier" => tier_label).increment(1);
        Ok(self.assign(ticket.id, &enrichment, roster, None, None).await?.ticket)
    }

    /// Routes the ticket with the given enrichment and claims the agent;
    /// retries with a fresh roster if the claim loses a race.
    async fn assign(
        &self,
        id: TicketId,
        enrichment: &Enrichment,
        mut roster: Vec<AgentSnapshot>,
        expected: Option<i64>,
        by_update: Option<i64>,
    ) -> Result<Routed, RoutingError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let Some(ticket) = self.storage.ticket(id).await? else {
                return Err(RoutingError::Storage(StorageError::Corrupt(format!(
                    "ticket {} vanished",
                    id.0
                ))));
            };
            let skill = SkillName::parse(&ticket.required_skill).map_err(|_| RoutingError::BadSkill(id.0))?;
            let decision = route(&skill, enrichment, &roster, &self.policy);
            let reason = render_reason(&self.i18n, self.group_lang, &decision);
            match decision.outcome {
                Outcome::Queue => {
                    self.storage.set_ticket_queued(id, Rule::Queued.as_str(), &reason).await?;
                    let ticket = self.storage.ticket(id).await?.unwrap_or(ticket);
                    return Ok(Routed { ticket, decision });
                }
                Outcome::Assign(agent_id) => {
                    let assignment = Assignment {
                        agent_id,
                        rule: decision.reason.rule.as_str(),
                        reason: &reason,
                        now_ms: self.clock.now_ms(),
                        by_update,
                        restart_override_at: None,
                    };
                    if self.storage.assign_ticket(id, expected, &assignment).await? {
                        let ticket = self.storage.ticket(id).await?.unwrap_or(ticket);
                        tracing::info!(
                            ticket_id = id.0,
                            agent_id,
                            rule = decision.reason.rule.as_str(),
                            "ticket assigned"
                        );
                        metrics::counter!(crate::telemetry::names::ASSIGNMENTS, "rule" => decision.reason.rule.as_str())
                            .increment(1);
                        return Ok(Routed { ticket, decision });
                    }
                    // Someone else took the slot or the ticket; look again.
                    roster = self.storage.roster().await?;
                }
            }
        }
        // Every claim lost a race: the ticket waits in the queue (unless a
        // competing router assigned it, which `set_ticket_queued` respects),
        // and its note says so instead of claiming routing is not set up.
        let ticket = self.storage.ticket(id).await?.ok_or_else(|| {
            RoutingError::Storage(StorageError::Corrupt(format!("ticket {} vanished", id.0)))
        })?;
        let skill = SkillName::parse(&ticket.required_skill).map_err(|_| RoutingError::BadSkill(id.0))?;
        let decision = route(&skill, enrichment, &[], &self.policy);
        let reason = render_reason(&self.i18n, self.group_lang, &decision);
        self.storage.set_ticket_queued(id, Rule::Queued.as_str(), &reason).await?;
        let ticket = self.storage.ticket(id).await?.unwrap_or(ticket);
        Ok(Routed { ticket, decision })
    }

    /// Assigns waiting tickets, highest priority first, while agents can
    /// take them. Returns the tickets that got an agent.
    ///
    /// One roster read and one queue read; routing runs in memory with
    /// each agent's load counted up as tickets are handed out; only the
    /// assignments are written, in one transaction. A ticket that still
    /// waits is not written at all (its note already says it waits). A
    /// claim lost to a concurrent router sends the drain round again with
    /// a fresh roster.
    ///
    /// `by_update`: the update whose handler drains (recorded with each
    /// assignment, so a replay of it finds them; see
    /// [`Storage::tickets_assigned_by`]).
    pub async fn drain_queue(&self, by_update: Option<i64>) -> Result<Vec<Routed>, RoutingError> {
        let mut assigned = Vec::new();
        for _ in 0..CLAIM_ATTEMPTS {
            let mut roster = self.storage.roster().await?;
            if !roster.iter().any(AgentSnapshot::can_take_work) {
                break;
            }
            let now_ms = self.clock.now_ms();
            let mut planned: Vec<(Ticket, Decision, String, i64)> = Vec::new();
            for ticket in self.storage.routed_queue(DRAIN_LIMIT).await? {
                if !roster.iter().any(AgentSnapshot::can_take_work) {
                    break;
                }
                let Ok(skill) = SkillName::parse(&ticket.required_skill) else {
                    tracing::warn!(ticket_id = ticket.id.0, skill = %ticket.required_skill, "waiting ticket has an invalid skill");
                    continue;
                };
                let enrichment = enrichment_from_record(ticket.enrichment.as_deref());
                let decision = route(&skill, &enrichment, &roster, &self.policy);
                let Outcome::Assign(agent_id) = decision.outcome else { continue };
                if let Some(agent) = roster.iter_mut().find(|a| a.id == agent_id) {
                    agent.open_tickets += 1;
                    agent.idle_since_ms = now_ms;
                }
                let reason = render_reason(&self.i18n, self.group_lang, &decision);
                planned.push((ticket, decision, reason, agent_id));
            }
            if planned.is_empty() {
                break;
            }
            let claims: Vec<Claim<'_>> = planned
                .iter()
                .map(|(ticket, decision, reason, agent_id)| Claim {
                    ticket: ticket.id,
                    expected: None,
                    assignment: Assignment {
                        agent_id: *agent_id,
                        rule: decision.reason.rule.as_str(),
                        reason,
                        now_ms,
                        by_update,
                        restart_override_at: None,
                    },
                })
                .collect();
            let made = self.storage.assign_tickets(&claims).await?;
            drop(claims);
            let mut lost = false;
            for ((mut ticket, decision, reason, agent_id), made) in planned.into_iter().zip(made) {
                if !made {
                    lost = true;
                    continue;
                }
                let rule = decision.reason.rule.as_str();
                tracing::info!(ticket_id = ticket.id.0, agent_id, rule, "waiting ticket assigned");
                metrics::counter!(crate::telemetry::names::ASSIGNMENTS, "rule" => rule).increment(1);
                ticket.assignee_id = Some(agent_id);
                ticket.routing_rule = Some(rule.to_owned());
                ticket.routing_reason = Some(reason);
                ticket.assigned_at_ms = Some(now_ms);
                assigned.push(Routed { ticket, decision });
            }
            if !lost {
                break;
            }
        }
        Ok(assigned)
    }

    /// Claims a ticket for `agent` directly (`/take`, `/reassign`), with the
    /// reason given, on behalf of update `by_update`. `false` if the agent is
    /// at capacity or the ticket changed.
    pub async fn claim(
        &self,
        ticket: &Ticket,
        agent_id: i64,
        rule: Rule,
        reason: &str,
        by_update: Option<i64>,
    ) -> Result<bool, RoutingError> {
        // A person took responsibility: a premium ticket's override deadline
        // counts from now, so the override never undoes their decision.
        let now_ms = self.clock.now_ms();
        let after = i64::try_from(self.premium_override_after.as_millis()).unwrap_or(i64::MAX);
        let assignment = Assignment {
            agent_id,
            rule: rule.as_str(),
            reason,
            now_ms,
            by_update,
            restart_override_at: Some(now_ms.saturating_add(after)),
        };
        let claimed = self.storage.assign_ticket(ticket.id, ticket.assignee_id, &assignment).await?;
        if claimed {
            metrics::counter!(crate::telemetry::names::ASSIGNMENTS, "rule" => rule.as_str()).increment(1);
            if ticket.assignee_id.is_some() {
                metrics::counter!(crate::telemetry::names::ESCALATIONS, "by" => rule.as_str()).increment(1);
            }
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::router::CustomerProfile;

    #[test]
    fn enrichment_records_round_trip() {
        let profile = Enrichment::Profile(CustomerProfile {
            tier: Some(Tier::Premium),
            order_count: Some(3),
            preferred_agent_id: Some(7),
            ..Default::default()
        });
        let raw = r#"{"tier":"premium","order_count":3,"preferred_agent_id":7,"extra":[1]}"#;
        let record = audit_record(&profile, raw).expect("stored");
        assert!(record.contains("\"extra\":[1]"), "the raw answer is kept: {record}");
        assert_eq!(enrichment_from_record(Some(&record)), profile);

        let failed = Enrichment::Unavailable("timeout after 5s".into());
        let record = audit_record(&failed, "{\"error\":\"timeout after 5s\"}").expect("stored");
        assert_eq!(enrichment_from_record(Some(&record)), failed);

        let raw = r#"{"tier":"platinum","order_count":-3}"#;
        let unusable = parse_answer(raw.as_bytes());
        assert!(matches!(unusable, Enrichment::Unusable(ref invalid) if invalid.len() == 2), "{unusable:?}");
        let record = audit_record(&unusable, raw).expect("stored");
        assert!(record.contains("\"status\":\"unusable\""), "{record}");
        assert_eq!(enrichment_from_record(Some(&record)), unusable);

        assert_eq!(audit_record(&Enrichment::NotConfigured, ""), None);
        assert_eq!(enrichment_from_record(None), Enrichment::NotConfigured);
        assert!(matches!(enrichment_from_record(Some("garbage")), Enrichment::Unavailable(_)));
    }
}
