//! `topicdesk simulate` (DESIGN §16): replay a ticket trace, or this desk's
//! own history, against routing policies, side by side.
//!
//! ```text
//! topicdesk simulate --tickets TRACE.csv --agents ROSTER.csv [--policy skills|round-robin|least-loaded ...]
//!                    [--override-after 5m|off] [--seed N] [--json]
//!                    [--compare TRACE2.csv [--compare-agents ROSTER2.csv]]
//! topicdesk simulate --from-db --period 30d --agents ROSTER.csv ...
//! topicdesk simulate generate --hours H --tickets-per-hour N [--volume X] [--mix premium=0.2,...] [--seed N]
//! ```
//!
//! Bad input stops with one line (the file, the line, the field) and exit
//! status 2.

pub mod engine;
pub mod generate;
pub mod history;
pub mod input;
pub mod report;

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use crate::domain::Category;
use engine::{Options, Policy, Report, Simulation};
use input::{InputError, TraceReader};

/// What the command line asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub tickets: Option<PathBuf>,
    pub agents: Option<PathBuf>,
    pub policies: Vec<Policy>,
    pub override_after: Option<Duration>,
    /// The override for the baselines too (by default only `skills` has it,
    /// as the case study's round-robin had none).
    pub override_all: bool,
    pub seed: u64,
    pub json: bool,
    pub compare: Option<PathBuf>,
    pub compare_agents: Option<PathBuf>,
    pub from_db: bool,
    pub period: Duration,
}

const USAGE: &str = "usage: topicdesk simulate --tickets TRACE.csv --agents ROSTER.csv \
[--policy skills|round-robin|least-loaded ...] [--override-after 5m|off] [--override-all] [--seed N] [--json] \
[--compare TRACE2.csv [--compare-agents ROSTER2.csv]]\n\
       topicdesk simulate --from-db --period 30d --agents ROSTER.csv [...]\n\
       topicdesk simulate generate --hours H --tickets-per-hour N [--volume X] \
[--mix premium=0.2,standard=0.5,basic=0.3] [--categories billing=0.4,...] [--seed N]";

/// A usage error: one line, exit 2.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage(pub String);

fn value<'a>(flag: &str, args: &mut impl Iterator<Item = &'a String>) -> Result<&'a str, Usage> {
    args.next().map(String::as_str).ok_or_else(|| Usage(format!("{flag} needs a value")))
}

/// Reads the arguments after `simulate`.
pub fn parse_args(raw: &[String]) -> Result<Args, Usage> {
    let mut args = Args {
        tickets: None,
        agents: None,
        policies: Vec::new(),
        override_after: Some(Duration::from_secs(300)),
        override_all: false,
        seed: 1,
        json: false,
        compare: None,
        compare_agents: None,
        from_db: false,
        period: Duration::from_secs(30 * 86_400),
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--tickets" => args.tickets = Some(value(flag, &mut it)?.into()),
            "--agents" => args.agents = Some(value(flag, &mut it)?.into()),
            "--policy" => {
                for name in value(flag, &mut it)?.split(',') {
                    let policy = Policy::parse(name.trim()).ok_or_else(|| {
                        Usage(format!("--policy {name:?}: not skills, round-robin or least-loaded"))
                    })?;
                    if !args.policies.contains(&policy) {
                        args.policies.push(policy);
                    }
                }
            }
            "--override-after" => {
                let raw = value(flag, &mut it)?;
                args.override_after = match raw {
                    "off" | "0" | "0s" => None,
                    other => Some(humantime::parse_duration(other).map_err(|_| {
                        Usage(format!("--override-after {other:?}: not a duration such as 5m, or off"))
                    })?),
                };
            }
            "--seed" => {
                let raw = value(flag, &mut it)?;
                args.seed = raw.parse().map_err(|_| Usage(format!("--seed {raw:?}: not a whole number")))?;
            }
            "--json" => args.json = true,
            "--override-all" => args.override_all = true,
            "--compare" => args.compare = Some(value(flag, &mut it)?.into()),
            "--compare-agents" => args.compare_agents = Some(value(flag, &mut it)?.into()),
            "--from-db" => args.from_db = true,
            "--period" => {
                let raw = value(flag, &mut it)?;
                args.period = crate::insights::period::parse(raw)
                    .map_err(|_| Usage(format!("--period {raw:?}: not a duration such as 30d")))?;
            }
            "-h" | "--help" => return Err(Usage(USAGE.to_owned())),
            other => return Err(Usage(format!("unknown argument {other:?}\n{USAGE}"))),
        }
    }
    if args.agents.is_none() {
        return Err(Usage(format!("--agents is required\n{USAGE}")));
    }
    if args.tickets.is_some() == args.from_db {
        return Err(Usage(format!("give either --tickets TRACE.csv or --from-db\n{USAGE}")));
    }
    if args.policies.is_empty() {
        args.policies = vec![Policy::RoundRobin, Policy::LeastLoaded, Policy::Skills];
    }
    Ok(args)
}

/// The desk's categories (`CATEGORIES`, or the default).
fn categories() -> Result<Vec<Category>, Usage> {
    let raw = std::env::var("CATEGORIES").unwrap_or_else(|_| crate::config::DEFAULT_CATEGORIES.to_owned());
    crate::config::parse_categories(&raw).map_err(|e| Usage(e.to_string()))
}

/// A run's options: the premium override applies to `skills` (and to the
/// baselines with `--override-all`).
pub fn options(args: &Args, policy: Policy) -> Options {
    let with_override = policy == Policy::Skills || args.override_all;
    Options {
        policy,
        override_after_ms: args
            .override_after
            .filter(|_| with_override)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        seed: args.seed,
    }
}

/// One scenario (a trace and a roster) under every policy.
fn run_scenario(
    args: &Args,
    trace: &std::path::Path,
    roster: &std::path::Path,
) -> Result<Vec<Report>, InputError> {
    let categories = categories().map_err(|Usage(why)| InputError {
        file: "CATEGORIES".into(),
        line: 0,
        field: String::new(),
        why,
    })?;
    let agents = input::read_roster(roster, &categories)?;
    let mut reports = Vec::new();
    for policy in &args.policies {
        let options = options(args, *policy);
        let mut reader = TraceReader::open(trace, &categories)?;
        reports.push(Simulation::new(&agents, options).run(|| reader.next_ticket())?);
    }
    Ok(reports)
}

/// `topicdesk simulate …`: prints the table (or JSON); 2 on bad input.
pub fn main(raw: &[String]) -> ExitCode {
    if raw.first().map(String::as_str) == Some("generate") {
        return generate::main(&raw[1..]);
    }
    let args = match parse_args(raw) {
        Ok(args) => args,
        Err(Usage(why)) => {
            eprintln!("topicdesk simulate: {why}");
            return ExitCode::from(2);
        }
    };
    let roster = args.agents.clone().unwrap_or_default();
    let mut scenarios: Vec<(String, Vec<Report>)> = Vec::new();
    let first = if args.from_db {
        history::run(&args, &roster)
    } else {
        let trace = args.tickets.clone().unwrap_or_default();
        run_scenario(&args, &trace, &roster).map_err(|e| e.to_string())
    };
    match first {
        Ok(reports) => scenarios.push((scenario_name(&args, args.tickets.as_deref()), reports)),
        Err(why) => {
            eprintln!("topicdesk simulate: {why}");
            return ExitCode::from(2);
        }
    }
    if let Some(compare) = &args.compare {
        let roster = args.compare_agents.clone().unwrap_or(roster);
        match run_scenario(&args, compare, &roster) {
            Ok(reports) => scenarios.push((scenario_name(&args, Some(compare)), reports)),
            Err(error) => {
                eprintln!("topicdesk simulate: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let out = if args.json { report::json(&scenarios) } else { report::table(&scenarios) };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{out}");
    ExitCode::SUCCESS
}

fn scenario_name(args: &Args, trace: Option<&std::path::Path>) -> String {
    match trace {
        Some(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        None if args.from_db => format!("history {}", crate::insights::period::label(args.period)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Args, Usage> {
        parse_args(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_are_read_with_clear_errors() {
        let a = args("--tickets t.csv --agents r.csv --policy skills --policy round-robin --seed 7 --json")
            .expect("ok");
        assert_eq!(a.policies, vec![Policy::Skills, Policy::RoundRobin]);
        assert_eq!((a.seed, a.json, a.override_after), (7, true, Some(Duration::from_secs(300))));
        let a = args("--tickets t.csv --agents r.csv --override-after off").expect("ok");
        assert_eq!(a.override_after, None);
        assert_eq!(a.policies.len(), 3, "all three by default");
        assert!(args("--tickets t.csv").expect_err("no roster").0.starts_with("--agents is required"));
        assert!(args("--agents r.csv").expect_err("no trace").0.starts_with("give either"));
        assert!(args("--tickets t --from-db --agents r").expect_err("both").0.starts_with("give either"));
        assert_eq!(
            args("--tickets t --agents r --policy fifo").expect_err("bad").0,
            "--policy \"fifo\": not skills, round-robin or least-loaded"
        );
        assert!(args("--tickets t --agents r --seed x").is_err());
        assert!(args("--tickets t --agents r --override-after soon").is_err());
        assert!(args("--tickets t --agents r --bogus").expect_err("bad").0.starts_with("unknown argument"));
        assert!(args("--tickets").expect_err("bad").0.starts_with("--tickets needs a value"));
    }
}
