//! The simulation (DESIGN §16): a trace replayed on a simulated clock
//! against a roster, routed by the **live** router
//! ([`crate::routing::router::route`]) and re-routed by the live premium
//! override's pick ([`crate::routing::router::override_pick`]).
//!
//! Memory grows with the agents and the tickets open at once, never with
//! the trace's length: tickets arrive from a stream, a resolved ticket's
//! slot is reused, and every percentile is kept in a fixed-size histogram.
//! The model is described in the README ("Routing simulator").

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap},
};

use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::input::{InputError, RosterAgent, TraceTicket};
use crate::{
    domain::{GENERAL_SKILL, SkillName, Tier},
    routing::router::{
        AgentSnapshot, AgentStatus, CustomerProfile, Enrichment, Outcome, RoutingPolicy, override_pick, route,
    },
};

/// How tickets are given to agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// topicdesk's router with the CRM's tier (skills, levels, load).
    Skills,
    /// The next available agent in turn, whatever their skills.
    RoundRobin,
    /// The least-loaded available agent with the skill (the router without a CRM).
    LeastLoaded,
}

impl Policy {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "skills" => Some(Self::Skills),
            "round-robin" => Some(Self::RoundRobin),
            "least-loaded" => Some(Self::LeastLoaded),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skills => "skills",
            Self::RoundRobin => "round-robin",
            Self::LeastLoaded => "least-loaded",
        }
    }
}

/// The knobs of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub policy: Policy,
    /// The premium override's wait (`None`: off).
    pub override_after_ms: Option<i64>,
    pub seed: u64,
}

/// Nearest-rank percentiles (ms) of one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
}

/// What one run came to.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    pub policy: &'static str,
    pub tickets: u64,
    /// Tickets still open when the simulation stopped (a week after the
    /// last arrival, or never served: no agent with the skill).
    pub unresolved: u64,
    /// First response per tier: premium, standard, basic, unknown.
    pub first_response: [Option<Percentiles>; 4],
    pub resolution: [Option<Percentiles>; 4],
    pub escalations: u64,
    /// Tickets escalated at least once, over all tickets.
    pub escalated_share: f64,
    pub premium_overrides: u64,
    /// A basic ticket given to a level-3 agent while a level-1 agent with
    /// the skill could take it.
    pub misroutes_senior_on_basic: u64,
    /// A ticket given to an agent below its complexity.
    pub misroutes_below_complexity: u64,
    /// Share of their time on duty the agents spent on tickets, by their
    /// highest level (1, 2, 3).
    pub utilisation_by_level: [Option<f64>; 3],
    /// Messages the bot sends into the support group per minute, over the
    /// minutes it sends any: median and peak (Telegram allows 20).
    pub group_messages_p50: u64,
    pub group_messages_peak: u64,
    /// Minutes above Telegram's 20.
    pub group_minutes_over_limit: u64,
}

/// Telegram's limit on messages per minute into one group.
pub const GROUP_LIMIT: u64 = crate::config::Limits::TELEGRAM.per_group.count as u64;
/// The simulation stops this long after the last arrival.
const DRAIN_AFTER_MS: i64 = 7 * 86_400_000;
/// A premium ticket the override could not place is looked at again after this.
const OVERRIDE_RETRY_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The assigned agent answers (first response, or picks it up after a hand-over).
    Answer,
    /// The work is done: resolved.
    Finish,
    /// The agent, below the ticket's complexity, hands it back.
    Escalate,
    /// The premium override's deadline.
    Override,
    /// Some agent's shift starts or ends.
    Shift,
}

/// An event: at `at`, for ticket `slot` as it was at `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: i64,
    seq: u64,
    kind: Kind,
    slot: usize,
    /// The ticket in the slot when the event was made (slots are reused).
    ticket: u64,
    epoch: u32,
}

#[derive(Clone, Debug)]
struct Ticket {
    id: u64,
    arrival_ms: i64,
    tier: Option<Tier>,
    skill: SkillName,
    complexity: u8,
    work_ms: i64,
    agent: Option<usize>,
    answered: bool,
    escalated: bool,
    /// Escalated: only an agent at this level or above may take it.
    needs_level: u8,
    /// Bumped on every change of hands: older events are ignored.
    epoch: u32,
    /// Queue key while waiting.
    queued: Option<(Reverse<i64>, i64, usize)>,
    /// When the current agent will be done with it, and how (resolved or
    /// handed back).
    done: (i64, Kind),
}

struct Agent {
    roster: RosterAgent,
    max_level: u8,
    /// The tickets the agent holds and has not turned to yet, in order.
    held: std::collections::VecDeque<usize>,
    /// The ticket they are on, and since when.
    current: Option<(usize, i64)>,
    /// Time spent on tickets, and on duty.
    worked_ms: i64,
    duty_ms: i64,
    since_ms: i64,
}

fn histogram() -> Histogram<u64> {
    // 1 ms to 60 days, 3 significant digits: about 30 KB each. The bounds
    // are constants hdrhistogram accepts; longer values are clamped.
    Histogram::new_with_bounds(1, 60 * 86_400_000, 3).expect("constant histogram bounds")
}

/// The simulation of one policy.
pub struct Simulation {
    options: Options,
    policy: RoutingPolicy,
    agents: Vec<Agent>,
    snapshot: Vec<AgentSnapshot>,
    tickets: Vec<Option<Ticket>>,
    free: Vec<usize>,
    queue: BTreeSet<(Reverse<i64>, i64, usize)>,
    events: BinaryHeap<Reverse<Event>>,
    seq: u64,
    now: i64,
    rng: ChaCha8Rng,
    round_robin: usize,
    general: SkillName,
    /// Minutes of the day at which some shift starts or ends.
    shift_minutes: Vec<u32>,
    first_response: Vec<Histogram<u64>>,
    resolution: Vec<Histogram<u64>>,
    /// Future minutes' group messages, and the per-minute counts so far.
    group_pending: BTreeMap<i64, u64>,
    group_counts: Histogram<u64>,
    group_peak: u64,
    group_over: u64,
    tickets_in: u64,
    resolved: u64,
    escalations: u64,
    escalated_tickets: u64,
    overrides: u64,
    senior_on_basic: u64,
    below_complexity: u64,
    last_arrival: i64,
}

impl Simulation {
    pub fn new(roster: &[RosterAgent], options: Options) -> Self {
        let general = SkillName::parse(GENERAL_SKILL).expect("`general` is a valid skill name");
        let snapshot = roster
            .iter()
            .map(|a| AgentSnapshot {
                id: a.id,
                name: a.name.clone(),
                status: if a.on_duty(0) { AgentStatus::Available } else { AgentStatus::Offline },
                capacity: a.capacity,
                open_tickets: 0,
                skills: a.skills.clone(),
                idle_since_ms: 0,
            })
            .collect();
        let agents = roster
            .iter()
            .map(|a| Agent {
                roster: a.clone(),
                max_level: a.skills.iter().map(|s| s.level).max().unwrap_or(1),
                held: std::collections::VecDeque::new(),
                current: None,
                worked_ms: 0,
                duty_ms: 0,
                since_ms: 0,
            })
            .collect();
        let mut shift_minutes: Vec<u32> =
            roster.iter().filter_map(|a| a.shift).flat_map(|(from, to)| [from, to]).collect();
        shift_minutes.sort_unstable();
        shift_minutes.dedup();
        let mut simulation = Self {
            options,
            policy: RoutingPolicy::default(),
            agents,
            snapshot,
            tickets: Vec::new(),
            free: Vec::new(),
            queue: BTreeSet::new(),
            events: BinaryHeap::new(),
            seq: 0,
            now: 0,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            round_robin: 0,
            general,
            shift_minutes,
            first_response: (0..4).map(|_| histogram()).collect(),
            resolution: (0..4).map(|_| histogram()).collect(),
            group_pending: BTreeMap::new(),
            group_counts: histogram(),
            group_peak: 0,
            group_over: 0,
            tickets_in: 0,
            resolved: 0,
            escalations: 0,
            escalated_tickets: 0,
            overrides: 0,
            senior_on_basic: 0,
            below_complexity: 0,
            last_arrival: 0,
        };
        simulation.schedule_next_shift(0);
        simulation
    }

    /// Replays every ticket `next` yields, then lets the open ones finish.
    pub fn run(
        mut self,
        mut next: impl FnMut() -> Result<Option<TraceTicket>, InputError>,
    ) -> Result<Report, InputError> {
        while let Some(ticket) = next()? {
            self.feed(ticket);
        }
        Ok(self.finish())
    }

    /// The next ticket of the trace (arrivals in order).
    pub fn feed(&mut self, ticket: TraceTicket) {
        self.advance_to(ticket.arrival_ms.max(self.now));
        self.arrive(ticket);
    }

    /// Lets the open tickets finish (at most a week after the last
    /// arrival) and reports.
    pub fn finish(mut self) -> Report {
        let end = self.last_arrival.saturating_add(DRAIN_AFTER_MS);
        while self.resolved < self.tickets_in {
            let Some(Reverse(event)) = self.events.peek().copied() else { break };
            if event.at > end || (event.kind == Kind::Shift && self.only_shifts_left()) {
                break;
            }
            self.events.pop();
            self.handle(event);
        }
        self.now = self.now.max(self.last_arrival);
        self.report()
    }

    /// Handles every event before `at`.
    fn advance_to(&mut self, at: i64) {
        while let Some(Reverse(event)) = self.events.peek().copied() {
            if event.at > at {
                break;
            }
            self.events.pop();
            self.handle(event);
        }
        self.set_now(at);
    }

    fn set_now(&mut self, at: i64) {
        if at > self.now {
            self.now = at;
        }
        // Minutes before this one are complete.
        let minute = self.now.div_euclid(60_000);
        while let Some((&m, &count)) = self.group_pending.first_key_value() {
            if m >= minute {
                break;
            }
            self.group_pending.remove(&m);
            self.group_counts.saturating_record(count.max(1));
            self.group_peak = self.group_peak.max(count);
            if count > GROUP_LIMIT {
                self.group_over += 1;
            }
        }
    }

    /// Nothing but shift changes is left and nobody waits for one.
    fn only_shifts_left(&self) -> bool {
        self.events.iter().all(|Reverse(e)| e.kind == Kind::Shift) && self.queue.is_empty()
    }

    fn push(&mut self, at: i64, kind: Kind, slot: usize, epoch: u32) {
        self.seq += 1;
        let ticket = self.tickets.get(slot).and_then(Option::as_ref).map_or(0, |t| t.id);
        self.events.push(Reverse(Event { at, seq: self.seq, kind, slot, ticket, epoch }));
    }

    fn group_message(&mut self, at: i64, count: u64) {
        *self.group_pending.entry(at.div_euclid(60_000)).or_default() += count;
    }

    fn schedule_next_shift(&mut self, after: i64) {
        if self.shift_minutes.is_empty() {
            return;
        }
        let day = after.div_euclid(86_400_000);
        let minute_now = (after.rem_euclid(86_400_000) / 60_000) as u32;
        let next = match self.shift_minutes.iter().find(|m| **m > minute_now) {
            Some(m) => day * 86_400_000 + i64::from(*m) * 60_000,
            None => (day + 1) * 86_400_000 + i64::from(self.shift_minutes[0]) * 60_000,
        };
        self.push(next, Kind::Shift, usize::MAX, 0);
    }

    fn arrive(&mut self, t: TraceTicket) {
        self.tickets_in += 1;
        self.last_arrival = t.arrival_ms;
        let ticket = Ticket {
            id: self.tickets_in,
            arrival_ms: t.arrival_ms,
            tier: t.tier,
            skill: t.skill,
            complexity: t.complexity,
            work_ms: t.work_ms,
            agent: None,
            answered: false,
            escalated: false,
            needs_level: 0,
            epoch: 0,
            queued: None,
            done: (0, Kind::Finish),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.tickets[slot] = Some(ticket);
                slot
            }
            None => {
                self.tickets.push(Some(ticket));
                self.tickets.len() - 1
            }
        };
        // The topic and its pinned note.
        self.group_message(self.now, 2);
        if t.tier == Some(Tier::Premium)
            && let Some(after) = self.options.override_after_ms
        {
            self.push(self.now + after, Kind::Override, slot, 0);
        }
        if !self.place(slot) {
            self.enqueue(slot);
        }
    }

    fn enqueue(&mut self, slot: usize) {
        let Some(ticket) = self.tickets[slot].as_mut() else { return };
        let key = (Reverse(self.policy.priority_of(ticket.tier)), ticket.arrival_ms, slot);
        ticket.queued = Some(key);
        self.queue.insert(key);
    }

    fn dequeue(&mut self, slot: usize) {
        if let Some(key) = self.tickets[slot].as_mut().and_then(|t| t.queued.take()) {
            self.queue.remove(&key);
        }
    }

    /// Chooses an agent by the policy and gives them the ticket.
    fn place(&mut self, slot: usize) -> bool {
        let Some(ticket) = self.tickets[slot].as_ref() else { return false };
        let (needs_level, tier, skill) = (ticket.needs_level, ticket.tier, ticket.skill.clone());
        let chosen = match self.options.policy {
            Policy::RoundRobin => self.next_in_turn(needs_level, &skill),
            Policy::Skills | Policy::LeastLoaded => {
                let enrichment = match self.options.policy {
                    Policy::Skills => Enrichment::Profile(CustomerProfile { tier, ..Default::default() }),
                    _ => Enrichment::NotConfigured,
                };
                // An escalated ticket goes to someone at its level.
                let qualified: Vec<AgentSnapshot>;
                let agents = if needs_level > 0 {
                    qualified = self
                        .snapshot
                        .iter()
                        .filter(|a| self.level_of(a, &skill) >= needs_level)
                        .cloned()
                        .collect();
                    &qualified
                } else {
                    &self.snapshot
                };
                match route(&skill, &enrichment, agents, &self.policy).outcome {
                    Outcome::Assign(id) => self.snapshot.iter().position(|a| a.id == id),
                    Outcome::Queue => None,
                }
            }
        };
        let Some(agent) = chosen else { return false };
        self.assign(slot, agent);
        true
    }

    /// Round-robin: the next agent in roster order who can take work.
    fn next_in_turn(&mut self, needs_level: u8, skill: &SkillName) -> Option<usize> {
        let n = self.snapshot.len();
        for step in 0..n {
            let i = (self.round_robin + step) % n;
            let a = &self.snapshot[i];
            if a.can_take_work() && (needs_level == 0 || self.level_of(a, skill) >= needs_level) {
                self.round_robin = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    /// The agent's level for a ticket needing `skill`: in the skill, else
    /// as a generalist, else 0.
    fn level_of(&self, agent: &AgentSnapshot, skill: &SkillName) -> u8 {
        agent.level(skill).or_else(|| agent.level(&self.general)).unwrap_or(0)
    }

    /// Adds the time since the last change to the agent's duty time.
    /// The highest level anyone on the roster has for a ticket needing `skill`.
    fn best_level(&self, skill: &SkillName) -> u8 {
        self.snapshot.iter().map(|a| self.level_of(a, skill)).max().unwrap_or(0)
    }

    /// Adds the time since the last change to the agent's duty time.
    fn account(&mut self, agent: usize) {
        let a = &mut self.agents[agent];
        let dt = self.now - a.since_ms;
        if dt > 0 && self.snapshot[agent].status == AgentStatus::Available {
            a.duty_ms += dt;
        }
        a.since_ms = self.now;
    }

    fn assign(&mut self, slot: usize, agent: usize) {
        self.dequeue(slot);
        let Some(ticket) = self.tickets[slot].as_ref() else { return };
        let level = self.level_of(&self.snapshot[agent], &ticket.skill);
        if level < ticket.complexity {
            self.below_complexity += 1;
        }
        if ticket.tier == Some(Tier::Basic)
            && self.snapshot[agent].level(&ticket.skill) == Some(3)
            && self
                .snapshot
                .iter()
                .enumerate()
                .any(|(i, a)| i != agent && a.can_take_work() && a.level(&ticket.skill) == Some(1))
        {
            self.senior_on_basic += 1;
        }
        self.account(agent);
        {
            let s = &mut self.snapshot[agent];
            s.open_tickets += 1;
            s.idle_since_ms = self.now;
        }
        let Some(ticket) = self.tickets[slot].as_mut() else { return };
        ticket.agent = Some(agent);
        ticket.epoch += 1;
        self.agents[agent].held.push_back(slot);
        if self.agents[agent].current.is_none() {
            self.start_next(agent);
        }
    }

    /// The agent turns to the next ticket they hold: they answer it 20–120 s
    /// later, then work on it (or, below its complexity, try for half the
    /// time and hand it back).
    fn start_next(&mut self, agent: usize) {
        let Some(slot) = self.agents[agent].held.pop_front() else { return };
        self.agents[agent].current = Some((slot, self.now));
        let Some(ticket) = self.tickets[slot].as_ref() else { return };
        let level = self.level_of(&self.snapshot[agent], &ticket.skill);
        let answer_at = self.now + 20_000 + (self.rng.random::<f64>() * 100_000.0) as i64;
        let (kind, took) = if level >= ticket.complexity {
            // A more senior agent is quicker: 15 % per level above.
            let fit = 1.0 - 0.15 * f64::from(level - ticket.complexity);
            (Kind::Finish, (ticket.work_ms as f64 * fit) as i64)
        } else if self.best_level(&ticket.skill) > level {
            // Below the complexity while someone more senior exists.
            (Kind::Escalate, ticket.work_ms / 2)
        } else {
            // Nobody is more senior: they do it, half again as slowly per
            // missing level.
            let fit = 1.0 + 0.5 * f64::from(ticket.complexity - level);
            (Kind::Finish, (ticket.work_ms as f64 * fit) as i64)
        };
        let Some(ticket) = self.tickets[slot].as_mut() else { return };
        ticket.done = (answer_at + took.max(1), kind);
        let epoch = ticket.epoch;
        self.push(answer_at, Kind::Answer, slot, epoch);
    }

    /// Takes the ticket from its agent, who turns to their next one if it
    /// was the one they were on.
    fn release(&mut self, slot: usize) {
        let Some(agent) = self.tickets[slot].as_mut().and_then(|t| t.agent.take()) else { return };
        self.account(agent);
        let s = &mut self.snapshot[agent];
        s.open_tickets = s.open_tickets.saturating_sub(1);
        s.idle_since_ms = self.now;
        let a = &mut self.agents[agent];
        match a.current {
            Some((current, since)) if current == slot => {
                a.worked_ms += self.now - since;
                a.current = None;
                self.start_next(agent);
            }
            _ => a.held.retain(|held| *held != slot),
        }
    }

    fn handle(&mut self, event: Event) {
        self.set_now(event.at);
        if event.kind == Kind::Shift {
            self.shift_change();
            return;
        }
        let Some(ticket) = self.tickets.get(event.slot).and_then(Option::as_ref) else { return };
        // A ticket resolved since (its slot reused), or changed hands since.
        if ticket.id != event.ticket || (event.kind != Kind::Override && ticket.epoch != event.epoch) {
            return;
        }
        match event.kind {
            Kind::Answer => self.answer(event.slot),
            Kind::Finish => self.resolve(event.slot),
            Kind::Escalate => self.escalate(event.slot),
            Kind::Override => self.premium_override(event.slot),
            Kind::Shift => {}
        }
    }

    fn answer(&mut self, slot: usize) {
        let now = self.now;
        let Some(ticket) = self.tickets[slot].as_mut() else { return };
        let Some(agent) = ticket.agent else { return };
        if !ticket.answered {
            ticket.answered = true;
            self.first_response[Tier::slot(ticket.tier)]
                .saturating_record((now - ticket.arrival_ms).max(1) as u64);
        }
        let _ = agent;
        let (end, kind) = ticket.done;
        let took = end - now;
        let epoch = ticket.epoch;
        let work_ms = ticket.work_ms;
        self.push(end, kind, slot, epoch);
        // The customer's messages copied into the topic: one per 5 minutes
        // of work, spread over it.
        let messages = (work_ms / 300_000).clamp(1, 20);
        for k in 0..messages {
            self.group_message(now + took * k / messages, 1);
        }
    }

    fn resolve(&mut self, slot: usize) {
        let now = self.now;
        self.release(slot);
        if let Some(ticket) = self.tickets[slot].take() {
            self.resolution[Tier::slot(ticket.tier)]
                .saturating_record((now - ticket.arrival_ms).max(1) as u64);
        }
        self.free.push(slot);
        self.resolved += 1;
        // The closing line.
        self.group_message(now, 1);
        self.drain();
    }

    fn escalate(&mut self, slot: usize) {
        self.release(slot);
        let Some(ticket) = self.tickets[slot].as_mut() else { return };
        self.escalations += 1;
        if !ticket.escalated {
            ticket.escalated = true;
            self.escalated_tickets += 1;
        }
        let (complexity, skill) = (ticket.complexity, ticket.skill.clone());
        // To someone at the ticket's level, or the most senior there is.
        let best = self.best_level(&skill).max(1);
        let Some(ticket) = self.tickets[slot].as_mut() else { return };
        ticket.needs_level = complexity.min(best);
        ticket.epoch += 1;
        // The fresh note.
        self.group_message(self.now, 1);
        if !self.place(slot) {
            self.enqueue(slot);
        }
        self.drain();
    }

    /// The live override's pick: the next available agent, whatever their
    /// skills, for a premium ticket nobody has answered in time.
    fn premium_override(&mut self, slot: usize) {
        let Some(ticket) = self.tickets[slot].as_ref() else { return };
        if ticket.answered {
            return;
        }
        let Some(after) = self.options.override_after_ms else { return };
        let current = ticket.agent.map(|a| self.snapshot[a].id);
        let Some(pick) = override_pick(&self.snapshot, current).map(|a| a.id) else {
            let epoch = ticket.epoch;
            self.push(self.now + OVERRIDE_RETRY_MS, Kind::Override, slot, epoch);
            return;
        };
        let Some(agent) = self.snapshot.iter().position(|a| a.id == pick) else { return };
        self.overrides += 1;
        self.release(slot);
        self.assign(slot, agent);
        // A fresh note; the deadline starts again from this assignment.
        self.group_message(self.now, 1);
        let epoch = self.tickets[slot].as_ref().map_or(0, |t| t.epoch);
        self.push(self.now + after, Kind::Override, slot, epoch);
        self.drain();
    }

    fn shift_change(&mut self) {
        for i in 0..self.agents.len() {
            let on = self.agents[i].roster.on_duty(self.now);
            let status = if on { AgentStatus::Available } else { AgentStatus::Offline };
            if self.snapshot[i].status != status {
                self.account(i);
                self.snapshot[i].status = status;
                if on {
                    self.snapshot[i].idle_since_ms = self.now;
                }
            }
        }
        self.schedule_next_shift(self.now);
        self.drain();
    }

    /// Gives waiting tickets, by priority then age, to agents who can take
    /// them, until nobody can take more.
    fn drain(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let waiting: Vec<usize> = self.queue.iter().map(|(_, _, slot)| *slot).collect();
        for slot in waiting {
            if !self.snapshot.iter().any(AgentSnapshot::can_take_work) {
                break;
            }
            self.place(slot);
        }
    }

    fn report(mut self) -> Report {
        for i in 0..self.agents.len() {
            self.account(i);
        }
        self.set_now(i64::MAX / 2);
        let percentiles = |h: &Histogram<u64>| {
            (!h.is_empty()).then(|| Percentiles {
                count: h.len(),
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
            })
        };
        let mut first_response = [None; 4];
        let mut resolution = [None; 4];
        for i in 0..4 {
            first_response[i] = percentiles(&self.first_response[i]);
            resolution[i] = percentiles(&self.resolution[i]);
        }
        let mut utilisation = [None; 3];
        for (level, slot) in utilisation.iter_mut().enumerate() {
            let (busy, duty) = self
                .agents
                .iter()
                .filter(|a| usize::from(a.max_level) == level + 1)
                .fold((0i64, 0i64), |(w, d), a| (w + a.worked_ms, d + a.duty_ms));
            *slot = (duty > 0).then(|| (busy as f64 / duty as f64).min(1.0));
        }
        Report {
            policy: self.options.policy.as_str(),
            tickets: self.tickets_in,
            unresolved: self.tickets_in - self.resolved,
            first_response,
            resolution,
            escalations: self.escalations,
            escalated_share: if self.tickets_in == 0 {
                0.0
            } else {
                self.escalated_tickets as f64 / self.tickets_in as f64
            },
            premium_overrides: self.overrides,
            misroutes_senior_on_basic: self.senior_on_basic,
            misroutes_below_complexity: self.below_complexity,
            utilisation_by_level: utilisation,
            group_messages_p50: if !self.group_counts.is_empty() {
                self.group_counts.value_at_quantile(0.5)
            } else {
                0
            },
            group_messages_peak: self.group_peak,
            group_minutes_over_limit: self.group_over,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SkillLevel;

    fn agent(id: i64, skills: &str, capacity: u32, shift: Option<(u32, u32)>) -> RosterAgent {
        RosterAgent {
            id,
            name: format!("A{id}"),
            skills: skills.split(';').map(|s| SkillLevel::parse(s).expect("skill")).collect(),
            capacity,
            shift,
        }
    }

    fn ticket(at_s: i64, tier: Option<Tier>, skill: &str, complexity: u8, work_min: i64) -> TraceTicket {
        TraceTicket {
            arrival_ms: at_s * 1000,
            tier,
            category: skill.into(),
            skill: SkillName::parse(skill).expect("skill"),
            complexity,
            work_ms: work_min * 60_000,
        }
    }

    fn run(
        roster: &[RosterAgent],
        policy: Policy,
        override_min: Option<i64>,
        trace: Vec<TraceTicket>,
    ) -> Report {
        let options = Options { policy, override_after_ms: override_min.map(|m| m * 60_000), seed: 7 };
        let mut trace = trace.into_iter();
        Simulation::new(roster, options).run(|| Ok(trace.next())).expect("run")
    }

    #[test]
    fn skills_routing_sends_premium_to_the_senior_and_basic_to_the_junior() {
        // The junior is first in the roster: round-robin gives them the premium problem.
        let roster = [agent(1, "billing:1", 5, None), agent(2, "billing:3", 5, None)];
        let trace = vec![
            ticket(0, Some(Tier::Premium), "billing", 3, 10),
            ticket(1, Some(Tier::Basic), "billing", 1, 5),
        ];
        let skills = run(&roster, Policy::Skills, None, trace.clone());
        assert_eq!((skills.escalations, skills.misroutes_below_complexity, skills.unresolved), (0, 0, 0));
        let rr = run(&roster, Policy::RoundRobin, None, trace);
        assert_eq!(rr.escalations, 1, "the junior hands the premium problem back");
        assert_eq!(rr.misroutes_below_complexity, 1);
        assert_eq!(
            rr.misroutes_senior_on_basic, 1,
            "the basic ticket went to the senior, the junior could take it"
        );
        assert_eq!(skills.misroutes_senior_on_basic, 0);
        assert_eq!(rr.escalated_share, 0.5);
        assert_eq!((rr.tickets, rr.unresolved), (2, 0));
        // The escalated ticket took longer to resolve.
        let (s, r) = (skills.resolution[0].expect("premium"), rr.resolution[0].expect("premium"));
        assert!(r.p50 > s.p50 + 4 * 60_000, "{r:?} vs {s:?}");
    }

    #[test]
    fn the_premium_override_moves_a_ticket_nobody_answered() {
        // The senior is busy for an hour; the premium ticket waits behind it
        // until the override gives it to the generalist.
        let roster = [agent(1, "billing:3", 5, None), agent(2, "general:1", 5, None)];
        let trace = vec![
            ticket(0, Some(Tier::Standard), "billing", 3, 60),
            ticket(10, Some(Tier::Premium), "billing", 1, 5),
        ];
        let with = run(&roster, Policy::Skills, Some(5), trace.clone());
        assert_eq!(with.premium_overrides, 1);
        let frt = with.first_response[0].expect("premium answered");
        assert!((5 * 60_000..5 * 60_000 + 121_000).contains(&(frt.p50 as i64)), "{frt:?}");
        let without = run(&roster, Policy::Skills, None, trace);
        assert_eq!(without.premium_overrides, 0);
        assert!(without.first_response[0].expect("answered").p50 > 50 * 60_000, "waited for the senior");
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let roster = [agent(1, "billing:2;general:1", 3, None), agent(2, "billing:1", 3, None)];
        let trace: Vec<TraceTicket> = (0..200)
            .map(|i| ticket(i * 90, Some(Tier::Standard), "billing", (i % 3) as u8 + 1, 4 + i % 7))
            .collect();
        assert_eq!(
            run(&roster, Policy::Skills, Some(5), trace.clone()),
            run(&roster, Policy::Skills, Some(5), trace)
        );
    }

    #[test]
    fn nobody_is_served_outside_their_shift() {
        // On duty 01:00–02:00; the ticket comes at 00:00.
        let roster = [agent(1, "general:1", 5, Some((60, 120)))];
        let report = run(&roster, Policy::LeastLoaded, None, vec![ticket(0, None, "general", 1, 5)]);
        let frt = report.first_response[3].expect("answered");
        assert!((3_600_000..3_600_000 + 121_000).contains(&(frt.p50 as i64)), "{frt:?}");
        assert!(report.utilisation_by_level[0].expect("on duty") > 0.0);
    }

    #[test]
    fn the_group_budget_counts_messages_per_minute() {
        // 15 tickets in the first minute: a topic and a note each (30 > 20).
        let roster = [agent(1, "general:1", 50, None)];
        let trace = (0..15).map(|i| ticket(i, None, "general", 1, 1)).collect();
        let report = run(&roster, Policy::LeastLoaded, None, trace);
        assert!(report.group_messages_peak >= 30, "{report:?}");
        assert!(report.group_minutes_over_limit >= 1);
    }

    #[test]
    fn memory_follows_the_open_tickets_not_the_trace() {
        let roster = [agent(1, "general:3", 5, None), agent(2, "general:3", 5, None)];
        let options = Options { policy: Policy::Skills, override_after_ms: Some(300_000), seed: 1 };
        let mut simulation = Simulation::new(&roster, options);
        for i in 0..50_000 {
            simulation.feed(ticket(i * 600, Some(Tier::Premium), "general", 1, 3));
        }
        assert!(simulation.tickets.len() < 10, "{} slots for 50,000 tickets", simulation.tickets.len());
        let report = simulation.finish();
        assert_eq!((report.tickets, report.unresolved), (50_000, 0));
    }
}
