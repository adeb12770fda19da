//! A real HTTP server standing in for the external CRM (DESIGN §5): answers
//! per customer, records what it received, and misbehaves on request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::Value;

/// How the CRM answers.
#[derive(Clone, Debug)]
pub enum CrmReply {
    /// 200 with this JSON.
    Json(Value),
    /// This status with an empty body.
    Status(u16),
    /// 200 with this raw body.
    Raw(String),
    /// 200 with a JSON body of about this many bytes.
    Huge(usize),
    /// Answer after a delay.
    Slow(Duration, Box<CrmReply>),
}

/// One request the CRM received.
#[derive(Clone, Debug)]
pub struct CrmRequest {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

#[derive(Default)]
struct CrmState {
    default: Option<CrmReply>,
    by_customer: HashMap<i64, CrmReply>,
    requests: Vec<CrmRequest>,
}

/// The fake CRM.
#[derive(Clone)]
pub struct FakeCrm {
    url: String,
    state: Arc<Mutex<CrmState>>,
}

impl FakeCrm {
    /// Starts the server on 127.0.0.1.
    pub async fn start() -> FakeCrm {
        let state = Arc::new(Mutex::new(CrmState::default()));
        let app = Router::new().route("/route", post(handle)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind CRM");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCrm { url: format!("http://{addr}/route"), state }
    }

    /// The URL for `ROUTING_WEBHOOK_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The answer for customers without their own.
    pub fn reply_default(&self, reply: CrmReply) {
        self.state.lock().expect("crm state").default = Some(reply);
    }

    /// The answer for one customer.
    pub fn reply_for(&self, customer: i64, reply: CrmReply) {
        self.state.lock().expect("crm state").by_customer.insert(customer, reply);
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<CrmRequest> {
        self.state.lock().expect("crm state").requests.clone()
    }
}

async fn handle(State(state): State<Arc<Mutex<CrmState>>>, headers: HeaderMap, body: Bytes) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let customer = json["customer"]["telegram_id"].as_i64().unwrap_or_default();
    let reply = {
        let mut st = state.lock().expect("crm state");
        st.requests.push(CrmRequest { headers, body, json });
        st.by_customer.get(&customer).cloned().or_else(|| st.default.clone())
    };
    answer(reply.unwrap_or(CrmReply::Json(serde_json::json!({})))).await
}

async fn answer(reply: CrmReply) -> Response {
    let mut reply = reply;
    loop {
        match reply {
            CrmReply::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                reply = *inner;
            }
            CrmReply::Json(v) => {
                return ([("content-type", "application/json")], v.to_string()).into_response();
            }
            CrmReply::Status(code) => {
                return StatusCode::from_u16(code)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_response();
            }
            CrmReply::Raw(body) => return ([("content-type", "application/json")], body).into_response(),
            CrmReply::Huge(size) => {
                let body = format!("{{\"tier\":\"premium\",\"reason\":\"{}\"}}", "x".repeat(size));
                return ([("content-type", "application/json")], body).into_response();
            }
        }
    }
}
