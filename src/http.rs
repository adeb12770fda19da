//! The HTTP side (DESIGN §2, §10): `/healthz`, Prometheus `/metrics`, and in
//! webhook mode the route Telegram posts updates to — one axum server on
//! `HTTP_ADDR`, stopped with the bot.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use teloxide::types::Update;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::SharedClock,
    group::SupportGroup,
    storage::{Storage, Window},
    telemetry::{self, names},
};

/// Largest webhook body accepted; Telegram's updates are far smaller.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;
/// The header Telegram sends the secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// `/healthz` reports unhealthy when no Bot API call succeeded for this long.
const API_STALE_AFTER: Duration = Duration::from_secs(300);

/// Webhook settings, when the bot runs in webhook mode.
#[derive(Clone, Debug)]
pub struct WebhookRoute {
    /// The path Telegram posts to (the path of `WEBHOOK_URL`).
    pub path: String,
    pub secret: Option<String>,
    /// Where accepted updates go (the runtime's dispatcher).
    pub updates: mpsc::Sender<Update>,
}

#[derive(Clone)]
struct AppState {
    storage: Storage,
    group: SupportGroup,
    clock: SharedClock,
    metrics: Option<PrometheusHandle>,
    webhook: Option<Arc<WebhookRoute>>,
}

/// Compares secrets in constant time (for equal lengths), so response
/// timing does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Builds the router (also used by tests without a socket).
fn router(state: AppState) -> Router {
    let mut router = Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics_text));
    if let Some(webhook) = &state.webhook {
        router =
            router.route(&webhook.path, post(webhook_update)).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY));
    }
    router.with_state(state)
}

/// Binds `addr`; an error names the variable so the operator knows what to fix.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP_ADDR {addr} cannot be used: {e}"))
}

/// Serves until `shutdown`, finishing requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    storage: Storage,
    clock: SharedClock,
    group: SupportGroup,
    webhook: Option<WebhookRoute>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState {
        storage,
        group,
        clock,
        metrics: telemetry::metrics_handle(),
        webhook: webhook.map(Arc::new),
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP listener ready (/healthz, /metrics)");
    }
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

async fn healthz(State(state): State<AppState>) -> Response {
    let database = state.storage.ping().await;
    let api_age = telemetry::bot_api_age();
    let api_age_s = api_age.map(|age| age.as_secs());
    let api_ok = api_age.is_some_and(|age| age <= API_STALE_AFTER);
    let group_problem = state.group.problem();
    let healthy = database.is_ok() && api_ok && group_problem.is_none();
    let body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "database": match &database { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "database_backend": state.storage.backend_name(),
        "last_bot_api_success_seconds_ago": api_age_s,
        "support_group": match state.group.health() {
            crate::group::Health::Unknown(why) => format!("not checked yet: {}", why.unwrap_or_default()),
            _ => group_problem.unwrap_or_else(|| "ok".to_owned()),
        },
        "support_group_id": state.group.id().0,
        "support_group_title": state.group.title(),
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable\n").into_response();
    };
    // Gauges that live in the database are read at scrape time, so every
    // instance reports the shared truth.
    match state.storage.queue_length().await {
        Ok(n) => metrics::gauge!(names::QUEUE_LENGTH).set(n as f64),
        Err(error) => tracing::warn!(%error, "cannot read the queue length for /metrics"),
    }
    match state.storage.inbox_pending_count().await {
        Ok(n) => metrics::gauge!(names::INBOX_PENDING).set(n as f64),
        Err(error) => tracing::warn!(%error, "cannot read the inbox for /metrics"),
    }
    match state.storage.outbox_counts().await {
        Ok(counts) => {
            metrics::gauge!(names::OUTBOX_PENDING).set(counts.pending as f64);
            metrics::gauge!(names::OUTBOX_FAILED).set(counts.failed as f64);
        }
        Err(error) => tracing::warn!(%error, "cannot read the outbox for /metrics"),
    }
    // The support group's budget in the last full minute (DESIGN §15).
    let minute_start = state.clock.now_ms().div_euclid(60_000) * 60_000 - 60_000;
    let last_minute = Window { from_ms: minute_start, to_ms: minute_start + 60_000 };
    match state.storage.group_budget(last_minute).await {
        Ok(budget) => {
            metrics::gauge!(names::GROUP_MESSAGES_PER_MINUTE).set(budget.peak as f64);
            metrics::gauge!(names::GROUP_LONGEST_WAIT).set(budget.longest_wait_ms as f64 / 1000.0);
        }
        Err(error) => tracing::warn!(%error, "cannot read the group's message budget for /metrics"),
    }
    if let Some(at) = telemetry::bot_api_ok_unix_seconds() {
        metrics::gauge!(names::LAST_API_SUCCESS).set(at);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// Telegram's webhook: authenticate, persist, hand over, then answer 200.
async fn webhook_update(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(webhook) = &state.webhook else { return StatusCode::NOT_FOUND };
    if let Some(secret) = &webhook.secret {
        let given = headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !constant_time_eq(given, secret.as_bytes()) {
            tracing::warn!("webhook request with a wrong or missing secret token refused");
            return StatusCode::UNAUTHORIZED;
        }
    }
    let raw: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(raw) => raw,
        Err(error) => {
            tracing::warn!(%error, "webhook body is not JSON");
            return StatusCode::BAD_REQUEST;
        }
    };
    let update = match crate::telegram::runtime::decode_update(raw) {
        Ok((update, _)) => update,
        Err(undecodable) => {
            tracing::warn!(update_id = undecodable.update_id, raw = %undecodable.raw, "webhook body is not an update");
            return StatusCode::BAD_REQUEST;
        }
    };
    let update_id = i64::from(update.id.0);
    // Persist before answering: once Telegram has its 200 it will not resend.
    match state.storage.inbox_record(update_id, &String::from_utf8_lossy(&body), state.clock.now_ms()).await {
        Ok(true) => {}
        Ok(false) => return StatusCode::OK, // a re-delivery: already stored
        Err(error) => {
            tracing::error!(update_id, %error, "cannot store webhook update; Telegram will retry");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    // Bounded channel: when the bot is saturated, Telegram's request waits.
    if webhook.updates.send(update).await.is_err() {
        // Shutting down: the update is in the inbox and is replayed at start.
        tracing::info!(update_id, "update stored for replay (shutting down)");
    }
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
