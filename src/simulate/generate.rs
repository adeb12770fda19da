//! `topicdesk simulate generate`: a synthetic trace (DESIGN §16) on
//! standard output, the same for the same seed.
//!
//! Arrivals are a Poisson process at `tickets-per-hour × volume`; each
//! ticket draws its tier from `--mix`, its category from `--categories`
//! (default: the desk's categories, equally), its complexity from its tier
//! (premium problems are harder: 15 / 35 / 50 % at levels 1 / 2 / 3;
//! standard 30 / 50 / 20 %; basic 70 / 25 / 5 %) and its work from its
//! complexity (4, 10 or 20 minutes, ×0.5–1.5).

use std::{io::Write, process::ExitCode};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Usage;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub hours: f64,
    pub tickets_per_hour: f64,
    pub volume: f64,
    /// Shares of premium, standard, basic, unknown.
    pub mix: [f64; 4],
    /// Category names and their shares.
    pub categories: Vec<(String, f64)>,
    pub seed: u64,
}

fn positive(flag: &str, raw: &str) -> Result<f64, Usage> {
    raw.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| Usage(format!("{flag} {raw:?}: not a number above 0")))
}

/// `premium=0.2,standard=0.5` → shares (normalised to 1).
fn shares(flag: &str, raw: &str) -> Result<Vec<(String, f64)>, Usage> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, share) =
            part.split_once('=').ok_or_else(|| Usage(format!("{flag} {part:?}: write name=share")))?;
        let share = share
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| Usage(format!("{flag} {part:?}: the share is not a number, 0 or more")))?;
        out.push((name.trim().to_ascii_lowercase(), share));
    }
    let total: f64 = out.iter().map(|(_, s)| s).sum();
    if total <= 0.0 {
        return Err(Usage(format!("{flag} {raw:?}: the shares add up to nothing")));
    }
    Ok(out.into_iter().map(|(n, s)| (n, s / total)).collect())
}

/// Reads the arguments after `generate`.
pub fn parse(raw: &[String], categories: &[String]) -> Result<Spec, Usage> {
    let mut spec = Spec {
        hours: 0.0,
        tickets_per_hour: 0.0,
        volume: 1.0,
        mix: [0.2, 0.5, 0.3, 0.0],
        categories: categories.iter().map(|c| (c.clone(), 1.0 / categories.len().max(1) as f64)).collect(),
        seed: 1,
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value =
            || it.next().map(String::as_str).ok_or_else(|| Usage(format!("{flag} needs a value")));
        match flag.as_str() {
            "--hours" => spec.hours = positive(flag, value()?)?,
            "--tickets-per-hour" => spec.tickets_per_hour = positive(flag, value()?)?,
            "--volume" => spec.volume = positive(flag, value()?)?,
            "--seed" => {
                let raw = value()?;
                spec.seed = raw.parse().map_err(|_| Usage(format!("--seed {raw:?}: not a whole number")))?;
            }
            "--mix" => {
                let mut mix = [0.0; 4];
                for (name, share) in shares(flag, value()?)? {
                    let i = ["premium", "standard", "basic", "unknown"]
                        .iter()
                        .position(|t| *t == name)
                        .ok_or_else(|| {
                            Usage(format!("--mix {name:?}: not premium, standard, basic or unknown"))
                        })?;
                    mix[i] += share;
                }
                spec.mix = mix;
            }
            "--categories" => {
                let wanted = shares(flag, value()?)?;
                if let Some((name, _)) = wanted.iter().find(|(n, _)| !categories.contains(n)) {
                    return Err(Usage(format!(
                        "--categories {name:?}: not one of the categories ({})",
                        categories.join(", ")
                    )));
                }
                spec.categories = wanted;
            }
            other => return Err(Usage(format!("unknown argument {other:?}\n{}", super::USAGE))),
        }
    }
    if spec.hours == 0.0 || spec.tickets_per_hour == 0.0 {
        return Err(Usage(format!("--hours and --tickets-per-hour are required\n{}", super::USAGE)));
    }
    Ok(spec)
}

fn pick(rng: &mut ChaCha8Rng, shares: impl Iterator<Item = f64>) -> usize {
    let x: f64 = rng.random();
    let mut acc = 0.0;
    let mut last = 0;
    for (i, share) in shares.enumerate() {
        acc += share;
        last = i;
        if x < acc {
            return i;
        }
    }
    last
}

/// Writes the trace as CSV.
pub fn write(spec: &Spec, out: impl Write) -> Result<u64, csv::Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(["arrival", "tier", "category", "complexity", "work_minutes"])?;
    let rate_per_s = spec.tickets_per_hour * spec.volume / 3600.0;
    let end = spec.hours * 3600.0;
    let mut at = 0.0;
    let mut written = 0;
    loop {
        // Exponential gaps: a Poisson process.
        let u: f64 = rng.random();
        at += -(1.0 - u).ln() / rate_per_s;
        if at >= end {
            break;
        }
        let tier = pick(&mut rng, spec.mix.iter().copied());
        let category = pick(&mut rng, spec.categories.iter().map(|(_, s)| *s));
        let complexity_shares: [f64; 3] = match tier {
            0 => [0.15, 0.35, 0.50],
            1 => [0.30, 0.50, 0.20],
            _ => [0.70, 0.25, 0.05],
        };
        let complexity = pick(&mut rng, complexity_shares.iter().copied()) + 1;
        let base = [4.0, 10.0, 20.0][complexity - 1];
        let work = base * (0.5 + rng.random::<f64>());
        writer.write_record([
            format!("{at:.1}"),
            ["premium", "standard", "basic", "unknown"][tier].to_owned(),
            spec.categories.get(category).map(|(n, _)| n.clone()).unwrap_or_default(),
            complexity.to_string(),
            format!("{work:.1}"),
        ])?;
        written += 1;
    }
    writer.flush()?;
    Ok(written)
}

/// `topicdesk simulate generate …`.
pub fn main(raw: &[String]) -> ExitCode {
    let categories: Vec<String> = match super::categories() {
        Ok(c) => c.iter().map(|c| c.name().to_owned()).collect(),
        Err(Usage(why)) => {
            eprintln!("topicdesk simulate generate: {why}");
            return ExitCode::from(2);
        }
    };
    let spec = match parse(raw, &categories) {
        Ok(spec) => spec,
        Err(Usage(why)) => {
            eprintln!("topicdesk simulate generate: {why}");
            return ExitCode::from(2);
        }
    };
    match write(&spec, std::io::BufWriter::new(std::io::stdout().lock())) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("topicdesk simulate generate: cannot write the trace: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats() -> Vec<String> {
        vec!["billing".into(), "technical".into()]
    }

    fn args(line: &str) -> Result<Spec, Usage> {
        parse(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>(), &cats())
    }

    #[test]
    fn the_same_seed_gives_the_same_trace_and_the_rate_holds() {
        let spec = args("--hours 10 --tickets-per-hour 60 --volume 3 --seed 4").expect("spec");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let n = write(&spec, &mut a).expect("write");
        write(&spec, &mut b).expect("write");
        assert_eq!(a, b);
        // 1,800 expected; a Poisson count stays within a few standard deviations (≈ 42).
        assert!((1650..1950).contains(&n), "{n}");
        let text = String::from_utf8(a).expect("utf-8");
        let premium = text.lines().filter(|l| l.contains(",premium,")).count() as f64 / n as f64;
        assert!((0.16..0.24).contains(&premium), "{premium}");
        let other =
            write(&args("--hours 10 --tickets-per-hour 60 --seed 5").expect("spec"), Vec::new()).expect("w");
        assert!((500..700).contains(&other), "{other}");
    }

    #[test]
    fn bad_arguments_say_which() {
        assert_eq!(
            args("--hours 0 --tickets-per-hour 5").expect_err("bad").0,
            "--hours \"0\": not a number above 0"
        );
        assert!(
            args("--hours 1").expect_err("bad").0.starts_with("--hours and --tickets-per-hour are required")
        );
        assert_eq!(
            args("--hours 1 --tickets-per-hour 5 --mix gold=1").expect_err("bad").0,
            "--mix \"gold\": not premium, standard, basic or unknown"
        );
        assert!(args("--hours 1 --tickets-per-hour 5 --categories refunds=1").is_err());
        assert!(args("--hours 1 --tickets-per-hour 5 --mix premium=x").is_err());
        let spec = args("--hours 1 --tickets-per-hour 5 --mix premium=1,basic=3").expect("ok");
        assert_eq!(spec.mix, [0.25, 0.0, 0.75, 0.0]);
    }
}
