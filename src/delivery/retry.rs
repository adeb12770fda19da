//! Resilient Bot API calls: `429 retry_after` is honoured exactly, network
//! errors and server errors are retried with backoff, permanent errors are
//! returned at once.

use std::{future::Future, time::Duration};

use teloxide::{ApiError, RequestError};

use crate::telemetry::{self, names};

/// How many times a call is tried before its error is returned.
const MAX_ATTEMPTS: u32 = 6;
/// First backoff delay; doubles each attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// A `retry_after` longer than this is returned to the caller instead of
/// holding the handler (and its lane) for minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A short code for an error, for metrics: Telegram's HTTP status where it
/// can be told from the error, else the kind of failure.
pub fn error_code(error: &RequestError) -> &'static str {
    match error {
        RequestError::RetryAfter(_) => "429",
        RequestError::Network(_) => "network",
        RequestError::InvalidJson { .. } => "invalid_response",
        RequestError::MigrateToChatId(_) => "400",
        RequestError::Io(_) => "io",
        RequestError::Api(ApiError::InvalidToken) => "401",
        RequestError::Api(api) => {
            let description = api.to_string();
            if description.starts_with("Forbidden")
                || matches!(api, ApiError::BotBlocked | ApiError::UserDeactivated)
            {
                "403"
            } else if description.starts_with("Internal Server Error") || description.contains("Bad Gateway")
            {
                "5xx"
            } else if description.starts_with("Conflict") {
                "409"
            } else {
                "400"
            }
        }
    }
}

/// Whether an error may succeed when the same call is repeated.
pub fn is_transient(error: &RequestError) -> bool {
    match error {
        RequestError::RetryAfter(_) | RequestError::Network(_) | RequestError::InvalidJson { .. } => true,
        RequestError::Api(ApiError::Unknown(description)) => {
            let d = description.to_ascii_lowercase();
            d.starts_with("internal server error") || d.starts_with("bad gateway") || d.contains("timeout")
        }
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails permanently, or the attempts run out.
pub async fn with_retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 1;
    loop {
        let error = match call().await {
            Ok(value) => {
                telemetry::bot_api_ok();
                return Ok(value);
            }
            Err(error) => error,
        };
        metrics::counter!(names::BOT_API_ERRORS, "method" => what.to_owned(), "code" => error_code(&error))
            .increment(1);
        if attempt >= MAX_ATTEMPTS || !is_transient(&error) {
            return Err(error);
        }
        let delay = match &error {
            RequestError::RetryAfter(seconds) => {
                let wait = seconds.duration();
                if wait > MAX_RETRY_AFTER {
                    return Err(error);
                }
                wait
            }
            _ => BASE_BACKOFF * 2u32.pow(attempt - 1),
        };
        tracing::warn!(call = what, attempt, ?delay, %error, "Bot API call failed; retrying");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use teloxide::types::Seconds;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_exactly_then_succeeds() {
        let calls = Arc::new(AtomicU32::new(0));
        let started = tokio::time::Instant::now();
        let c = calls.clone();
        let result = with_retry("test", || {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(RequestError::RetryAfter(Seconds::from_seconds(7)))
                } else {
                    Ok(42)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(42));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let result: Result<(), _> = with_retry("test", || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Err(RequestError::Api(ApiError::BotBlocked))
            }
        })
        .await;
        assert!(matches!(result, Err(RequestError::Api(ApiError::BotBlocked))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_are_retried_until_attempts_run_out() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let result: Result<(), _> = with_retry("test", || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Err(RequestError::Api(ApiError::Unknown("Internal Server Error".into())))
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[test]
    fn topic_errors_are_permanent() {
        let closed = RequestError::Api(ApiError::Unknown("Bad Request: TOPIC_CLOSED".into()));
        assert!(!is_transient(&closed));
    }
}
