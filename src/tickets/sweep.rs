//! The premium override's loop (DESIGN §6): every `SWEEP_INTERVAL` the
//! sweeper claims overdue tickets, and the desk posts their new notes and
//! hands out what a released agent can take.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::TicketDesk;
use crate::routing::sweeper::Sweeper;

/// Runs sweeps every `interval` until `shutdown`, posting a new pinned note
/// for each re-assigned ticket (the new agent is mentioned).
pub async fn run(sweeper: Sweeper, desk: TicketDesk, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let escalated = match sweeper.claim_overdue().await {
            Ok(escalated) => escalated,
            Err(error) => {
                tracing::warn!(%error, "premium override sweep failed");
                continue;
            }
        };
        let released = escalated.iter().any(|e| e.from.is_some());
        for e in escalated {
            if let Err(error) = desk.republish(e.ticket).await {
                tracing::warn!(ticket_id = e.ticket.0, %error, "could not post the override note");
            }
        }
        // A previous assignee was released: they may take a waiting ticket.
        // (Other capacity changes drain where they happen.)
        if released && let Err(error) = desk.drain_queue().await {
            tracing::warn!(%error, "could not assign waiting tickets after a sweep");
        }
    }
}
