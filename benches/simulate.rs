//! The routing simulator (issue 13): 1,000,000 tickets over 50 agents, one
//! policy, in under 5 s on one core; memory grows with the agents and the
//! open tickets, not with the trace (peak RSS for 1M tickets within 10 MB of
//! that for 10k).
//!
//! Run: `cargo bench --bench simulate`. The traces are generated first
//! (`topicdesk simulate generate`'s code) into temporary files; the timed
//! part reads them as the command does, streamed, through the live router.

#[path = "support/memory.rs"]
mod memory;

use std::{path::Path, time::Instant};

use topicdesk::simulate::{
    engine::{Options, Policy, Simulation},
    generate::{Spec, write},
    input::{TraceReader, read_roster},
};

fn roster(path: &Path) {
    let mut text = String::from("agent_id,name,skills,capacity,shift\n");
    for i in 1..=50 {
        let skills = match i % 5 {
            0 => format!("billing:{};general:1", 1 + i % 3),
            1 => format!("technical:{};general:1", 1 + i % 3),
            2 => format!("billing:{};technical:1;general:2", 1 + i % 3),
            3 => "general:1".to_owned(),
            _ => format!("technical:{};billing:1;general:1", 1 + (i + 1) % 3),
        };
        text.push_str(&format!("{i},Agent {i},{skills},5,\n"));
    }
    std::fs::write(path, text).expect("roster");
}

fn trace(path: &Path, tickets: u64) {
    // 150 tickets an hour is about 60 % of what 50 agents can do here.
    let hours = tickets as f64 / 150.0;
    let spec = Spec {
        hours,
        tickets_per_hour: 150.0,
        volume: 1.0,
        mix: [0.2, 0.5, 0.3, 0.0],
        categories: vec![("billing".into(), 0.4), ("technical".into(), 0.35), ("account".into(), 0.25)],
        seed: 3,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("trace"));
    write(&spec, file).expect("write trace");
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let categories =
        topicdesk::config::parse_categories(topicdesk::config::DEFAULT_CATEGORIES).expect("categories");
    let roster_path = dir.path().join("agents.csv");
    roster(&roster_path);
    let agents = read_roster(&roster_path, &categories).expect("roster");
    let small = dir.path().join("10k.csv");
    let large = dir.path().join("1m.csv");
    let t = Instant::now();
    trace(&small, 10_000);
    trace(&large, 1_000_000);
    println!("traces written in {:.1?}", t.elapsed());

    memory::check_peak_follows_rss();

    let mut peaks = Vec::new();
    for (label, path) in [("10k", &small), ("1M", &large), ("10k", &small), ("1M", &large)] {
        memory::reset_peak();
        let options = Options { policy: Policy::Skills, override_after_ms: Some(300_000), seed: 1 };
        let mut reader = TraceReader::open(path, &categories).expect("trace");
        let t = Instant::now();
        let report = Simulation::new(&agents, options).run(|| reader.next_ticket()).expect("run");
        let took = t.elapsed();
        let (_, peak) = memory::rss_kib();
        peaks.push((label, peak));
        println!(
            "{label}: {} tickets, skills policy, 50 agents: {:.2?} ({}), {:.0} tickets/s; peak RSS {:.1} MB; \
             unresolved {}, escalations {}, overrides {}, premium FRT p90 {:.1} min",
            report.tickets,
            took,
            if label == "10k" || took.as_secs_f64() < 5.0 { "PASS" } else { "MISS >= 5 s" },
            report.tickets as f64 / took.as_secs_f64(),
            peak as f64 / 1024.0,
            report.unresolved,
            report.escalations,
            report.premium_overrides,
            report.first_response[0].map_or(0.0, |p| p.p90 as f64 / 60_000.0),
        );
    }
    let small_peak = peaks.iter().filter(|(l, _)| *l == "10k").map(|(_, p)| *p).max().unwrap_or(0);
    let large_peak = peaks.iter().filter(|(l, _)| *l == "1M").map(|(_, p)| *p).max().unwrap_or(0);
    let growth = large_peak.saturating_sub(small_peak) as f64 / 1024.0;
    println!(
        "peak RSS 1M vs 10k: {:.1} MB vs {:.1} MB, +{growth:.1} MB ({})",
        large_peak as f64 / 1024.0,
        small_peak as f64 / 1024.0,
        if growth < 10.0 { "PASS < 10 MB" } else { "MISS >= 10 MB" }
    );
}
