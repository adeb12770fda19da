//! `topicdesk simulate --from-db --period 30d`: this desk's own history as
//! the trace (DESIGN §16), read from `DATABASE_URL` as a stream.
//!
//! Time 0 is the UTC midnight the period starts in (roster shifts are UTC).
//! Each ticket opened in the period arrives when it was opened, with its
//! tier and category. Its work is the measured handling time (first
//! response → closed; 10 minutes when it was never answered or closed).
//! Complexity is not stored, so it is estimated: 3 for a ticket the
//! premium override had to re-route, 2 for other premium tickets, 1 for
//! the rest.

use super::{
    Args,
    engine::{Report, Simulation},
    input::{self, TraceTicket},
};
use crate::{
    domain::Tier,
    storage::{HistoryRow, Storage},
};

/// Work assumed for a ticket that was never answered or closed.
const DEFAULT_WORK_MS: i64 = 10 * 60_000;

/// The ticket a stored row stands for (`None`: its category is no longer
/// configured).
pub fn ticket_of(
    row: &HistoryRow,
    start_ms: i64,
    categories: &[crate::domain::Category],
) -> Option<TraceTicket> {
    let (created, tier, category, first, closed, escalations) = row;
    let skill = categories.iter().find(|c| c.name() == category)?.skill().clone();
    let tier = tier.as_deref().and_then(Tier::parse);
    let complexity = if *escalations > 0 {
        3
    } else if tier == Some(Tier::Premium) {
        2
    } else {
        1
    };
    let work_ms = match (first, closed) {
        (Some(first), Some(closed)) if closed > first => closed - first,
        _ => DEFAULT_WORK_MS,
    };
    Some(TraceTicket {
        arrival_ms: created - start_ms,
        tier,
        category: category.clone(),
        skill,
        complexity,
        work_ms,
    })
}

/// Replays the period under every policy of `args`.
pub fn run(args: &Args, roster: &std::path::Path) -> Result<Vec<Report>, String> {
    let _ = dotenvy::dotenv();
    let raw = std::env::var("DATABASE_URL").ok();
    let url = crate::config::parse_database_url(raw.as_deref()).map_err(|e| e.to_string())?;
    let categories = super::categories().map_err(|super::Usage(why)| why)?;
    let agents = input::read_roster(roster, &categories).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async {
        let storage = Storage::connect(&url).await.map_err(|e| e.to_string())?;
        let now = chrono::Utc::now().timestamp_millis();
        let window = crate::insights::period::window(args.period, now);
        // Time 0 is the UTC midnight the period starts in, so the roster's
        // shifts line up with the hours the tickets came in.
        let start_ms = window.from_ms.div_euclid(86_400_000) * 86_400_000;
        let mut reports = Vec::new();
        for policy in &args.policies {
            let mut simulation = Simulation::new(&agents, super::options(args, *policy));
            let mut skipped = 0u64;
            let read: Result<u64, std::convert::Infallible> = storage
                .history(window, |row| {
                    match ticket_of(&row, start_ms, &categories) {
                        Some(ticket) => simulation.feed(ticket),
                        None => skipped += 1,
                    }
                    Ok::<(), std::convert::Infallible>(())
                })
                .await
                .map_err(|e| e.to_string())?;
            let Ok(_) = read;
            if skipped > 0 {
                eprintln!(
                    "topicdesk simulate: {skipped} tickets of categories no longer configured were left out"
                );
            }
            reports.push(simulation.finish());
        }
        storage.close().await;
        Ok(reports)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tickets_become_trace_tickets() {
        let categories =
            crate::config::parse_categories(crate::config::DEFAULT_CATEGORIES).expect("categories");
        let row: HistoryRow =
            (70_000, Some("premium".into()), "billing".into(), Some(100_000), Some(700_000), 0);
        let t = ticket_of(&row, 10_000, &categories).expect("ticket");
        assert_eq!(
            (t.arrival_ms, t.tier, t.complexity, t.work_ms),
            (60_000, Some(Tier::Premium), 2, 600_000)
        );
        let escalated: HistoryRow = (0, None, "account".into(), None, None, 2);
        let t = ticket_of(&escalated, 0, &categories).expect("ticket");
        assert_eq!((t.complexity, t.work_ms, t.skill.as_str()), (3, DEFAULT_WORK_MS, "general"));
        let gone: HistoryRow = (0, None, "refunds".into(), None, None, 0);
        assert_eq!(ticket_of(&gone, 0, &categories), None);
    }
}
