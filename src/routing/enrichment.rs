//! The enrichment webhook client (DESIGN §5): asks the external CRM about a
//! customer before routing.
//!
//! - one hard deadline for the whole call (connect, send, read the body);
//! - the body is signed with HMAC-SHA256 when a secret is set;
//! - the response is validated field by field: a bad field is dropped with a
//!   warning and the rest is used;
//! - the body is capped, so a misbehaving CRM cannot exhaust memory;
//! - a circuit breaker stops calling a CRM that keeps failing, and probes it
//!   again later, so a dead CRM does not add its timeout to every ticket.
//!
//! Every outcome, success or failure, comes back with an audit record (the
//! raw body, or the failure and its reason) to store with the ticket.

use std::{sync::Mutex, time::Duration};

use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;
use url::Url;

use super::router::{AgentSnapshot, CustomerProfile, Enrichment};
use crate::{clock::SharedClock, domain::Tier, telemetry::names};

/// Largest response body read from the CRM.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The CRM's reason text is cut to this many characters.
const MAX_REASON_CHARS: usize = 300;
/// Consecutive failures that open the circuit.
const FAILURES_TO_OPEN: u32 = 5;
/// How long the circuit stays open before a probe; doubles per failed probe.
const OPEN_FOR: Duration = Duration::from_secs(30);
const OPEN_FOR_MAX: Duration = Duration::from_secs(300);

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Topicdesk-Signature";

/// The customer as sent to the CRM.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerInfo {
    pub telegram_id: i64,
    pub username: Option<String>,
    pub first_name: String,
    pub language_code: String,
}

/// One candidate agent as sent to the CRM.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub agent_id: i64,
    pub skills: Vec<String>,
    pub open_tickets: u32,
    pub capacity: u32,
}

impl From<&AgentSnapshot> for Candidate {
    fn from(agent: &AgentSnapshot) -> Self {
        Self {
            agent_id: agent.id,
            skills: agent.skills.iter().map(ToString::to_string).collect(),
            open_tickets: agent.open_tickets,
            capacity: agent.capacity,
        }
    }
}

/// The request body (DESIGN §5).
#[derive(Clone, Debug, Serialize)]
pub struct EnrichmentRequest {
    pub ticket_id: i64,
    pub customer: CustomerInfo,
    pub category: String,
    pub required_skill: String,
    pub description: String,
    pub candidates: Vec<Candidate>,
}

/// What enrichment produced, plus what to store for audits.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrichmentResult {
    pub enrichment: Enrichment,
    /// The raw body, or `{"error": "..."}`, as stored with the ticket.
    pub audit: String,
    /// How long the call took, when one was made.
    pub elapsed: Option<Duration>,
    /// What the call came to, as `/audit` counts it: `ok`,
    /// `invalid_fields` (every field invalid), `invalid_body`, `timeout`,
    /// `http_error`, `connection`, `circuit_open` or `other`.
    pub outcome: &'static str,
    /// The CRM's HTTP status when it answered with an error.
    pub http_status: Option<u16>,
    /// This failure opened the circuit breaker.
    pub opened_circuit: bool,
}

/// The circuit breaker's state.
#[derive(Clone, Debug, PartialEq)]
enum Circuit {
    Closed {
        failures: u32,
    },
    Open {
        until_ms: i64,
        open_for: Duration,
    },
    /// One probe is in flight; others are refused until it returns.
    Probing {
        open_for: Duration,
    },
}

/// The webhook client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct EnrichmentClient {
    http: reqwest::Client,
    url: Url,
    secret: Option<String>,
    timeout: Duration,
    clock: SharedClock,
    circuit: Mutex<Circuit>,
}

/// Signs `body` with HMAC-SHA256 under `secret`: `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error branch cannot happen.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

fn failure(reason: String) -> EnrichmentResult {
    EnrichmentResult {
        audit: serde_json::json!({ "error": reason }).to_string(),
        outcome: outcome_of(&reason),
        http_status: reason.strip_prefix("HTTP ").and_then(|code| code.parse().ok()),
        enrichment: Enrichment::Unavailable(reason),
        elapsed: None,
        opened_circuit: false,
    }
}

/// The stored outcome of a failed call, from its reason.
fn outcome_of(reason: &str) -> &'static str {
    match failure_kind(reason) {
        "timeout" => "timeout",
        "http_status" => "http_error",
        "invalid_json" | "too_large" => "invalid_body",
        "connection" => "connection",
        _ if reason.starts_with("CRM circuit open") => "circuit_open",
        _ => "other",
    }
}

fn human_duration(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl EnrichmentClient {
    /// Builds the client. Fails only if the TLS backend cannot initialise.
    pub fn new(
        url: Url,
        secret: Option<String>,
        timeout: Duration,
        clock: SharedClock,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("topicdesk/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, url, secret, timeout, clock, circuit: Mutex::new(Circuit::Closed { failures: 0 }) })
    }

    /// Asks the CRM about one ticket. Never fails: problems become
    /// `Enrichment::Unavailable` with the reason.
    pub async fn enrich(&self, request: &EnrichmentRequest) -> EnrichmentResult {
        if let Some(refusal) = self.admit() {
            metrics::counter!(names::CRM_FAILURES, "reason" => "circuit_open").increment(1);
            return failure(refusal);
        }
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, self.call(request)).await {
            Ok(result) => result,
            Err(_) => Err(format!("timeout after {}", human_duration(self.timeout))),
        };
        let elapsed = started.elapsed();
        metrics::histogram!(names::CRM_DURATION).record(elapsed.as_secs_f64());
        match outcome {
            Ok(body) => match parse_answer(&body) {
                Enrichment::Unavailable(reason) => {
                    let opened = self.record(false);
                    metrics::counter!(names::CRM_FAILURES, "reason" => failure_kind(&reason)).increment(1);
                    tracing::warn!(ticket_id = request.ticket_id, %reason, "CRM response unusable");
                    let mut result = failure(reason);
                    result.audit = serde_json::json!({
                        "error": result.audit_reason(),
                        "body": String::from_utf8_lossy(&body),
                    })
                    .to_string();
                    result.elapsed = Some(elapsed);
                    result.opened_circuit = opened;
                    result
                }
                enrichment => {
                    // The CRM answered: it is reachable, whatever it said.
                    self.record(true);
                    let invalid = match &enrichment {
                        Enrichment::Profile(profile) => profile.invalid.as_slice(),
                        Enrichment::Unusable(invalid) => invalid.as_slice(),
                        _ => &[],
                    };
                    for field in invalid {
                        tracing::warn!(ticket_id = request.ticket_id, field, "CRM response field dropped");
                    }
                    if matches!(enrichment, Enrichment::Unusable(_)) {
                        metrics::counter!(names::CRM_FAILURES, "reason" => "invalid_values").increment(1);
                        tracing::warn!(
                            ticket_id = request.ticket_id,
                            "CRM answer had no valid field; routed without it"
                        );
                    }
                    let outcome =
                        if matches!(enrichment, Enrichment::Unusable(_)) { "invalid_fields" } else { "ok" };
                    EnrichmentResult {
                        enrichment,
                        audit: String::from_utf8_lossy(&body).into_owned(),
                        elapsed: Some(elapsed),
                        outcome,
                        http_status: None,
                        opened_circuit: false,
                    }
                }
            },
            Err(reason) => {
                let opened = self.record(false);
                metrics::counter!(names::CRM_FAILURES, "reason" => failure_kind(&reason)).increment(1);
                tracing::warn!(ticket_id = request.ticket_id, %reason, "CRM enrichment failed");
                let mut result = failure(reason);
                result.elapsed = Some(elapsed);
                result.opened_circuit = opened;
                result
            }
        }
    }

    async fn call(&self, request: &EnrichmentRequest) -> Result<Vec<u8>, String> {
        let body = serde_json::to_vec(request).map_err(|e| format!("cannot encode request: {e}"))?;
        let mut http =
            self.http.post(self.url.clone()).header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            http = http.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let response = http.body(body).send().await.map_err(|e| describe_reqwest(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        if response.content_length().is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(format!("response larger than {} KiB", MAX_BODY_BYTES / 1024));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe_reqwest(&e))?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("response larger than {} KiB", MAX_BODY_BYTES / 1024));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// `None` = go ahead; `Some(reason)` = the circuit refuses the call.
    fn admit(&self) -> Option<String> {
        let now = self.clock.now_ms();
        let mut circuit = self.circuit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match *circuit {
            Circuit::Closed { .. } => None,
            Circuit::Probing { .. } => Some("CRM circuit open (a probe is in progress)".to_owned()),
            Circuit::Open { until_ms, open_for } if now >= until_ms => {
                *circuit = Circuit::Probing { open_for };
                tracing::info!("probing the CRM after the circuit was open");
                None
            }
            Circuit::Open { until_ms, .. } => Some(format!(
                "CRM circuit open after {FAILURES_TO_OPEN} consecutive failures; next try in {}s",
                ((until_ms - now).max(0) + 999) / 1000
            )),
        }
    }

    /// Records a call's success or failure; `true` when this failure
    /// opened a closed circuit (a failed probe re-opening it is not counted
    /// again).
    fn record(&self, success: bool) -> bool {
        let now = self.clock.now_ms();
        let mut circuit = self.circuit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let open = |open_for: Duration| Circuit::Open {
            until_ms: now + i64::try_from(open_for.as_millis()).unwrap_or(i64::MAX),
            open_for,
        };
        let was_closed = matches!(*circuit, Circuit::Closed { .. });
        *circuit = match (&*circuit, success) {
            (_, true) => Circuit::Closed { failures: 0 },
            (Circuit::Closed { failures }, false) if failures + 1 >= FAILURES_TO_OPEN => {
                tracing::warn!(open_for = ?OPEN_FOR, "CRM keeps failing: circuit opened");
                open(OPEN_FOR)
            }
            (Circuit::Closed { failures }, false) => Circuit::Closed { failures: failures + 1 },
            (Circuit::Probing { open_for } | Circuit::Open { open_for, .. }, false) => {
                open((*open_for * 2).min(OPEN_FOR_MAX))
            }
        };
        !success && was_closed && matches!(*circuit, Circuit::Open { .. })
    }

    /// Whether the circuit is currently refusing calls (for health output).
    pub fn circuit_open(&self) -> bool {
        let circuit = self.circuit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        !matches!(*circuit, Circuit::Closed { .. })
    }
}

impl EnrichmentResult {
    fn audit_reason(&self) -> String {
        match &self.enrichment {
            Enrichment::Unavailable(reason) => reason.clone(),
            _ => String::new(),
        }
    }
}

/// A metric label for a failure reason.
fn failure_kind(reason: &str) -> &'static str {
    if reason.starts_with("timeout") {
        "timeout"
    } else if reason.starts_with("HTTP ") {
        "http_status"
    } else if reason.starts_with("invalid JSON") {
        "invalid_json"
    } else if reason.starts_with("response larger") {
        "too_large"
    } else if reason.starts_with("connection") {
        "connection"
    } else {
        "other"
    }
}

fn describe_reqwest(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "broken response body".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// Longest rendering of an invalid value named in the note.
const MAX_INVALID_VALUE_CHARS: usize = 40;

/// Validates a response body field by field. `Err` when the body as a whole
/// is unusable (not JSON, not an object); otherwise the valid fields, with
/// every invalid one named in [`CustomerProfile::invalid`] as
/// `name value (why)`.
pub fn parse_profile(body: &[u8]) -> Result<CustomerProfile, String> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(format!("invalid JSON ({e})")),
    };
    let Value::Object(map) = value else {
        return Err("invalid JSON (expected an object)".to_owned());
    };
    let mut invalid = Vec::new();
    let mut drop_field = |name: &str, value: &Value, why: &str| {
        let mut shown: String = value.to_string();
        if shown.chars().count() > MAX_INVALID_VALUE_CHARS {
            shown = shown.chars().take(MAX_INVALID_VALUE_CHARS - 1).chain(['…']).collect();
        }
        invalid.push(format!("{name} {shown} ({why})"));
    };
    let mut profile = CustomerProfile {
        tier: field(&map, "tier", &mut drop_field, |v| {
            v.as_str()
                .and_then(|s| Tier::parse(&s.trim().to_ascii_lowercase()))
                .ok_or("not premium, standard or basic")
        }),
        order_count: field(&map, "order_count", &mut drop_field, count),
        recent_ticket_count: field(&map, "recent_ticket_count", &mut drop_field, count),
        lifetime_value: field(&map, "lifetime_value", &mut drop_field, |v| {
            v.as_f64().filter(|x| x.is_finite() && *x >= 0.0).ok_or("not a non-negative number")
        }),
        priority: field(&map, "priority", &mut drop_field, |v| {
            v.as_i64().filter(|p| (0..=1_000_000).contains(p)).ok_or("not a whole number from 0 to 1000000")
        }),
        preferred_agent_id: field(&map, "preferred_agent_id", &mut drop_field, |v| {
            v.as_i64().filter(|id| *id > 0).ok_or("not a positive whole number")
        }),
        reason: field(&map, "reason", &mut drop_field, |v| {
            v.as_str()
                .map(|s| s.trim().chars().take(MAX_REASON_CHARS).collect::<String>())
                .filter(|s| !s.is_empty())
                .ok_or("not a non-empty text")
        }),
        invalid: Vec::new(),
    };
    profile.invalid = invalid;
    Ok(profile)
}

/// A parsed answer as routing uses it: a profile, [`Enrichment::Unusable`]
/// when every field sent was invalid, or [`Enrichment::Unavailable`] when
/// the body is not a JSON object.
pub fn parse_answer(body: &[u8]) -> Enrichment {
    match parse_profile(body) {
        Ok(profile) => Enrichment::from_answer(profile),
        Err(reason) => Enrichment::Unavailable(reason),
    }
}

fn count(v: &Value) -> Result<u32, &'static str> {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("not a non-negative whole number")
}

/// Reads one optional field; `null` counts as absent, a bad value is dropped.
fn field<T>(
    map: &Map<String, Value>,
    name: &str,
    dropped: &mut impl FnMut(&str, &Value, &str),
    parse: impl Fn(&Value) -> Result<T, &'static str>,
) -> Option<T> {
    match map.get(name) {
        None | Some(Value::Null) => None,
        Some(value) => match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(why) => {
                dropped(name, value, why);
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    };

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::clock::Clock;

    #[test]
    fn valid_fields_are_kept_and_bad_ones_named() {
        let body = br#"{"tier":"Premium","order_count":12,"recent_ticket_count":-1,"lifetime_value":"lots",
            "priority":100,"preferred_agent_id":1001,"reason":"VIP","unknown":true}"#;
        let profile = parse_profile(body).expect("usable");
        assert_eq!(profile.tier, Some(Tier::Premium));
        assert_eq!(profile.order_count, Some(12));
        assert_eq!(profile.recent_ticket_count, None);
        assert_eq!(profile.lifetime_value, None);
        assert_eq!(profile.priority, Some(100));
        assert_eq!(profile.preferred_agent_id, Some(1001));
        assert_eq!(profile.reason.as_deref(), Some("VIP"));
        assert_eq!(
            profile.invalid,
            [
                "recent_ticket_count -1 (not a non-negative whole number)",
                "lifetime_value \"lots\" (not a non-negative number)"
            ]
        );
        assert!(matches!(Enrichment::from_answer(profile), Enrichment::Profile(_)));
    }

    #[test]
    fn an_answer_with_nothing_valid_is_unusable_and_names_every_field() {
        let body = br#"{"tier":"platinum","priority":"very high","preferred_agent_id":"abc","order_count":-3,
            "lifetime_value":"lots"}"#;
        let Enrichment::Unusable(invalid) = parse_answer(body) else { panic!("unusable") };
        assert_eq!(
            invalid,
            [
                "tier \"platinum\" (not premium, standard or basic)",
                "order_count -3 (not a non-negative whole number)",
                "lifetime_value \"lots\" (not a non-negative number)",
                "priority \"very high\" (not a whole number from 0 to 1000000)",
                "preferred_agent_id \"abc\" (not a positive whole number)",
            ]
        );
        // Long values are cut in what the note shows.
        let long = format!(r#"{{"tier":"{}"}}"#, "x".repeat(500));
        let Enrichment::Unusable(invalid) = parse_answer(long.as_bytes()) else { panic!("unusable") };
        assert!(invalid[0].chars().count() < 90, "{invalid:?}");
    }

    #[test]
    fn an_empty_answer_is_a_valid_answer_that_knows_nothing() {
        assert_eq!(parse_answer(b"{}"), Enrichment::Profile(CustomerProfile::default()));
        assert_eq!(parse_answer(br#"{"tier":null}"#), Enrichment::Profile(CustomerProfile::default()));
    }

    #[test]
    fn garbage_and_non_objects_are_unusable() {
        for body in [&b"<html>oops</html>"[..], b"[1,2]", b"\"premium\"", b""] {
            assert!(parse_profile(body).is_err(), "{}", String::from_utf8_lossy(body));
            assert!(matches!(parse_answer(body), Enrichment::Unavailable(_)));
        }
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[derive(Debug)]
    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap_or_default()
        }
    }

    #[test]
    fn the_circuit_opens_after_repeated_failures_and_probes_later() {
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000)));
        let url = Url::parse("http://127.0.0.1:9/").expect("url");
        let client = EnrichmentClient::new(url, None, Duration::from_secs(1), clock.clone()).expect("client");
        for _ in 0..FAILURES_TO_OPEN {
            assert_eq!(client.admit(), None);
            client.record(false);
        }
        let refused = client.admit().expect("open");
        assert!(refused.contains("circuit open"), "{refused}");
        clock.0.fetch_add(31_000, Ordering::SeqCst);
        assert_eq!(client.admit(), None, "probe after the open period");
        assert!(client.admit().is_some(), "only one probe at a time");
        client.record(false);
        clock.0.fetch_add(31_000, Ordering::SeqCst);
        assert!(client.admit().is_some(), "a failed probe doubles the open period");
        clock.0.fetch_add(30_000, Ordering::SeqCst);
        assert_eq!(client.admit(), None);
        client.record(true);
        assert!(!client.circuit_open());
        assert_eq!(client.admit(), None);
    }
}
