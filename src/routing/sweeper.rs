//! The premium override (DESIGN §6): a background task that finds premium
//! tickets without an agent's first response `PREMIUM_OVERRIDE_AFTER` after
//! opening and re-routes each to the next available agent, regardless of
//! skill.
//!
//! Safe with several instances on one database: each re-assignment is a
//! compare-and-set on the ticket's deadline (`Storage::escalate`), and the
//! escalations table is unique per (ticket, deadline), so a deadline is
//! acted on once however many sweepers race for it.

use std::{sync::Arc, time::Duration};

use super::router::{AgentSnapshot, Rule, override_pick};
use crate::{
    clock::SharedClock,
    domain::TicketId,
    domain::TicketStatus,
    i18n::I18n,
    storage::{OverridePlan, Storage, StorageError, Ticket},
    telemetry::names,
};

/// Overdue tickets handled per sweep; the rest wait for the next one.
const SWEEP_BATCH: i64 = 2_000;

/// One re-assignment made by a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalated {
    pub ticket: TicketId,
    pub from: Option<i64>,
    pub to: i64,
}

/// The database half of the sweeper: finds and claims overdue tickets.
#[derive(Clone, Debug)]
pub struct Sweeper {
    storage: Storage,
    i18n: Arc<I18n>,
    clock: SharedClock,
    override_after: Duration,
    /// The language of the notes' reasons (`GROUP_LANGUAGE`).
    group_lang: crate::i18n::Lang,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Sweeper {
    /// Builds the sweeper.
    pub fn new(storage: Storage, i18n: Arc<I18n>, clock: SharedClock, override_after: Duration) -> Self {
        Self { storage, i18n, clock, override_after, group_lang: crate::i18n::Lang::En }
    }

    /// Writes the override's reasons in `lang` (the support group's language).
    pub fn with_group_language(mut self, lang: crate::i18n::Lang) -> Self {
        self.group_lang = lang;
        self
    }

    /// One sweep: every overdue ticket this instance manages to claim is
    /// re-assigned and returned. Tickets with no available agent keep their
    /// deadline and are tried again next sweep.
    pub async fn claim_overdue(&self) -> Result<Vec<Escalated>, StorageError> {
        let now = self.clock.now_ms();
        let next_due = now.saturating_add(millis(self.override_after));
        let plans = self
            .storage
            .claim_overdue(now, SWEEP_BATCH, next_due, |overdue, roster| self.plan(overdue, roster, now))
            .await?;
        let escalated: Vec<Escalated> = plans
            .into_iter()
            .map(|p| Escalated { ticket: p.ticket, from: p.from_agent, to: p.to_agent })
            .collect();
        for e in &escalated {
            tracing::info!(ticket_id = e.ticket.0, from = ?e.from, to = e.to, "premium override");
            metrics::counter!(names::OVERRIDES).increment(1);
            metrics::counter!(names::ESCALATIONS, "by" => "premium_override").increment(1);
            metrics::counter!(names::ASSIGNMENTS, "rule" => Rule::PremiumOverride.as_str()).increment(1);
        }
        Ok(escalated)
    }

    /// Picks an agent for each overdue ticket (pure: runs inside the claim
    /// transaction). Tickets with no available agent keep their deadline and
    /// are tried again next sweep.
    fn plan(&self, overdue: &[Ticket], roster: &mut [AgentSnapshot], now: i64) -> Vec<OverridePlan> {
        let mut plans = Vec::new();
        for ticket in overdue {
            let Some(seen_due_at) = ticket.override_due_at_ms else { continue };
            if ticket.first_response_at_ms.is_some() || ticket.status != TicketStatus::Open {
                continue;
            }
            let Some(agent) = override_pick(roster, ticket.assignee_id).cloned() else {
                tracing::info!(ticket_id = ticket.id.0, "premium ticket overdue but no agent is available");
                continue;
            };
            // The deadline counts from opening, or from the last time a person
            // (or an earlier override) assigned it.
            let since_assignment = ticket
                .routing_rule
                .as_deref()
                .and_then(Rule::parse)
                .is_some_and(|rule| rule.by_hand() || rule == Rule::PremiumOverride);
            let reason = self.reason(&agent, ticket.assignee_id, roster, since_assignment);
            adjust_load(roster, ticket.assignee_id, agent.id, now);
            plans.push(OverridePlan {
                ticket: ticket.id,
                seen_due_at,
                from_agent: ticket.assignee_id,
                to_agent: agent.id,
                reason,
            });
        }
        plans
    }

    fn reason(
        &self,
        agent: &AgentSnapshot,
        previous: Option<i64>,
        roster: &[AgentSnapshot],
        since_assignment: bool,
    ) -> String {
        let after = humantime::format_duration(self.override_after).to_string();
        let key = if since_assignment { "reason-override-since-assignment" } else { "reason-override" };
        let mut text = self.i18n.t_args(
            self.group_lang,
            key,
            &[
                ("after", after.into()),
                ("agent", agent.name.clone().into()),
                ("load", agent.open_tickets.into()),
            ],
        );
        if let Some(previous) = previous {
            let name = roster
                .iter()
                .find(|a| a.id == previous)
                .map_or_else(|| previous.to_string(), |a| a.name.clone());
            text.push_str("; ");
            text.push_str(&self.i18n.t_args(
                self.group_lang,
                "reason-override-released",
                &[("previous", name.into())],
            ));
        }
        text
    }
}

/// Keeps the in-memory roster true between claims of one sweep.
fn adjust_load(roster: &mut [AgentSnapshot], from: Option<i64>, to: i64, now: i64) {
    for agent in roster.iter_mut() {
        if agent.id == to {
            agent.open_tickets += 1;
            agent.idle_since_ms = now;
        } else if Some(agent.id) == from {
            agent.open_tickets = agent.open_tickets.saturating_sub(1);
        }
    }
}
