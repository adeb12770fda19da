//! Throughput of the pure router (`topicdesk::routing::route`) on a realistic
//! roster of 50 agents, on one core.
//!
//! Target (issue): at least 1,000,000 decisions per second for 50 agents.
//!
//! ```sh
//! cargo bench --bench router
//! ```
//!
//! The roster and the requests are fixed (seeded), so runs are comparable.
//! Each decision is timed as the bot uses it: the `Decision` (with its
//! reason, which clones the skill and the agent's name) is built and dropped.
//! Inputs and outputs go through `std::hint::black_box` so nothing is
//! hoisted out of the loop or optimised away. The result is printed as PASS
//! or MISS; the benchmark never fails the build.

use std::{
    collections::BTreeMap,
    hint::black_box,
    time::{Duration, Instant},
};

use topicdesk::{
    domain::{SkillLevel, SkillName, Tier},
    routing::{
        AgentSnapshot, AgentStatus, CustomerProfile, Decision, Enrichment, Outcome, RoutingPolicy, Rule,
        route,
    },
};

const AGENTS: usize = 50;
const ROUNDS: usize = 5;
const DECISIONS_PER_ROUND: usize = 2_000_000;
const WARM_UP: Duration = Duration::from_millis(500);
const TARGET_PER_SEC: f64 = 1_000_000.0;
/// An agent id that is not on the roster (a stale `preferred_agent_id`).
const UNKNOWN_AGENT: i64 = 9_999;

/// A small deterministic generator (xorshift64*), so the roster is the same
/// on every run without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn skill(name: &str) -> SkillName {
    SkillName::parse(name).expect("valid skill name")
}

/// 50 agents: ~60 % available, ~25 % away, ~15 % offline; capacity 3–8 with
/// some at capacity; 1–3 distinct skills of billing/technical/general/account
/// at levels 1–3; every agent idle since a different moment.
fn roster() -> Vec<AgentSnapshot> {
    const SKILLS: [&str; 4] = ["billing", "technical", "general", "account"];
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    // Distinct idle times: a shuffled permutation of 0..AGENTS, in seconds.
    let mut idle: Vec<i64> = (0..AGENTS as i64).collect();
    for i in (1..idle.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        idle.swap(i, j);
    }
    let now_ms: i64 = 1_795_000_000_000;
    (0..AGENTS)
        .map(|i| {
            let status = match rng.below(20) {
                0..=11 => AgentStatus::Available,
                12..=16 => AgentStatus::Away,
                _ => AgentStatus::Offline,
            };
            let capacity = 3 + rng.below(6) as u32; // 3..=8
            // Loads 0..=capacity: about one agent in seven is full.
            let open_tickets = rng.below(u64::from(capacity) + 1) as u32;
            let count = 1 + rng.below(3) as usize; // 1..=3 skills
            let mut names: Vec<&str> = SKILLS.to_vec();
            let mut skills = Vec::with_capacity(count);
            for _ in 0..count {
                let name = names.remove(rng.below(names.len() as u64) as usize);
                let level = 1 + rng.below(3) as u8;
                skills.push(SkillLevel { name: skill(name), level });
            }
            AgentSnapshot {
                id: 100 + i as i64,
                name: format!("Agent {:02}", i + 1),
                status,
                capacity,
                open_tickets,
                skills,
                idle_since_ms: now_ms - 1_000 * (1 + idle[i]),
            }
        })
        .collect()
}

/// What the router is asked: the required skill and what the CRM said.
type Request = (SkillName, Enrichment);

fn profile(tier: Option<Tier>, preferred: Option<i64>) -> Enrichment {
    Enrichment::Profile(CustomerProfile {
        tier,
        order_count: Some(7),
        preferred_agent_id: preferred,
        reason: Some("Returning customer".to_owned()),
        ..Default::default()
    })
}

/// The rotating requests: every customer kind × billing/technical/general.
fn requests(agents: &[AgentSnapshot]) -> Vec<Request> {
    let billing = skill("billing");
    // A preferred agent who can take a billing ticket, and one who is not available.
    let eligible = agents.iter().find(|a| a.is_eligible_for(&billing)).expect("an eligible billing agent").id;
    let away = agents.iter().find(|a| a.status != AgentStatus::Available).expect("an unavailable agent").id;
    let customers = [
        profile(Some(Tier::Premium), None),
        profile(Some(Tier::Standard), None),
        profile(Some(Tier::Basic), None),
        profile(Some(Tier::Premium), Some(eligible)),
        profile(Some(Tier::Standard), Some(UNKNOWN_AGENT)),
        profile(Some(Tier::Basic), Some(away)),
        profile(None, None),
        Enrichment::NotConfigured,
        Enrichment::Unavailable("timeout after 5s".to_owned()),
    ];
    let mut out = Vec::new();
    for name in ["billing", "technical", "general"] {
        for enrichment in &customers {
            out.push((skill(name), enrichment.clone()));
        }
    }
    out
}

/// Requests that reach the generalist pool (no available specialist) and
/// the queue (nobody can take work), on the same 50 agents.
fn worst_cases(agents: &[AgentSnapshot]) -> Vec<(&'static str, Vec<Request>, Vec<AgentSnapshot>)> {
    let enrichments = [
        profile(Some(Tier::Premium), None),
        profile(Some(Tier::Basic), Some(UNKNOWN_AGENT)),
        Enrichment::NotConfigured,
    ];
    // Every billing specialist is away: billing tickets fall to the generalists.
    let mut billing_away = agents.to_vec();
    for agent in &mut billing_away {
        if agent.level(&skill("billing")).is_some() {
            agent.status = AgentStatus::Away;
        }
    }
    // Everyone is at capacity: every ticket is queued.
    let mut full = agents.to_vec();
    for agent in &mut full {
        agent.open_tickets = agent.capacity;
    }
    let billing: Vec<_> = enrichments.iter().map(|e| (skill("billing"), e.clone())).collect();
    let cases = vec![
        ("worst case, generalist pool (billing specialists away)", billing.clone(), billing_away),
        ("worst case, queued (every agent at capacity)", billing, full),
    ];
    let policy = RoutingPolicy::default();
    for ((_, requests, roster), expected) in cases.iter().zip([Rule::GeneralistPool, Rule::Queued]) {
        for (skill, enrichment) in requests {
            assert_eq!(route(skill, enrichment, roster, &policy).reason.rule, expected);
        }
    }
    cases
}

/// Runs `count` decisions cycling through `requests`; returns the elapsed time
/// and a checksum of the outcomes (so the work is observable).
fn run(count: usize, requests: &[Request], agents: &[AgentSnapshot]) -> (Duration, i64) {
    let policy = RoutingPolicy::default();
    let mut checksum = 0i64;
    let mut done = 0;
    let start = Instant::now();
    while done < count {
        let batch = requests.len().min(count - done);
        for (skill, enrichment) in &requests[..batch] {
            let decision: Decision =
                route(black_box(skill), black_box(enrichment), black_box(agents), black_box(&policy));
            let decision = black_box(decision);
            checksum = checksum.wrapping_add(match decision.outcome {
                Outcome::Assign(id) => id,
                Outcome::Queue => -1,
            });
        }
        done += batch;
    }
    (start.elapsed(), black_box(checksum))
}

fn median_of(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn main() {
    let agents = roster();
    let requests = requests(&agents);

    let available = agents.iter().filter(|a| a.status == AgentStatus::Available).count();
    let with_room = agents.iter().filter(|a| a.can_take_work()).count();
    println!(
        "router: roster of {} agents ({available} available, {with_room} available with room), {} rotating requests",
        agents.len(),
        requests.len()
    );
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    for (skill, enrichment) in &requests {
        let decision = route(skill, enrichment, &agents, &RoutingPolicy::default());
        *rules.entry(decision.reason.rule.as_str()).or_default() += 1;
    }
    let mix: Vec<String> = rules.iter().map(|(rule, n)| format!("{rule} {n}")).collect();
    println!("router: rules taken over one rotation: {}", mix.join(", "));

    // Warm up caches, the allocator and the CPU clock.
    let warm_start = Instant::now();
    let mut warm = 0;
    while warm_start.elapsed() < WARM_UP {
        run(100_000, &requests, &agents);
        warm += 100_000;
    }
    println!("router: warm-up {warm} decisions in {:.2?}", warm_start.elapsed());

    let mut rates = Vec::with_capacity(ROUNDS);
    for round in 1..=ROUNDS {
        let (elapsed, _) = run(DECISIONS_PER_ROUND, &requests, &agents);
        let per_sec = DECISIONS_PER_ROUND as f64 / elapsed.as_secs_f64();
        let ns = elapsed.as_nanos() as f64 / DECISIONS_PER_ROUND as f64;
        println!(
            "router: round {round}: {DECISIONS_PER_ROUND} decisions in {:>8.2?}  {:>12.0} decisions/s  {ns:>7.1} ns/decision",
            elapsed, per_sec
        );
        rates.push(per_sec);
    }
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let median = median_of(&mut rates);
    println!(
        "router: median {:.0} decisions/s, {:.1} ns/decision (rounds: min {:.0}, max {:.0}, spread {:.1} %)",
        median,
        1e9 / median,
        min,
        max,
        (max - min) / median * 100.0
    );

    // The paths the realistic mix rarely takes: two passes over the roster.
    // Informational; the target is judged on the mix above.
    for (label, requests, agents) in worst_cases(&agents) {
        let mut rates: Vec<f64> = (0..3)
            .map(|_| {
                let (elapsed, _) = run(1_000_000, &requests, &agents);
                1_000_000.0 / elapsed.as_secs_f64()
            })
            .collect();
        let median = median_of(&mut rates);
        println!("router: {label}: median {median:.0} decisions/s, {:.1} ns/decision", 1e9 / median);
    }

    let verdict = if median >= TARGET_PER_SEC { "PASS" } else { "MISS" };
    println!("router: {median:.0} decisions/s (target >= {TARGET_PER_SEC:.0}) {verdict}");
}
