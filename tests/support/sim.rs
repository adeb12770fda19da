#![allow(dead_code)]
//! A Telegram Bot API simulator for end-to-end tests.
//!
//! [`BotApiSim::start`] runs an axum server on `127.0.0.1:0` that speaks the
//! Bot API's HTTP protocol (`POST /bot{token}/{method}` with JSON, form or
//! multipart bodies) closely enough for teloxide's real HTTP client:
//!
//! * an update queue served by `getUpdates` (offsets, limits, long polling,
//!   `allowed_updates`, 409 conflicts), filled by injection helpers such as
//!   [`BotApiSim::private_text`] or [`BotApiSim::group_text`];
//! * chats, per-chat message ids, stored messages (so `copyMessage` and
//!   `forwardMessage` find their source), forum topics, pins, commands and
//!   callback queries, validated with Telegram's own error descriptions;
//! * fault injection ([`BotApiSim::fail_next`]) and an optional flood-control
//!   model ([`BotApiSim::set_rate_limits`]);
//! * an observation API ([`BotApiSim::calls`], [`BotApiSim::messages_in`],
//!   [`BotApiSim::wait_for_message`], ...) for assertions.
//!
//! Every object the simulator hands out is checked against the required
//! fields of its Bot API type (from `botapi_required.json`, generated from
//! `shared/botapi/api.json`); any violation is recorded and can be read with
//! [`BotApiSim::schema_violations`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// The only bot token the simulator accepts.
pub const TOKEN: &str = "123456:TEST-TOKEN";
/// The bot's user id (the part of [`TOKEN`] before the colon).
pub const BOT_ID: i64 = 123456;
/// The bot's username (without `@`).
pub const BOT_USERNAME: &str = "topicdesk_test_bot";
/// The bot's first name.
pub const BOT_FIRST_NAME: &str = "TopicDesk Test Bot";
/// A forum supergroup ("Support") the bot administers.
pub const SUPPORT_GROUP_ID: i64 = -1001000000001;
/// Title of [`SUPPORT_GROUP_ID`].
pub const SUPPORT_GROUP_TITLE: &str = "Support";
/// The user who owns the support group (the sender of `my_chat_member`
/// updates when the bot's rights change).
pub const GROUP_OWNER_ID: i64 = 77;
/// A regular (non-forum) supergroup the bot is a member of.
pub const OTHER_GROUP_ID: i64 = -1001000000002;
/// Title of [`OTHER_GROUP_ID`].
pub const OTHER_GROUP_TITLE: &str = "Other group";
/// The topic icon colours Telegram accepts, in its documented order.
pub const TOPIC_ICON_COLORS: [u32; 6] = [0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F];
/// Timeout of the waiters that do not take one.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Description of Telegram's `MESSAGE_NOT_MODIFIED` error.
pub const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply \
     markup are exactly the same as a current content and reply markup of the message";
/// Description of an unknown / already answered callback query.
pub const QUERY_INVALID: &str =
    "Bad Request: query is too old and response timeout expired or query ID is invalid";
/// Description returned to a `getUpdates` that was superseded by another one.
pub const CONFLICT_GET_UPDATES: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
/// Description returned by `getUpdates` while a webhook is set.
pub const CONFLICT_WEBHOOK: &str = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";

/// Methods that send a new message (subject to the flood-control model and
/// to the target checks: blocked user, topic state, ...).
const SENDING_METHODS: &[&str] = &[
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendSticker",
    "copyMessage",
    "copyMessages",
    "forwardMessage",
    "forwardMessages",
];

/// Update kinds delivered when `allowed_updates` was never specified.
const DEFAULT_EXCLUDED_UPDATES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

// ---------------------------------------------------------------------------
// Bot API schema (generated from shared/botapi/api.json)
// ---------------------------------------------------------------------------

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("botapi_required.json")).expect("botapi_required.json is valid JSON")
});

/// Lower-case method name -> canonical camelCase name, for every Bot API method.
static METHOD_NAMES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    SCHEMA["methods"]
        .as_object()
        .map(|m| m.keys().map(|k| (k.to_ascii_lowercase(), k.clone())).collect())
        .unwrap_or_default()
});

/// The required parameters of a Bot API method (canonical name), per api.json.
pub fn required_params(method: &str) -> Vec<String> {
    SCHEMA["methods"][method]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The canonical camelCase name of a Bot API method, matched case-insensitively.
pub fn canonical_method(name: &str) -> Option<String> {
    METHOD_NAMES.get(&name.to_ascii_lowercase()).cloned()
}

/// Checks that `value` has every required field of the Bot API type
/// `type_name` (and, recursively, of the nested objects whose types are in
/// `botapi_required.json`). Returns one line per missing field; empty = ok.
pub fn check_required(type_name: &str, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_required_at(type_name, value, type_name, &mut out);
    out
}

fn check_required_at(type_name: &str, value: &Value, path: &str, out: &mut Vec<String>) {
    if let Value::Array(items) = value {
        for (i, item) in items.iter().enumerate() {
            check_required_at(type_name, item, &format!("{path}[{i}]"), out);
        }
        return;
    }
    // ChatMember is a union: pick the variant by its status.
    let type_name = match (type_name, value.get("status").and_then(Value::as_str)) {
        ("ChatMember", Some("administrator")) => "ChatMemberAdministrator",
        ("ChatMember", Some(_)) => "ChatMemberMember",
        _ => type_name,
    };
    let Some(spec) = SCHEMA["types"].get(type_name) else { return };
    let Some(obj) = value.as_object() else {
        out.push(format!("{path}: expected a {type_name} object, got {value}"));
        return;
    };
    for field in spec["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(field) {
            out.push(format!("{path}: missing required field `{field}` of {type_name}"));
        }
    }
    for (field, nested) in spec["nested"].as_object().into_iter().flatten() {
        if let (Some(v), Some(nested)) = (obj.get(field), nested.as_str()) {
            check_required_at(nested, v, &format!("{path}.{field}"), out);
        }
    }
}

/// The Bot API return type of a method (e.g. `Message`, `Array of Update`).
fn return_type(method: &str) -> Option<String> {
    match method {
        "getChatMember" => Some("ChatMember".into()),
        "getChatAdministrators" => Some("Array of ChatMember".into()),
        _ => SCHEMA["returns"][method].as_str().map(str::to_owned),
    }
}

// ---------------------------------------------------------------------------
// Public data types
// ---------------------------------------------------------------------------

/// A Telegram user that talks to the bot (customer, operator, admin...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    pub id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

impl SimUser {
    /// A user with an id and a first name, no username, no language.
    pub fn customer(id: i64, first_name: &str) -> Self {
        Self { id, first_name: first_name.to_owned(), username: None, language_code: None }
    }

    /// Same as [`SimUser::customer`]; reads better for support-group members.
    pub fn operator(id: i64, first_name: &str) -> Self {
        Self::customer(id, first_name)
    }

    /// Sets the client's `language_code` (IETF tag such as `ru`, `en`).
    pub fn lang(mut self, language_code: &str) -> Self {
        self.language_code = Some(language_code.to_owned());
        self
    }

    /// Sets the `username` (without `@`).
    pub fn username(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }

    /// The Bot API `User` object.
    pub fn to_json(&self) -> Value {
        let mut o = json!({"id": self.id, "is_bot": false, "first_name": self.first_name});
        if let Some(u) = &self.username {
            o["username"] = json!(u);
        }
        if let Some(l) = &self.language_code {
            o["language_code"] = json!(l);
        }
        o
    }
}

/// What a fault rule does to the calls it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after`.
    TooManyRequests { retry_after: u32 },
    /// 400 with this description (`Bad Request: ` is prepended if missing).
    BadRequest(String),
    /// 403 with this description (`Forbidden: ` is prepended if missing).
    Forbidden(String),
    /// 500 `Internal Server Error` (JSON body, as Telegram sends).
    ServerError,
    /// 502 with an HTML body, as a reverse proxy would answer.
    BadGateway,
    /// The connection is closed without any response.
    DropConnection,
    /// The call is handled normally, after this delay.
    Delay(Duration),
}

/// A fault applied to the next `times` calls of `method` (case-insensitive),
/// optionally only those whose `chat_id` parameter equals `chat_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    pub method: String,
    pub chat_id: Option<i64>,
    pub fault: Fault,
    pub times: u32,
}

impl FaultRule {
    /// A rule matching the next call of `method`.
    pub fn new(method: &str, fault: Fault) -> Self {
        Self { method: method.to_owned(), chat_id: None, fault, times: 1 }
    }

    /// Only match calls whose `chat_id` is `chat_id`.
    pub fn chat(mut self, chat_id: i64) -> Self {
        self.chat_id = Some(chat_id);
        self
    }

    /// Apply to the next `times` matching calls (default 1).
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }
}

/// Telegram's flood limits for sending methods. Off until
/// [`BotApiSim::set_rate_limits`] is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Messages per second in one chat (Telegram: 1).
    pub per_chat_per_sec: u32,
    /// Messages per minute in one group chat (Telegram: 20).
    pub per_group_per_min: u32,
    /// Messages per second overall (Telegram: 30).
    pub global_per_sec: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { per_chat_per_sec: 1, per_group_per_min: 20, global_per_sec: 30 }
    }
}

/// One HTTP call the bot made.
#[derive(Clone, Debug)]
pub struct Call {
    /// Canonical camelCase method name (as sent if the method is unknown).
    pub method: String,
    /// The parameters, normalised to a JSON object.
    pub params: Value,
    /// When the request arrived.
    pub at: Instant,
    /// `(error_code, description)` if the call failed; `None` on success or
    /// while the call (e.g. a long poll) is still running.
    pub error: Option<(u16, String)>,
    /// The `result` returned on success.
    pub result: Option<Value>,
}

impl Call {
    /// The `chat_id` parameter as an integer, if any.
    pub fn chat_id(&self) -> Option<i64> {
        value_as_i64(self.params.get("chat_id")?)
    }

    /// The `message_thread_id` parameter, if any.
    pub fn thread_id(&self) -> Option<i32> {
        value_as_i64(self.params.get("message_thread_id")?).and_then(|v| i32::try_from(v).ok())
    }

    /// A string parameter.
    pub fn str_param(&self, name: &str) -> Option<&str> {
        self.params.get(name)?.as_str()
    }
}

/// The content kind of a stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimKind {
    Text,
    Photo,
    Sticker,
    Document,
    /// A service message; the string is its Bot API field name
    /// (`forum_topic_created`, `pinned_message`, ...).
    Service(String),
    /// Any other content, by its Bot API field name (`venue`, `poll`,
    /// `dice`, `audio`, `voice`, `video`, `location`, …); `media` holds the
    /// field's object.
    Other(String),
}

/// A message stored by the simulator (sent by the bot or injected).
#[derive(Clone, Debug)]
pub struct SimMessage {
    pub chat_id: i64,
    pub message_id: i32,
    /// `message_thread_id` as Telegram reports it (also set on General replies).
    pub thread_id: Option<i32>,
    pub is_topic_message: bool,
    /// Sent by the bot (sendMessage/copyMessage/... or a service message the
    /// bot caused).
    pub from_bot: bool,
    /// Sender user id for injected messages.
    pub from_user_id: Option<i64>,
    pub kind: SimKind,
    /// Plain text (entities stripped) of a text message.
    pub text: Option<String>,
    /// Plain caption of a media message.
    pub caption: Option<String>,
    /// The raw text/caption as sent, when `parse_mode` was `HTML`.
    pub html: Option<String>,
    /// The `parse_mode` the text/caption was sent with.
    pub parse_mode: Option<String>,
    /// `entities` (text) or `caption_entities` (media).
    pub entities: Vec<Value>,
    /// The inline keyboard, as echoed by Telegram.
    pub reply_markup: Option<Value>,
    /// The replied message (for topic messages: the topic creation message
    /// unless an explicit reply).
    pub reply_to_message_id: Option<i32>,
    /// `(chat_id, message_id)` of the source of a `copyMessage`.
    pub copied_from: Option<(i64, i32)>,
    /// `(chat_id, message_id)` of the source of a `forwardMessage`.
    pub forwarded_from: Option<(i64, i32)>,
    pub forward_origin: Option<Value>,
    /// Photo array / sticker / document object, or the service payload.
    pub media: Option<Value>,
    pub link_preview_options: Option<Value>,
    pub date: i64,
    pub edit_date: Option<i64>,
    pub deleted: bool,
    /// Shared by the messages of one album.
    pub media_group_id: Option<String>,
}

impl SimMessage {
    /// Text or caption, whichever the message has.
    pub fn body(&self) -> Option<&str> {
        self.text.as_deref().or(self.caption.as_deref())
    }

    /// `callback_data` of every inline button, row by row.
    pub fn callback_data(&self) -> Vec<String> {
        self.reply_markup
            .as_ref()
            .and_then(|m| m["inline_keyboard"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
            .collect()
    }

    /// Topic of the message for pins etc.: the thread id of topic messages.
    fn topic(&self) -> Option<i32> {
        if self.is_topic_message { self.thread_id } else { None }
    }

    fn is_service(&self) -> bool {
        matches!(self.kind, SimKind::Service(_))
    }
}

/// A forum topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTopic {
    pub chat_id: i64,
    pub thread_id: i32,
    pub name: String,
    pub icon_color: u32,
    pub icon_custom_emoji_id: Option<String>,
    pub closed: bool,
    pub deleted: bool,
}

/// A command list set by `setMyCommands`: `(scope, language_code, commands)`.
pub type CommandList = (Value, Option<String>, Vec<(String, String)>);

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

/// An API error: HTTP status = `error_code`, description, optional retry_after.
#[derive(Clone, Debug)]
struct ApiErr {
    code: u16,
    desc: String,
    retry_after: Option<u32>,
}

impl ApiErr {
    fn new(code: u16, desc: impl Into<String>) -> Self {
        Self { code, desc: desc.into(), retry_after: None }
    }
    /// 400 `Bad Request: {msg}`.
    fn bad(msg: impl AsRef<str>) -> Self {
        Self::new(400, format!("Bad Request: {}", msg.as_ref()))
    }
    fn forbidden(msg: impl AsRef<str>) -> Self {
        Self::new(403, format!("Forbidden: {}", msg.as_ref()))
    }
    fn too_many(retry_after: u32) -> Self {
        Self {
            code: 429,
            desc: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }
    fn chat_not_found() -> Self {
        Self::bad("chat not found")
    }
    fn body(&self) -> Value {
        let mut v = json!({"ok": false, "error_code": self.code, "description": self.desc});
        if let Some(r) = self.retry_after {
            v["parameters"] = json!({"retry_after": r});
        }
        v
    }
}

type ApiResult = Result<Value, ApiErr>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChatType {
    Private,
    Supergroup,
}

#[derive(Debug)]
struct ChatState {
    id: i64,
    ty: ChatType,
    /// Supergroup title.
    title: String,
    /// Private chat: the user's first name.
    first_name: String,
    username: Option<String>,
    is_forum: bool,
    next_message_id: i32,
    messages: BTreeMap<i32, SimMessage>,
    bot_left: bool,
}

impl ChatState {
    /// A supergroup with some history: its message ids start at
    /// `first_message_id` (so that no topic gets thread id 1, which is
    /// General's id in Telegram clients).
    fn supergroup(id: i64, title: &str, is_forum: bool, first_message_id: i32) -> Self {
        Self {
            id,
            ty: ChatType::Supergroup,
            title: title.to_owned(),
            first_name: String::new(),
            username: None,
            is_forum,
            next_message_id: first_message_id,
            messages: BTreeMap::new(),
            bot_left: false,
        }
    }

    fn private(user: &SimUser) -> Self {
        Self {
            id: user.id,
            ty: ChatType::Private,
            title: String::new(),
            first_name: user.first_name.clone(),
            username: user.username.clone(),
            is_forum: false,
            next_message_id: 1,
            messages: BTreeMap::new(),
            bot_left: false,
        }
    }

    fn to_json(&self) -> Value {
        match self.ty {
            ChatType::Private => {
                let mut o = json!({"id": self.id, "first_name": self.first_name, "type": "private"});
                if let Some(u) = &self.username {
                    o["username"] = json!(u);
                }
                o
            }
            ChatType::Supergroup => {
                let mut o = json!({"id": self.id, "title": self.title, "type": "supergroup"});
                if let Some(u) = &self.username {
                    o["username"] = json!(u);
                }
                if self.is_forum {
                    o["is_forum"] = json!(true);
                }
                o
            }
        }
    }

    fn alloc_id(&mut self) -> i32 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    fn live(&self, id: i32) -> Option<&SimMessage> {
        self.messages.get(&id).filter(|m| !m.deleted)
    }
}

#[derive(Debug)]
struct TopicState {
    name: String,
    icon_color: u32,
    icon_custom_emoji_id: Option<String>,
    closed: bool,
    deleted: bool,
}

#[derive(Debug)]
struct CallbackState {
    answered: bool,
    answer: Option<Value>,
}

/// The currently waiting getUpdates request.
struct PollSlot {
    id: u64,
    terminate: Arc<Notify>,
}

#[derive(Debug, Clone)]
struct Webhook {
    url: String,
    secret_token: Option<String>,
    max_connections: Option<i64>,
    allowed_updates: Option<Value>,
}

struct State {
    next_update_id: i64,
    updates: VecDeque<Value>,
    allowed_updates: Option<Vec<String>>,
    poll: Option<PollSlot>,
    next_poll_id: u64,
    webhook: Option<Webhook>,
    chats: BTreeMap<i64, ChatState>,
    users: BTreeMap<i64, SimUser>,
    blocked: BTreeSet<i64>,
    member_status: BTreeMap<(i64, i64), String>,
    topics: BTreeMap<(i64, i32), TopicState>,
    pinned: BTreeMap<(i64, Option<i32>), Vec<i32>>,
    commands: Vec<CommandList>,
    callbacks: BTreeMap<String, CallbackState>,
    next_callback: u64,
    next_media_group: u64,
    calls: Vec<Call>,
    faults: Vec<FaultRule>,
    rate_limits: Option<RateLimits>,
    sent_log: VecDeque<(Instant, i64)>,
    rate_limited: u64,
    can_pin: bool,
    can_manage_topics: bool,
    /// The bot is an administrator of the groups (else a plain member).
    bot_is_admin: bool,
    violations: Vec<String>,
    next_file: u64,
}

impl State {
    fn new() -> Self {
        let mut chats = BTreeMap::new();
        chats.insert(
            SUPPORT_GROUP_ID,
            ChatState::supergroup(SUPPORT_GROUP_ID, SUPPORT_GROUP_TITLE, true, 1001),
        );
        chats.insert(OTHER_GROUP_ID, ChatState::supergroup(OTHER_GROUP_ID, OTHER_GROUP_TITLE, false, 501));
        Self {
            next_update_id: 100_000_001,
            updates: VecDeque::new(),
            allowed_updates: None,
            poll: None,
            next_poll_id: 1,
            webhook: None,
            chats,
            users: BTreeMap::new(),
            blocked: BTreeSet::new(),
            member_status: BTreeMap::new(),
            topics: BTreeMap::new(),
            pinned: BTreeMap::new(),
            commands: Vec::new(),
            callbacks: BTreeMap::new(),
            next_callback: 1,
            next_media_group: 0,
            calls: Vec::new(),
            faults: Vec::new(),
            rate_limits: None,
            sent_log: VecDeque::new(),
            rate_limited: 0,
            can_pin: true,
            can_manage_topics: true,
            bot_is_admin: true,
            violations: Vec::new(),
            next_file: 1,
        }
    }
}

// ---------------------------------------------------------------------------
// The simulator handle
// ---------------------------------------------------------------------------

struct Inner {
    state: Mutex<State>,
    /// Woken whenever an update is queued.
    updates_notify: Notify,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

/// A running Bot API simulator. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct BotApiSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BotApiSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApiSim").field("addr", &self.inner.addr).finish()
    }
}

impl BotApiSim {
    /// Binds `127.0.0.1:0` and serves the Bot API there.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr of the simulator");
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new()),
            updates_notify: Notify::new(),
            addr,
            server: Mutex::new(None),
        });
        let sim = BotApiSim { inner };
        let app = Router::new()
            .fallback(http_entry)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(sim.clone());
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<ConnHandle>();
            if let Err(e) = axum::serve(SimListener { inner: listener }, service).await {
                eprintln!("BotApiSim server stopped: {e}");
            }
        });
        *sim.inner.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        sim
    }

    /// The base URL to give teloxide: `http://127.0.0.1:PORT/`.
    pub fn api_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.inner.addr)).expect("valid simulator URL")
    }

    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// A teloxide bot pointed at this simulator.
    pub fn bot(&self) -> teloxide::Bot {
        teloxide::Bot::new(TOKEN).set_api_url(self.api_url())
    }

    /// Stops the HTTP server (further requests get connection refused).
    pub fn shutdown(&self) {
        if let Some(task) = self.inner.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- configuration ---------------------------------------------------

    /// Makes the bot's private chat with `user_id` answer 403 "bot was blocked by the user".
    pub fn block_user(&self, user_id: i64) {
        self.st().blocked.insert(user_id);
    }

    /// Undoes [`BotApiSim::block_user`].
    pub fn unblock_user(&self, user_id: i64) {
        self.st().blocked.remove(&user_id);
    }

    /// Registers a user (and their private chat with the bot) without
    /// injecting an update, as if they had talked to the bot before.
    pub fn add_user(&self, user: &SimUser) {
        self.st().ensure_user(user);
    }

    /// Grants or revokes the bot's `can_pin_messages` right in groups.
    pub fn set_can_pin(&self, can: bool) {
        self.change_bot_membership(SUPPORT_GROUP_ID, |st| st.can_pin = can);
    }

    /// Grants or revokes the bot's `can_manage_topics` right.
    pub fn set_can_manage_topics(&self, can: bool) {
        self.change_bot_membership(SUPPORT_GROUP_ID, |st| st.can_manage_topics = can);
    }

    /// An admin demotes the bot to a plain member of the group: it loses
    /// "Manage topics" and "Pin messages" (it can still post in open topics).
    pub fn demote_bot(&self) {
        self.change_bot_membership(SUPPORT_GROUP_ID, |st| {
            st.bot_is_admin = false;
            st.can_manage_topics = false;
            st.can_pin = false;
        });
    }

    /// An admin makes the bot an administrator with every right again.
    pub fn promote_bot(&self) {
        self.change_bot_membership(SUPPORT_GROUP_ID, |st| {
            st.bot_is_admin = true;
            st.can_manage_topics = true;
            st.can_pin = true;
        });
    }

    /// An admin removes the bot from a group: every call in it is refused
    /// with `403 bot is not a member` until it is added back.
    pub fn remove_bot_from(&self, chat_id: i64) {
        self.change_bot_membership(chat_id, |st| {
            if let Some(chat) = st.chats.get_mut(&chat_id) {
                chat.bot_left = true;
            }
        });
    }

    /// An admin adds the bot back to a group (with the rights it had).
    pub fn add_bot_back_to(&self, chat_id: i64) {
        self.change_bot_membership(chat_id, |st| {
            if let Some(chat) = st.chats.get_mut(&chat_id) {
                chat.bot_left = false;
            }
        });
    }

    /// Applies `change` to the bot's membership in `chat_id` and, when what
    /// `getChatMember` reports for the bot changed, delivers the
    /// `my_chat_member` update Telegram sends for it (from the group's owner).
    fn change_bot_membership(&self, chat_id: i64, change: impl FnOnce(&mut State)) {
        let mut st = self.st();
        let old = st.member_json(chat_id, BOT_ID).ok();
        change(&mut st);
        let new = st.member_json(chat_id, BOT_ID).ok();
        let (Some(old), Some(new)) = (old, new) else { return };
        if old == new {
            return;
        }
        let Some(chat) = st.chats.get(&chat_id).map(ChatState::to_json) else { return };
        st.push_update(json!({"my_chat_member": {
            "chat": chat,
            "from": {"id": GROUP_OWNER_ID, "is_bot": false, "first_name": "Owner"},
            "date": unix_now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }}));
    }

    /// Sets the status `getChatMember` reports for a user in a chat:
    /// `creator`, `administrator`, `member`, `left` or `kicked`.
    pub fn set_member_status(&self, chat_id: i64, user_id: i64, status: &str) {
        self.st().member_status.insert((chat_id, user_id), status.to_owned());
    }

    /// Queues a fault for the next matching call(s).
    pub fn fail_next(&self, rule: FaultRule) {
        self.st().faults.push(rule);
    }

    /// Removes all pending fault rules.
    pub fn clear_faults(&self) {
        self.st().faults.clear();
    }

    /// Turns on the flood-control model with these limits.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        let mut st = self.st();
        st.rate_limits = Some(limits);
        st.sent_log.clear();
    }

    /// Turns the flood-control model off again.
    pub fn disable_rate_limits(&self) {
        self.st().rate_limits = None;
    }

    /// How many 429s the flood-control model returned (faults not counted).
    pub fn rate_limited_count(&self) -> u64 {
        self.st().rate_limited
    }

    /// Closes a topic of the support group as an administrator would, and
    /// delivers the `forum_topic_closed` service message as an update (as
    /// Telegram does for bots that read all group messages).
    pub fn close_topic_externally(&self, thread_id: i32) {
        self.change_topic_externally(thread_id, true);
    }

    /// A group admin closes (`true`) or reopens a topic from Telegram's
    /// menu: the matching service message arrives as an update.
    fn change_topic_externally(&self, thread_id: i32, close: bool) {
        let admin = SimUser::customer(777_000_001, "Group Admin");
        let service = if close { "forum_topic_closed" } else { "forum_topic_reopened" };
        self.with_update(|st| {
            let topic = st
                .topics
                .get_mut(&(SUPPORT_GROUP_ID, thread_id))
                .unwrap_or_else(|| panic!("{service} by hand: no topic {thread_id} in the support group"));
            topic.closed = close;
            st.ensure_user(&admin);
            let msg = st.new_message(SUPPORT_GROUP_ID, Sender::User(admin.id), Some(thread_id), true);
            let msg = SimMessage { kind: SimKind::Service(service.into()), media: Some(json!({})), ..msg };
            let rendered = st.store_and_render(msg);
            (Some(json!({"message": rendered})), ())
        })
    }

    /// The topic is closed without any update reaching the bot (e.g. while
    /// it was stopped long enough for the update to expire).
    pub fn close_topic_quietly(&self, thread_id: i32) {
        if let Some(topic) = self.st().topics.get_mut(&(SUPPORT_GROUP_ID, thread_id)) {
            topic.closed = true;
        }
    }

    /// A group admin reopens a closed topic of the support group from
    /// Telegram's menu: a `forum_topic_reopened` service message arrives.
    pub fn reopen_topic_externally(&self, thread_id: i32) {
        self.change_topic_externally(thread_id, false);
    }

    /// Deletes a topic of the support group (as an administrator would; no
    /// update is delivered, its messages vanish).
    pub fn delete_topic_externally(&self, thread_id: i32) {
        let mut st = self.st();
        assert!(
            st.topics.contains_key(&(SUPPORT_GROUP_ID, thread_id)),
            "delete_topic_externally: no topic {thread_id} in the support group"
        );
        st.delete_topic(SUPPORT_GROUP_ID, thread_id);
    }

    // ----- update injection ------------------------------------------------

    /// Runs `f` under the lock; if it returns an update body, queues it
    /// (assigning `update_id`) and wakes long polls.
    fn with_update<R>(&self, f: impl FnOnce(&mut State) -> (Option<Value>, R)) -> R {
        let r = {
            let mut st = self.st();
            let (update, r) = f(&mut st);
            if let Some(u) = update {
                st.push_update(u);
            }
            r
        };
        self.inner.updates_notify.notify_waiters();
        r
    }

    /// Queues an arbitrary update body (its `update_id` is assigned/overwritten).
    /// Returns the update id.
    pub fn inject_raw(&self, update: Value) -> i64 {
        let id = {
            let mut st = self.st();
            st.push_update(update)
        };
        self.inner.updates_notify.notify_waiters();
        id
    }

    fn inject_message(
        &self,
        user: &SimUser,
        chat_id: i64,
        thread: Option<i32>,
        topic: bool,
        content: Content,
    ) -> i32 {
        self.with_update(|st| {
            st.ensure_user(user);
            assert!(st.chats.contains_key(&chat_id), "unknown chat {chat_id}");
            if topic {
                let t = thread.unwrap_or_default();
                assert!(
                    st.topics.get(&(chat_id, t)).is_some_and(|t| !t.deleted),
                    "no live topic {t} in chat {chat_id}; topics: {:?}",
                    st.topics.keys().collect::<Vec<_>>()
                );
            }
            let mut msg = st.new_message(chat_id, Sender::User(user.id), thread, topic);
            content.apply(&mut msg);
            if topic {
                msg.reply_to_message_id = thread;
            }
            let id = msg.message_id;
            let rendered = st.store_and_render(msg);
            (Some(json!({"message": rendered})), id)
        })
    }

    /// A text message from `user` answering message `reply_to` of the same
    /// chat (a private chat, or a topic of the support group when `thread`
    /// is given), as Telegram delivers a reply. Returns the message id.
    pub fn reply_text(
        &self,
        user: &SimUser,
        chat_id: i64,
        thread: Option<i32>,
        reply_to: i32,
        text: &str,
    ) -> i32 {
        self.with_update(|st| {
            st.ensure_user(user);
            let exists = st.chats.get(&chat_id).and_then(|c| c.live(reply_to)).is_some();
            assert!(exists, "reply_text: no message {reply_to} in chat {chat_id}");
            let mut msg = st.new_message(chat_id, Sender::User(user.id), thread, thread.is_some());
            Content::text(text).apply(&mut msg);
            msg.reply_to_message_id = Some(reply_to);
            let id = msg.message_id;
            let rendered = st.store_and_render(msg);
            (Some(json!({"message": rendered})), id)
        })
    }

    /// A text message from `user` in their private chat with the bot. A
    /// leading `/command` gets a `bot_command` entity. Returns the message id.
    pub fn private_text(&self, user: &SimUser, text: &str) -> i32 {
        self.inject_message(user, user.id, None, false, Content::text(text))
    }

    /// Same as [`BotApiSim::private_text`]; spelled out for commands.
    pub fn private_command(&self, user: &SimUser, command: &str) -> i32 {
        self.private_text(user, command)
    }

    /// A photo (two sizes) with an optional caption, in the private chat.
    pub fn private_photo(&self, user: &SimUser, caption: Option<&str>) -> i32 {
        let media = self.st().photo_sizes();
        self.inject_message(user, user.id, None, false, Content::media(SimKind::Photo, media, caption))
    }

    /// A sticker in the private chat.
    pub fn private_sticker(&self, user: &SimUser) -> i32 {
        let media = self.st().sticker();
        self.inject_message(user, user.id, None, false, Content::media(SimKind::Sticker, media, None))
    }

    /// An album of `count` photos sent at once (one `media_group_id`), the
    /// first with `caption`, in the private chat. Returns the message ids.
    pub fn private_album(&self, user: &SimUser, count: usize, caption: Option<&str>) -> Vec<i32> {
        self.inject_album(user, user.id, None, count, caption)
    }

    /// An album of `count` photos sent at once by `user` in the support
    /// group (a ticket's topic), the first with `caption`. Returns the ids.
    pub fn group_album(
        &self,
        user: &SimUser,
        thread_id: i32,
        count: usize,
        caption: Option<&str>,
    ) -> Vec<i32> {
        self.inject_album(user, SUPPORT_GROUP_ID, Some(thread_id), count, caption)
    }

    fn inject_album(
        &self,
        user: &SimUser,
        chat_id: i64,
        thread: Option<i32>,
        count: usize,
        caption: Option<&str>,
    ) -> Vec<i32> {
        let group = {
            let mut st = self.st();
            st.next_media_group += 1;
            format!("{}", 13_000_000_000_000_000u64 + st.next_media_group)
        };
        (0..count)
            .map(|i| {
                let media = self.st().photo_sizes();
                let mut content = Content::media(SimKind::Photo, media, caption.filter(|_| i == 0));
                content.media_group_id = Some(group.clone());
                self.inject_message(user, chat_id, thread, thread.is_some(), content)
            })
            .collect()
    }

    /// A text `user` forwarded into the private chat from someone who hides
    /// their account (`forward_origin` of type `hidden_user`).
    pub fn private_forwarded_text(&self, user: &SimUser, text: &str, origin: &str) -> i32 {
        let mut content = Content::text(text);
        content.forward_origin =
            Some(json!({"type": "hidden_user", "sender_user_name": origin, "date": unix_now() - 3600}));
        self.inject_message(user, user.id, None, false, content)
    }

    /// A message of any other kind in the private chat: `field` is its Bot
    /// API field (`venue`, `poll`, `dice`, `audio`, …) holding `value`.
    pub fn private_kind(&self, user: &SimUser, field: &str, value: Value) -> i32 {
        let content = Content::media(SimKind::Other(field.to_owned()), value, None);
        self.inject_message(user, user.id, None, false, content)
    }

    /// A message of any other kind from `user` in the support group (topic
    /// or General); see [`BotApiSim::private_kind`].
    pub fn group_kind(&self, user: &SimUser, thread_id: Option<i32>, field: &str, value: Value) -> i32 {
        let content = Content::media(SimKind::Other(field.to_owned()), value, None);
        self.inject_message(user, SUPPORT_GROUP_ID, thread_id, thread_id.is_some(), content)
    }

    /// A document (PDF) with an optional caption, in the private chat.
    pub fn private_document(&self, user: &SimUser, caption: Option<&str>) -> i32 {
        let media = self.st().document("document.pdf", "application/pdf");
        self.inject_message(user, user.id, None, false, Content::media(SimKind::Document, media, caption))
    }

    /// The user edits their message `message_id` in the private chat: an
    /// `edited_message` update with `edit_date`. Returns the message id.
    pub fn edit_private_text(&self, user: &SimUser, message_id: i32, new_text: &str) -> i32 {
        self.with_update(|st| {
            let chat = st.chats.get_mut(&user.id).expect("edit_private_text: user has no private chat");
            let msg = chat
                .messages
                .get_mut(&message_id)
                .filter(|m| !m.deleted && m.from_user_id == Some(user.id))
                .unwrap_or_else(|| {
                    panic!("edit_private_text: no message {message_id} from user {}", user.id)
                });
            let content = Content::text(new_text);
            if msg.kind == SimKind::Text {
                msg.text = content.text;
                msg.entities = content.entities;
            } else {
                msg.caption = Some(new_text.to_owned());
                msg.entities = content.entities;
            }
            let now = unix_now();
            msg.edit_date = Some(now.max(msg.date + 1));
            let msg = msg.clone();
            let rendered = st.render(&msg, 0);
            (Some(json!({"edited_message": rendered})), message_id)
        })
    }

    /// `user` edits their text message `message_id` in the support group
    /// (topic or General): an `edited_message` update. Returns the id.
    pub fn edit_group_text(&self, user: &SimUser, message_id: i32, new_text: &str) -> i32 {
        self.with_update(|st| {
            let chat = st.chats.get_mut(&SUPPORT_GROUP_ID).expect("the support group");
            let msg = chat
                .messages
                .get_mut(&message_id)
                .filter(|m| !m.deleted && m.from_user_id == Some(user.id) && m.kind == SimKind::Text)
                .unwrap_or_else(|| panic!("edit_group_text: no text message {message_id} from {}", user.id));
            let content = Content::text(new_text);
            msg.text = content.text;
            msg.entities = content.entities;
            msg.edit_date = Some(unix_now().max(msg.date + 1));
            let msg = msg.clone();
            let rendered = st.render(&msg, 0);
            (Some(json!({"edited_message": rendered})), message_id)
        })
    }

    /// The user presses an inline button with `data` under the bot's message
    /// `message_id` in their private chat. Returns the callback query id.
    pub fn press_button(&self, user: &SimUser, message_id: i32, data: &str) -> String {
        self.press_button_in(user, user.id, message_id, data)
    }

    /// The user presses an inline button under the bot's message
    /// `message_id` in chat `chat_id` (e.g. in the support group).
    pub fn press_button_in(&self, user: &SimUser, chat_id: i64, message_id: i32, data: &str) -> String {
        self.with_update(|st| {
            st.ensure_user(user);
            let msg = st
                .chats
                .get(&chat_id)
                .and_then(|c| c.live(message_id))
                .filter(|m| m.from_bot)
                .cloned()
                .unwrap_or_else(|| {
                    panic!("press_button: no live bot message {message_id} in chat {chat_id}")
                });
            let id = format!("{}", 4_000_000_000_000_000_000u64 + st.next_callback);
            st.next_callback += 1;
            st.callbacks.insert(id.clone(), CallbackState { answered: false, answer: None });
            let update = json!({"callback_query": {
                "id": id,
                "from": user.to_json(),
                "message": st.render(&msg, 0),
                "chat_instance": chat_instance(chat_id),
                "data": data,
            }});
            (Some(update), id)
        })
    }

    /// A text message from `user` in the support group: in topic `t` with
    /// `Some(t)` (with `message_thread_id`, `is_topic_message` and the topic's
    /// creation message as `reply_to_message`), in General with `None`.
    pub fn group_text(&self, user: &SimUser, thread_id: Option<i32>, text: &str) -> i32 {
        self.inject_message(user, SUPPORT_GROUP_ID, thread_id, thread_id.is_some(), Content::text(text))
    }

    /// A photo from `user` in the support group (topic or General).
    pub fn group_photo(&self, user: &SimUser, thread_id: Option<i32>, caption: Option<&str>) -> i32 {
        let media = self.st().photo_sizes();
        let content = Content::media(SimKind::Photo, media, caption);
        self.inject_message(user, SUPPORT_GROUP_ID, thread_id, thread_id.is_some(), content)
    }

    /// A reply in General of the support group to message
    /// `reply_to_message_id`: it carries `message_thread_id` (= the replied
    /// message id) but NOT `is_topic_message`, exactly like Telegram.
    pub fn general_reply(&self, user: &SimUser, reply_to_message_id: i32, text: &str) -> i32 {
        self.with_update(|st| {
            st.ensure_user(user);
            let exists = st.chats.get(&SUPPORT_GROUP_ID).and_then(|c| c.live(reply_to_message_id)).is_some();
            assert!(exists, "general_reply: no message {reply_to_message_id} in the support group");
            let mut msg =
                st.new_message(SUPPORT_GROUP_ID, Sender::User(user.id), Some(reply_to_message_id), false);
            Content::text(text).apply(&mut msg);
            msg.reply_to_message_id = Some(reply_to_message_id);
            let id = msg.message_id;
            let rendered = st.store_and_render(msg);
            (Some(json!({"message": rendered})), id)
        })
    }

    /// A text message from `user` in [`OTHER_GROUP_ID`] (a non-forum group).
    pub fn other_group_text(&self, user: &SimUser, text: &str) -> i32 {
        self.inject_message(user, OTHER_GROUP_ID, None, false, Content::text(text))
    }

    /// Number of queued (unconfirmed) updates.
    pub fn pending_updates(&self) -> usize {
        self.st().updates.len()
    }

    /// Whether a getUpdates long poll is currently waiting.
    pub fn is_polling(&self) -> bool {
        self.st().poll.is_some()
    }

    // ----- observation -----------------------------------------------------

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.st().calls.clone()
    }

    /// Calls of one method (case-insensitive).
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.st().calls.iter().filter(|c| c.method.eq_ignore_ascii_case(method)).cloned().collect()
    }

    /// Live (not deleted) messages the bot sent, copied or forwarded into
    /// `chat_id` with this `message_thread_id` (`None` = no thread: private
    /// chats, General), excluding service messages.
    pub fn messages_in(&self, chat_id: i64, thread_id: Option<i32>) -> Vec<SimMessage> {
        let st = self.st();
        st.chats
            .get(&chat_id)
            .map(|c| {
                c.messages
                    .values()
                    .filter(|m| m.from_bot && !m.deleted && !m.is_service() && m.thread_id == thread_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every stored message of a chat (injected, sent, service, deleted).
    pub fn all_messages(&self, chat_id: i64) -> Vec<SimMessage> {
        self.st().chats.get(&chat_id).map(|c| c.messages.values().cloned().collect()).unwrap_or_default()
    }

    /// One stored message.
    pub fn message(&self, chat_id: i64, message_id: i32) -> Option<SimMessage> {
        self.st().chats.get(&chat_id)?.messages.get(&message_id).cloned()
    }

    /// The Bot API JSON Telegram would send for a stored message.
    pub fn message_json(&self, chat_id: i64, message_id: i32) -> Option<Value> {
        let st = self.st();
        let m = st.chats.get(&chat_id)?.messages.get(&message_id)?.clone();
        Some(st.render(&m, 0))
    }

    /// All forum topics (of every chat), in creation order per chat.
    pub fn topics(&self) -> Vec<SimTopic> {
        self.st()
            .topics
            .iter()
            .map(|(&(chat_id, thread_id), t)| SimTopic {
                chat_id,
                thread_id,
                name: t.name.clone(),
                icon_color: t.icon_color,
                icon_custom_emoji_id: t.icon_custom_emoji_id.clone(),
                closed: t.closed,
                deleted: t.deleted,
            })
            .collect()
    }

    /// One topic of a chat.
    pub fn topic(&self, chat_id: i64, thread_id: i32) -> Option<SimTopic> {
        self.topics().into_iter().find(|t| t.chat_id == chat_id && t.thread_id == thread_id)
    }

    /// The most recently pinned message in a chat's topic (`None` = the chat
    /// itself / General).
    pub fn pinned(&self, chat_id: i64, thread_id: Option<i32>) -> Option<i32> {
        self.st().pinned.get(&(chat_id, thread_id)).and_then(|v| v.last().copied())
    }

    /// Command lists set with `setMyCommands`: `(scope, language_code, [(command, description)])`.
    pub fn commands(&self) -> Vec<CommandList> {
        self.st().commands.clone()
    }

    /// The parameters of `answerCallbackQuery` for a callback id, if answered.
    pub fn callback_answer(&self, callback_query_id: &str) -> Option<Value> {
        self.st().callbacks.get(callback_query_id).and_then(|c| c.answer.clone())
    }

    /// The webhook URL set with `setWebhook`, if any, and its secret token.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.st().webhook.as_ref().map(|w| (w.url.clone(), w.secret_token.clone()))
    }

    /// Whether the bot left (`leaveChat`) a chat.
    pub fn has_left(&self, chat_id: i64) -> bool {
        self.st().chats.get(&chat_id).is_some_and(|c| c.bot_left)
    }

    /// Objects the simulator produced that lack a required Bot API field.
    pub fn schema_violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }

    /// A readable dump of the last `n` calls, for failure messages.
    pub fn dump_calls(&self, n: usize) -> String {
        let st = self.st();
        let start = st.calls.len().saturating_sub(n);
        let mut out = format!(
            "last {} of {} calls to the Bot API simulator:\n",
            st.calls.len() - start,
            st.calls.len()
        );
        for c in &st.calls[start..] {
            let mut params = c.params.to_string();
            if params.len() > 300 {
                let mut cut = 300;
                while !params.is_char_boundary(cut) {
                    cut -= 1;
                }
                params.truncate(cut);
                params.push('…');
            }
            let outcome = match &c.error {
                Some((code, d)) => format!(" -> {code} {d}"),
                None => String::new(),
            };
            let _ = writeln!(out, "  {} {}{}", c.method, params, outcome);
        }
        out
    }

    // ----- waiters ---------------------------------------------------------

    /// Waits until `cond(self)` holds; panics with a call dump after `timeout`.
    pub async fn wait_for(&self, cond: impl Fn(&BotApiSim) -> bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("wait_for: condition not met within {timeout:?}\n{}", self.dump_calls(30));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (up to [`DEFAULT_WAIT`]) for a bot message in `(chat_id,
    /// thread_id)` matching `pred` (see [`BotApiSim::messages_in`]).
    pub async fn wait_for_message(
        &self,
        chat_id: i64,
        thread_id: Option<i32>,
        pred: impl Fn(&SimMessage) -> bool,
    ) -> SimMessage {
        self.wait_for_message_within(chat_id, thread_id, pred, DEFAULT_WAIT).await
    }

    /// [`BotApiSim::wait_for_message`] with an explicit timeout.
    pub async fn wait_for_message_within(
        &self,
        chat_id: i64,
        thread_id: Option<i32>,
        pred: impl Fn(&SimMessage) -> bool,
        timeout: Duration,
    ) -> SimMessage {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages_in(chat_id, thread_id).into_iter().find(|m| pred(m)) {
                return m;
            }
            if Instant::now() >= deadline {
                let have: Vec<String> = self
                    .messages_in(chat_id, thread_id)
                    .iter()
                    .map(|m| format!("  #{} {:?}: {:?}", m.message_id, m.kind, m.body()))
                    .collect();
                panic!(
                    "wait_for_message: no matching message in chat {chat_id} thread {thread_id:?} within \
                     {timeout:?}; messages there:\n{}\n{}",
                    have.join("\n"),
                    self.dump_calls(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (up to [`DEFAULT_WAIT`]) for a completed call of `method`
    /// matching `pred` and returns it.
    pub async fn wait_for_call(&self, method: &str, pred: impl Fn(&Call) -> bool) -> Call {
        self.wait_for_call_within(method, pred, DEFAULT_WAIT).await
    }

    /// [`BotApiSim::wait_for_call`] with an explicit timeout.
    pub async fn wait_for_call_within(
        &self,
        method: &str,
        pred: impl Fn(&Call) -> bool,
        timeout: Duration,
    ) -> Call {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.calls_to(method).into_iter().find(|c| pred(c)) {
                return c;
            }
            if Instant::now() >= deadline {
                panic!(
                    "wait_for_call: no matching {method} call within {timeout:?}\n{}",
                    self.dump_calls(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts that no call of `method` matching `pred` arrives during `within`
    /// (calls made before this method was called are ignored).
    pub async fn assert_no_call_within(&self, method: &str, pred: impl Fn(&Call) -> bool, within: Duration) {
        let start = self.st().calls.len();
        let deadline = Instant::now() + within;
        loop {
            let hit = {
                let st = self.st();
                st.calls[start.min(st.calls.len())..]
                    .iter()
                    .find(|c| c.method.eq_ignore_ascii_case(method) && pred(c))
                    .cloned()
            };
            if let Some(c) = hit {
                panic!(
                    "assert_no_call_within: unexpected {method} call {}\n{}",
                    c.params,
                    self.dump_calls(30)
                );
            }
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

// ---------------------------------------------------------------------------
// Message construction & rendering
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    Bot,
    User(i64),
}

/// The content of a message being created.
#[derive(Clone, Debug, Default)]
struct Content {
    kind: Option<SimKind>,
    text: Option<String>,
    caption: Option<String>,
    entities: Vec<Value>,
    html: Option<String>,
    parse_mode: Option<String>,
    media: Option<Value>,
    media_group_id: Option<String>,
    forward_origin: Option<Value>,
}

impl Content {
    /// A user's text message; a leading `/command` gets a bot_command entity.
    fn text(text: &str) -> Self {
        Self {
            kind: Some(SimKind::Text),
            text: Some(text.to_owned()),
            entities: command_entity(text),
            ..Self::default()
        }
    }

    fn media(kind: SimKind, media: Value, caption: Option<&str>) -> Self {
        Self {
            kind: Some(kind),
            caption: caption.map(str::to_owned),
            entities: caption.map(command_entity).unwrap_or_default(),
            media: Some(media),
            ..Self::default()
        }
    }

    fn apply(self, msg: &mut SimMessage) {
        msg.kind = self.kind.unwrap_or(SimKind::Text);
        msg.text = self.text;
        msg.caption = self.caption;
        msg.entities = self.entities;
        msg.html = self.html;
        msg.parse_mode = self.parse_mode;
        msg.media = self.media;
        msg.media_group_id = self.media_group_id;
        msg.forward_origin = self.forward_origin;
    }
}

/// A `bot_command` entity for a leading `/command[@bot]`.
fn command_entity(text: &str) -> Vec<Value> {
    if !text.starts_with('/') {
        return Vec::new();
    }
    let word = text.split(char::is_whitespace).next().unwrap_or("");
    let name = word[1..].split('@').next().unwrap_or("");
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Vec::new();
    }
    vec![json!({"type": "bot_command", "offset": 0, "length": utf16_len(word)})]
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn chat_instance(chat_id: i64) -> String {
    format!("{}", (chat_id.unsigned_abs().wrapping_mul(2_654_435_761) % 9_000_000_000_000_000_000) as i64)
}

fn bot_user_json() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME})
}

impl State {
    fn ensure_user(&mut self, user: &SimUser) {
        self.users.insert(user.id, user.clone());
        let chat = self.chats.entry(user.id).or_insert_with(|| ChatState::private(user));
        chat.first_name = user.first_name.clone();
        chat.username = user.username.clone();
    }

    fn push_update(&mut self, mut update: Value) -> i64 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        if !update.is_object() {
            update = json!({});
        }
        update["update_id"] = json!(id);
        for v in check_required("Update", &update) {
            self.violations.push(format!("injected update {id}: {v}"));
        }
        self.updates.push_back(update);
        id
    }

    /// A blank message with a fresh id in `chat_id` (not stored yet).
    fn new_message(
        &mut self,
        chat_id: i64,
        sender: Sender,
        thread_id: Option<i32>,
        is_topic: bool,
    ) -> SimMessage {
        let chat = self.chats.get_mut(&chat_id).expect("new_message: unknown chat");
        let message_id = chat.alloc_id();
        let (from_bot, from_user_id) = match sender {
            Sender::Bot => (true, None),
            Sender::User(id) => (false, Some(id)),
        };
        SimMessage {
            chat_id,
            message_id,
            thread_id,
            is_topic_message: is_topic,
            from_bot,
            from_user_id,
            kind: SimKind::Text,
            text: None,
            caption: None,
            html: None,
            parse_mode: None,
            entities: Vec::new(),
            reply_markup: None,
            reply_to_message_id: None,
            copied_from: None,
            forwarded_from: None,
            forward_origin: None,
            media: None,
            link_preview_options: None,
            date: unix_now(),
            edit_date: None,
            deleted: false,
            media_group_id: None,
        }
    }

    fn store_and_render(&mut self, msg: SimMessage) -> Value {
        let rendered = self.render(&msg, 0);
        if let Some(chat) = self.chats.get_mut(&msg.chat_id) {
            chat.messages.insert(msg.message_id, msg);
        }
        rendered
    }

    fn sender_json(&self, m: &SimMessage) -> Value {
        match m.from_user_id {
            Some(id) if !m.from_bot => self
                .users
                .get(&id)
                .map(SimUser::to_json)
                .unwrap_or_else(|| json!({"id": id, "is_bot": false, "first_name": "User"})),
            _ => bot_user_json(),
        }
    }

    /// The Bot API `Message` object; `depth` 1 omits nested replies.
    fn render(&self, m: &SimMessage, depth: u8) -> Value {
        let chat = self
            .chats
            .get(&m.chat_id)
            .map(ChatState::to_json)
            .unwrap_or_else(|| json!({"id": m.chat_id, "type": "supergroup", "title": ""}));
        let mut o = Map::new();
        o.insert("message_id".into(), json!(m.message_id));
        if let Some(t) = m.thread_id {
            o.insert("message_thread_id".into(), json!(t));
        }
        o.insert("from".into(), self.sender_json(m));
        o.insert("chat".into(), chat);
        o.insert("date".into(), json!(m.date));
        if m.is_topic_message {
            o.insert("is_topic_message".into(), json!(true));
        }
        if let Some(origin) = &m.forward_origin {
            o.insert("forward_origin".into(), origin.clone());
        }
        if depth == 0
            && let Some(r) = m.reply_to_message_id
            && let Some(replied) = self.chats.get(&m.chat_id).and_then(|c| c.messages.get(&r))
            && !replied.deleted
        {
            o.insert("reply_to_message".into(), self.render(replied, 1));
        }
        if let Some(e) = m.edit_date {
            o.insert("edit_date".into(), json!(e));
        }
        if let Some(group) = &m.media_group_id {
            o.insert("media_group_id".into(), json!(group));
        }
        match &m.kind {
            SimKind::Text => {
                o.insert("text".into(), json!(m.text.clone().unwrap_or_default()));
                if !m.entities.is_empty() {
                    o.insert("entities".into(), json!(m.entities));
                }
            }
            SimKind::Photo | SimKind::Sticker | SimKind::Document => {
                let field = match m.kind {
                    SimKind::Photo => "photo",
                    SimKind::Sticker => "sticker",
                    _ => "document",
                };
                o.insert(field.into(), m.media.clone().unwrap_or(Value::Null));
                if let Some(c) = &m.caption {
                    o.insert("caption".into(), json!(c));
                    if !m.entities.is_empty() {
                        o.insert("caption_entities".into(), json!(m.entities));
                    }
                }
            }
            SimKind::Other(field) => {
                o.insert(field.clone(), m.media.clone().unwrap_or(Value::Null));
                if let Some(c) = &m.caption {
                    o.insert("caption".into(), json!(c));
                    if !m.entities.is_empty() {
                        o.insert("caption_entities".into(), json!(m.entities));
                    }
                }
            }
            SimKind::Service(name) if name == "pinned_message" => {
                let pinned_id = m.media.as_ref().and_then(|v| v["message_id"].as_i64()).unwrap_or(0) as i32;
                let pinned = self.chats.get(&m.chat_id).and_then(|c| c.messages.get(&pinned_id));
                let value = match pinned {
                    Some(p) if depth == 0 => self.render(p, 1),
                    _ => json!({"message_id": pinned_id, "chat": o["chat"].clone(), "date": 0}),
                };
                o.insert("pinned_message".into(), value);
            }
            SimKind::Service(name) => {
                o.insert(name.clone(), m.media.clone().unwrap_or(json!({})));
            }
        }
        if let Some(markup) = &m.reply_markup {
            o.insert("reply_markup".into(), markup.clone());
        }
        Value::Object(o)
    }

    fn file_ids(&mut self, prefix: &str) -> (String, String) {
        let n = self.next_file;
        self.next_file += 1;
        (format!("{prefix}AAQCAAMSim{n:08}AAQBAAMCAAN5AAMvBA"), format!("AQAD{n:08}Sim"))
    }

    fn photo_sizes(&mut self) -> Value {
        let (a, au) = self.file_ids("AgACAgIAAxkBAAI");
        let (b, bu) = self.file_ids("AgACAgIAAxkBAAI");
        json!([
            {"file_id": a, "file_unique_id": au, "file_size": 1_523, "width": 90, "height": 67},
            {"file_id": b, "file_unique_id": bu, "file_size": 58_471, "width": 1280, "height": 960},
        ])
    }

    fn sticker(&mut self) -> Value {
        let (id, uid) = self.file_ids("CAACAgIAAxkBAAI");
        let (tid, tuid) = self.file_ids("AAMCAgADGQEAAI");
        json!({
            "file_id": id, "file_unique_id": uid, "type": "regular", "width": 512, "height": 512,
            "is_animated": false, "is_video": false, "emoji": "👍", "set_name": "SimStickers",
            "file_size": 23_190,
            "thumbnail": {"file_id": tid, "file_unique_id": tuid, "file_size": 4_100, "width": 128, "height": 128},
        })
    }

    fn document(&mut self, file_name: &str, mime: &str) -> Value {
        let (id, uid) = self.file_ids("BQACAgIAAxkBAAI");
        json!({"file_id": id, "file_unique_id": uid, "file_name": file_name, "mime_type": mime, "file_size": 48_213})
    }
}

// ---------------------------------------------------------------------------
// HTTP plumbing: a listener whose connections can be dropped on purpose
// ---------------------------------------------------------------------------

/// Per-connection handle given to handlers (via `ConnectInfo`); `kill()`
/// makes the connection fail so that hyper closes it without a response.
#[derive(Clone, Debug)]
struct ConnHandle {
    killed: Arc<AtomicBool>,
}

impl ConnHandle {
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.remote_addr().clone()
    }
}

struct SimListener {
    inner: TcpListener,
}

impl Listener for SimListener {
    type Io = KillableStream;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    return (KillableStream { inner: stream, killed: killed.clone() }, ConnHandle { killed });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle { killed: Arc::new(AtomicBool::new(false)) })
    }
}

/// A TCP stream that starts failing every read and write once killed.
struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection dropped by BotApiSim fault"))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What the HTTP layer should send back.
enum Outcome {
    Ok(Value),
    Err(ApiErr),
    /// 502 with an HTML body.
    BadGatewayHtml,
    /// Close the connection without answering.
    Drop,
}

async fn http_entry(
    AxState(sim): AxState<BotApiSim>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match sim.process(&uri, &headers, &body).await {
        Outcome::Ok(result) => json_response(StatusCode::OK, json!({"ok": true, "result": result})),
        Outcome::Err(e) => {
            json_response(StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST), e.body())
        }
        Outcome::BadGatewayHtml => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad \
             Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n",
        )
            .into_response(),
        Outcome::Drop => {
            conn.kill();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Percent-decodes a URL path segment.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the request parameters: query string plus a JSON, urlencoded or
/// multipart body. String values that hold JSON objects/arrays are decoded
/// (Telegram accepts e.g. `reply_markup` as a JSON-serialised string).
fn parse_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiErr> {
    let mut params = Map::new();
    if let Some(q) = uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    let ctype =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let trimmed = body.iter().all(u8::is_ascii_whitespace);
    if trimmed {
        // empty body: only the query string
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else if ctype.starts_with("multipart/form-data") {
        let boundary = ctype_param(
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or(""),
            "boundary",
        )
        .ok_or_else(|| ApiErr::bad("can't parse multipart/form-data: no boundary"))?;
        parse_multipart(body, &boundary, &mut params)?;
    } else {
        // JSON (application/json, or no/unknown content type as Telegram tries JSON too)
        let v: Value = serde_json::from_slice(body).map_err(|_| ApiErr::bad("can't parse JSON object"))?;
        match v {
            Value::Object(o) => params.extend(o),
            _ => return Err(ApiErr::bad("can't parse JSON object")),
        }
    }
    for v in params.values_mut() {
        if let Value::String(s) = v {
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(parsed) = serde_json::from_str::<Value>(s)
            {
                *v = parsed;
            }
        }
    }
    Ok(params)
}

/// A parameter of a header value such as `multipart/form-data; boundary=x`.
fn ctype_param(ctype: &str, name: &str) -> Option<String> {
    ctype.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// A minimal multipart/form-data parser: text parts become string params,
/// file parts become `{"uploaded_file": name, "size": n, "hex": content}`; `attach://x`
/// references are resolved.
fn parse_multipart(body: &[u8], boundary: &str, params: &mut Map<String, Value>) -> Result<(), ApiErr> {
    let err = || ApiErr::bad("can't parse multipart/form-data body");
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let find = |hay: &[u8], from: usize, needle: &[u8]| -> Option<usize> {
        hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let mut files: BTreeMap<String, Value> = BTreeMap::new();
    let mut pos = find(body, 0, d).ok_or_else(err)? + d.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        let head_start = pos + 2; // skip CRLF after the delimiter
        let head_end = find(body, head_start, b"\r\n\r\n").ok_or_else(err)?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]).into_owned();
        let data_start = head_end + 4;
        let next = find(body, data_start, d).ok_or_else(err)?;
        let data_end = next.saturating_sub(2).max(data_start);
        let data = &body[data_start..data_end];
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("")
            .to_owned();
        let name = ctype_param(&disp, "name").ok_or_else(err)?;
        if let Some(filename) = ctype_param(&disp, "filename") {
            // The content is kept (as hex) so tests can read what the bot uploaded.
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            let v = json!({"uploaded_file": filename, "size": data.len(), "hex": hex});
            files.insert(name.clone(), v.clone());
            params.insert(name, v);
        } else {
            params.insert(name, Value::String(String::from_utf8_lossy(data).into_owned()));
        }
        pos = next + d.len();
    }
    for v in params.values_mut() {
        if let Value::String(s) = v
            && let Some(att) = s.strip_prefix("attach://")
            && let Some(f) = files.get(att)
        {
            *v = f.clone();
        }
    }
    Ok(())
}

/// Integer from a JSON number or a numeric string.
fn value_as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Typed access to request parameters.
struct Params<'a>(&'a Map<String, Value>);

impl Params<'_> {
    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    fn str(&self, k: &str) -> Option<String> {
        match self.get(k)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn i64(&self, k: &str) -> Result<Option<i64>, ApiErr> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => value_as_i64(v).map(Some).ok_or_else(|| ApiErr::bad(format!("invalid {k} specified"))),
        }
    }

    fn i32(&self, k: &str) -> Result<Option<i32>, ApiErr> {
        match self.i64(k)? {
            None => Ok(None),
            Some(v) => i32::try_from(v).map(Some).map_err(|_| ApiErr::bad(format!("invalid {k} specified"))),
        }
    }

    fn bool(&self, k: &str) -> bool {
        match self.get(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            _ => false,
        }
    }

    /// A JSON object/array parameter.
    fn json(&self, k: &str) -> Option<Value> {
        self.get(k).cloned()
    }
}

/// Description for a missing required parameter, in Telegram's words where known.
fn missing_param(method: &str, param: &str) -> ApiErr {
    match param {
        "chat_id" | "from_chat_id" => ApiErr::bad("chat_id is empty"),
        "text" => ApiErr::bad("message text is empty"),
        "message_id" | "message_ids" => ApiErr::bad("message identifier is not specified"),
        "callback_query_id" => {
            ApiErr::bad("query is too old and response timeout expired or query ID is invalid")
        }
        "message_thread_id" if method.contains("ForumTopic") => ApiErr::bad("message thread not found"),
        _ => ApiErr::bad(format!("parameter {param} is required")),
    }
}

fn is_missing(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Request pipeline
// ---------------------------------------------------------------------------

impl BotApiSim {
    async fn process(&self, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Outcome {
        let path = uri.path().trim_start_matches('/');
        let (first, rest) = path.split_once('/').unwrap_or((path, ""));
        let first = percent_decode(first);
        let Some(token) = first.strip_prefix("bot") else {
            return Outcome::Err(ApiErr::new(404, "Not Found"));
        };
        let method_raw = percent_decode(rest);
        let canonical = canonical_method(&method_raw);
        let params = parse_params(uri, headers, body);
        let logged_params = params.as_ref().map(|p| Value::Object(p.clone())).unwrap_or(Value::Null);
        let idx = {
            let mut st = self.st();
            st.calls.push(Call {
                method: canonical.clone().unwrap_or_else(|| method_raw.clone()),
                params: logged_params,
                at: Instant::now(),
                error: None,
                result: None,
            });
            st.calls.len() - 1
        };
        let outcome = if token != TOKEN {
            Outcome::Err(ApiErr::new(401, "Unauthorized"))
        } else if let Some(method) = canonical {
            match params {
                Ok(p) => self.process_method(&method, &p).await,
                Err(e) => Outcome::Err(e),
            }
        } else {
            Outcome::Err(ApiErr::new(404, "Not Found: method not found"))
        };
        let mut st = self.st();
        if let Some(call) = st.calls.get_mut(idx) {
            match &outcome {
                Outcome::Ok(v) => call.result = Some(v.clone()),
                Outcome::Err(e) => call.error = Some((e.code, e.desc.clone())),
                Outcome::BadGatewayHtml => call.error = Some((502, "Bad Gateway".into())),
                Outcome::Drop => call.error = Some((0, "connection dropped".into())),
            }
        }
        outcome
    }

    async fn process_method(&self, method: &str, params: &Map<String, Value>) -> Outcome {
        // 1. Fault injection, before anything else.
        let fault = self.st().take_fault(method, params);
        match fault {
            Some(Fault::TooManyRequests { retry_after }) => {
                return Outcome::Err(ApiErr::too_many(retry_after));
            }
            Some(Fault::BadRequest(d)) => return Outcome::Err(ApiErr::new(400, prefixed("Bad Request", &d))),
            Some(Fault::Forbidden(d)) => return Outcome::Err(ApiErr::new(403, prefixed("Forbidden", &d))),
            Some(Fault::ServerError) => return Outcome::Err(ApiErr::new(500, "Internal Server Error")),
            Some(Fault::BadGateway) => return Outcome::BadGatewayHtml,
            Some(Fault::DropConnection) => return Outcome::Drop,
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        // 2. Required parameters.
        for p in required_params(method) {
            if is_missing(params.get(&p)) {
                return Outcome::Err(missing_param(method, &p));
            }
        }
        // 3. The method itself.
        let result = if method == "getUpdates" {
            self.get_updates(params).await
        } else {
            self.st().dispatch(method, &Params(params))
        };
        match result {
            Ok(v) => {
                if let Some(ty) = return_type(method) {
                    let ty = ty.trim_start_matches("Array of ");
                    let problems = check_required(ty, &v);
                    if !problems.is_empty() {
                        let mut st = self.st();
                        for p in problems {
                            st.violations.push(format!("{method} result: {p}"));
                        }
                    }
                }
                Outcome::Ok(v)
            }
            Err(e) => Outcome::Err(e),
        }
    }

    /// `getUpdates` with long polling.
    async fn get_updates(&self, params: &Map<String, Value>) -> ApiResult {
        let p = Params(params);
        let offset = p.i64("offset")?;
        // Like the Bot API server: out-of-range limits mean the default, 100.
        let limit = p.i64("limit")?.filter(|l| (1..=100).contains(l)).unwrap_or(100) as usize;
        let timeout = p.i64("timeout")?.unwrap_or(0).clamp(0, 50) as u64;
        let allowed = p.json("allowed_updates");
        let (my_id, terminate) = {
            let mut st = self.st();
            if st.webhook.is_some() {
                return Err(ApiErr::new(409, CONFLICT_WEBHOOK));
            }
            if let Some(Value::Array(list)) = allowed {
                let list: Vec<String> = list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                st.allowed_updates = if list.is_empty() { None } else { Some(list) };
            }
            st.confirm(offset);
            // A new request terminates the one already waiting (Telegram's behaviour).
            if let Some(old) = st.poll.take() {
                old.terminate.notify_one();
            }
            let id = st.next_poll_id;
            st.next_poll_id += 1;
            let terminate = Arc::new(Notify::new());
            st.poll = Some(PollSlot { id, terminate: terminate.clone() });
            (id, terminate)
        };
        let _guard = PollGuard { sim: self, id: my_id };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            let notified = self.inner.updates_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.st();
                if st.webhook.is_some() {
                    return Err(ApiErr::new(409, CONFLICT_WEBHOOK));
                }
                if st.poll.as_ref().map(|s| s.id) != Some(my_id) {
                    return Err(ApiErr::new(409, CONFLICT_GET_UPDATES));
                }
                let batch = st.collect_updates(limit);
                if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
                    return Ok(Value::Array(batch));
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = terminate.notified() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

/// Clears the poll slot when a getUpdates request finishes or is dropped.
struct PollGuard<'a> {
    sim: &'a BotApiSim,
    id: u64,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.sim.st();
        if st.poll.as_ref().is_some_and(|s| s.id == self.id) {
            st.poll = None;
        }
    }
}

fn prefixed(prefix: &str, d: &str) -> String {
    if d.starts_with(prefix) { d.to_owned() } else { format!("{prefix}: {d}") }
}

impl State {
    fn take_fault(&mut self, method: &str, params: &Map<String, Value>) -> Option<Fault> {
        let chat = params.get("chat_id").and_then(value_as_i64);
        let idx = self.faults.iter().position(|r| {
            r.method.eq_ignore_ascii_case(method) && r.times > 0 && r.chat_id.is_none_or(|c| Some(c) == chat)
        })?;
        let rule = &mut self.faults[idx];
        rule.times -= 1;
        let fault = rule.fault.clone();
        if rule.times == 0 {
            self.faults.remove(idx);
        }
        Some(fault)
    }

    /// Drops confirmed updates (`offset` semantics of getUpdates).
    fn confirm(&mut self, offset: Option<i64>) {
        match offset {
            Some(o) if o > 0 => {
                while self.updates.front().is_some_and(|u| u["update_id"].as_i64().unwrap_or(0) < o) {
                    self.updates.pop_front();
                }
            }
            Some(o) if o < 0 => {
                let keep = o.unsigned_abs() as usize;
                while self.updates.len() > keep {
                    self.updates.pop_front();
                }
            }
            _ => {}
        }
    }

    fn update_allowed(&self, update: &Value) -> bool {
        let kind = update
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
            .unwrap_or_default();
        match &self.allowed_updates {
            Some(list) => list.contains(&kind),
            None => !DEFAULT_EXCLUDED_UPDATES.contains(&kind.as_str()),
        }
    }

    /// Up to `limit` pending updates; updates of kinds not allowed are dropped.
    fn collect_updates(&mut self, limit: usize) -> Vec<Value> {
        let pending = std::mem::take(&mut self.updates);
        self.updates = pending.into_iter().filter(|u| self.update_allowed(u)).collect();
        self.updates.iter().take(limit).cloned().collect()
    }

    /// Flood control for sending methods (only when enabled).
    fn rate_check(&mut self, chat_id: i64) -> Result<(), ApiErr> {
        let Some(limits) = self.rate_limits else { return Ok(()) };
        let now = Instant::now();
        while self.sent_log.front().is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60)) {
            self.sent_log.pop_front();
        }
        let sec = Duration::from_secs(1);
        let min = Duration::from_secs(60);
        let mut wait: Option<Duration> = None;
        let mut consider = |window: Duration, limit: u32, entries: Vec<Instant>| {
            if entries.len() >= limit as usize {
                // the (len - limit)th oldest entry must leave the window first
                let oldest = entries[entries.len() - limit as usize];
                let w = window.saturating_sub(now.duration_since(oldest));
                wait = Some(wait.map_or(w, |x| x.max(w)));
            }
        };
        let global: Vec<Instant> =
            self.sent_log.iter().filter(|(t, _)| now.duration_since(*t) < sec).map(|(t, _)| *t).collect();
        consider(sec, limits.global_per_sec, global);
        let chat: Vec<Instant> = self
            .sent_log
            .iter()
            .filter(|(t, c)| *c == chat_id && now.duration_since(*t) < sec)
            .map(|(t, _)| *t)
            .collect();
        consider(sec, limits.per_chat_per_sec, chat);
        if chat_id < 0 {
            let group: Vec<Instant> = self
                .sent_log
                .iter()
                .filter(|(t, c)| *c == chat_id && now.duration_since(*t) < min)
                .map(|(t, _)| *t)
                .collect();
            consider(min, limits.per_group_per_min, group);
        }
        match wait {
            Some(w) => {
                self.rate_limited += 1;
                let secs = w.as_secs() + u64::from(w.subsec_nanos() > 0);
                Err(ApiErr::too_many(secs.max(1) as u32))
            }
            None => Ok(()),
        }
    }

    fn record_sent(&mut self, chat_id: i64) {
        if self.rate_limits.is_some() {
            self.sent_log.push_back((Instant::now(), chat_id));
        }
    }

    /// Routes a (non-getUpdates) method to its handler.
    fn dispatch(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        if method == "createForumTopic" {
            // Creating a topic counts as a message in the group (Bot API FAQ).
            let chat = self.resolve_chat(p, "chat_id")?;
            self.rate_check(chat)?;
            let r = self.topic_methods(method, p);
            if r.is_ok() {
                self.record_sent(chat);
            }
            return r;
        }
        if SENDING_METHODS.contains(&method) {
            let chat = self.resolve_chat(p, "chat_id")?;
            self.rate_check(chat)?;
            let r = self.dispatch_send(method, p);
            if r.is_ok() {
                self.record_sent(chat);
            }
            return r;
        }
        match method {
            "getMe" => Ok(json!({
                "id": BOT_ID, "is_bot": true, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME,
                "can_join_groups": true, "can_read_all_group_messages": true,
                "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false,
            })),
            "logOut" | "close" => Ok(json!(true)),
            "setWebhook" | "deleteWebhook" | "getWebhookInfo" => self.webhook_methods(method, p),
            "editMessageText"
            | "editMessageCaption"
            | "editMessageReplyMarkup"
            | "deleteMessage"
            | "deleteMessages" => self.edit_methods(method, p),
            "createForumTopic"
            | "editForumTopic"
            | "closeForumTopic"
            | "reopenForumTopic"
            | "deleteForumTopic"
            | "unpinAllForumTopicMessages"
            | "getForumTopicIconStickers" => self.topic_methods(method, p),
            "pinChatMessage" | "unpinChatMessage" | "unpinAllChatMessages" => self.pin_methods(method, p),
            "setMyCommands" | "getMyCommands" | "deleteMyCommands" => self.command_methods(method, p),
            "answerCallbackQuery" => self.answer_callback(p),
            "getChat"
            | "getChatMember"
            | "getChatAdministrators"
            | "getChatMemberCount"
            | "leaveChat"
            | "sendChatAction" => self.chat_methods(method, p),
            "setMessageReaction"
            | "setMyDescription"
            | "setMyShortDescription"
            | "setMyName"
            | "setChatMenuButton"
            | "setMyDefaultAdministratorRights" => {
                if p.has("chat_id") {
                    self.resolve_chat(p, "chat_id")?;
                }
                Ok(json!(true))
            }
            other => Err(ApiErr::new(501, format!("Not Implemented: {other} is not supported by BotApiSim"))),
        }
    }

    // ----- chats & targets --------------------------------------------------

    /// Resolves a chat id parameter (integer, numeric string or @username).
    fn resolve_chat(&self, p: &Params<'_>, key: &str) -> Result<i64, ApiErr> {
        let v = p.get(key).ok_or_else(|| missing_param("", key))?;
        let id = match v {
            Value::String(s) if s.starts_with('@') => self
                .chats
                .values()
                .find(|c| c.username.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&s[1..])))
                .map(|c| c.id)
                .ok_or_else(ApiErr::chat_not_found)?,
            Value::String(s) if s.is_empty() => return Err(missing_param("", key)),
            other => value_as_i64(other).ok_or_else(ApiErr::chat_not_found)?,
        };
        if self.chats.contains_key(&id) { Ok(id) } else { Err(ApiErr::chat_not_found()) }
    }

    /// Checks that the bot may post into `chat_id` / `thread` and returns
    /// `(thread_id, is_topic_message)` for the new message.
    fn check_target(&self, chat_id: i64, thread: Option<i32>) -> Result<(Option<i32>, bool), ApiErr> {
        let chat = self.chats.get(&chat_id).ok_or_else(ApiErr::chat_not_found)?;
        match chat.ty {
            ChatType::Private => {
                if self.blocked.contains(&chat_id) {
                    return Err(ApiErr::forbidden("bot was blocked by the user"));
                }
                Ok((None, false))
            }
            ChatType::Supergroup => {
                if chat.bot_left {
                    return Err(ApiErr::forbidden("bot is not a member of the supergroup chat"));
                }
                let Some(t) = thread else { return Ok((None, false)) };
                if chat.is_forum {
                    match self.topics.get(&(chat_id, t)) {
                        None => Err(ApiErr::bad("message thread not found")),
                        Some(topic) if topic.deleted => Err(ApiErr::bad("TOPIC_DELETED")),
                        // Admins with the topic right may still post in a closed topic.
                        Some(topic) if topic.closed && !self.can_manage_topics => {
                            Err(ApiErr::bad("TOPIC_CLOSED"))
                        }
                        Some(_) => Ok((Some(t), true)),
                    }
                } else if chat.live(t).is_some() {
                    Ok((Some(t), false))
                } else {
                    Err(ApiErr::bad("message thread not found"))
                }
            }
        }
    }

    /// The replied message of a new message: `reply_parameters.message_id`
    /// or legacy `reply_to_message_id`.
    fn resolve_reply(&self, chat_id: i64, p: &Params<'_>) -> Result<Option<i32>, ApiErr> {
        let (id, allow) = match p.json("reply_parameters") {
            Some(rp) => {
                let id = rp.get("message_id").and_then(value_as_i64);
                let allow = rp.get("allow_sending_without_reply").and_then(Value::as_bool).unwrap_or(false);
                if let Some(other) = rp.get("chat_id").and_then(value_as_i64)
                    && other != chat_id
                {
                    // replies to other chats become external replies; not modelled
                    return Ok(None);
                }
                (id, allow)
            }
            None => (p.i64("reply_to_message_id")?, p.bool("allow_sending_without_reply")),
        };
        let Some(id) = id else { return Ok(None) };
        let id = i32::try_from(id).map_err(|_| ApiErr::bad("message to be replied not found"))?;
        let exists = self.chats.get(&chat_id).and_then(|c| c.live(id)).is_some();
        match (exists, allow) {
            (true, _) => Ok(Some(id)),
            (false, true) => Ok(None),
            (false, false) => Err(ApiErr::bad("message to be replied not found")),
        }
    }

    /// Validates `reply_markup`; returns the inline keyboard to echo (other
    /// keyboard kinds are accepted but not echoed, like Telegram).
    fn reply_markup(&self, p: &Params<'_>) -> Result<Option<Value>, ApiErr> {
        let Some(markup) = p.json("reply_markup") else { return Ok(None) };
        let Some(obj) = markup.as_object() else {
            return Err(ApiErr::bad("can't parse reply keyboard markup JSON object"));
        };
        let Some(rows) = obj.get("inline_keyboard") else {
            if obj.contains_key("keyboard")
                || obj.contains_key("remove_keyboard")
                || obj.contains_key("force_reply")
            {
                return Ok(None);
            }
            return Err(ApiErr::bad("can't parse reply keyboard markup JSON object"));
        };
        let rows = rows.as_array().ok_or_else(|| {
            ApiErr::bad("can't parse inline keyboard button: Field \"inline_keyboard\" must be of type Array")
        })?;
        for row in rows {
            let row = row.as_array().ok_or_else(|| {
                ApiErr::bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            })?;
            for b in row {
                let text = b.get("text").and_then(Value::as_str).unwrap_or("");
                if text.is_empty() {
                    return Err(ApiErr::bad("can't parse inline keyboard button: Text must be non-empty"));
                }
                if let Some(data) = b.get("callback_data") {
                    let data = data.as_str().unwrap_or("");
                    if data.is_empty() || data.len() > 64 {
                        return Err(ApiErr::bad("BUTTON_DATA_INVALID"));
                    }
                } else if let Some(url) = b.get("url") {
                    let url = url.as_str().unwrap_or("");
                    let ok =
                        ["http://", "https://", "tg://"].iter().any(|s| url.starts_with(s)) && url.len() > 8;
                    if !ok {
                        return Err(ApiErr::bad("BUTTON_URL_INVALID"));
                    }
                } else if ![
                    "switch_inline_query",
                    "switch_inline_query_current_chat",
                    "web_app",
                    "login_url",
                    "pay",
                    "callback_game",
                    "copy_text",
                    "switch_inline_query_chosen_chat",
                ]
                .iter()
                .any(|k| b.get(*k).is_some())
                {
                    return Err(ApiErr::bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    ));
                }
            }
        }
        Ok(Some(json!({"inline_keyboard": rows})))
    }

    // ----- sending ------------------------------------------------------------

    fn dispatch_send(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        match method {
            "sendMessage" => self.send_message(p),
            "sendPhoto" | "sendDocument" | "sendSticker" => self.send_media(method, p),
            "copyMessage" => self.copy_message(p, false),
            "forwardMessage" => self.copy_message(p, true),
            "copyMessages" | "forwardMessages" => self.copy_messages(p, method == "forwardMessages"),
            _ => Err(ApiErr::new(501, format!("Not Implemented: {method}"))),
        }
    }

    /// Common part of every sending method: target checks, reply, markup;
    /// returns a fresh bot message (not stored yet).
    fn prepare_bot_message(&mut self, p: &Params<'_>) -> Result<SimMessage, ApiErr> {
        let chat_id = self.resolve_chat(p, "chat_id")?;
        let (thread, is_topic) = self.check_target(chat_id, p.i32("message_thread_id")?)?;
        let reply = self.resolve_reply(chat_id, p)?;
        let markup = self.reply_markup(p)?;
        let mut msg = self.new_message(chat_id, Sender::Bot, thread, is_topic);
        msg.reply_to_message_id = reply.or(if is_topic { thread } else { None });
        msg.reply_markup = markup;
        Ok(msg)
    }

    fn send_message(&mut self, p: &Params<'_>) -> ApiResult {
        let raw = p.str("text").unwrap_or_default();
        let parse_mode = p.str("parse_mode").filter(|s| !s.is_empty());
        let (text, entities) = format_text(&raw, parse_mode.as_deref(), p.json("entities"))?;
        if text.trim().is_empty() {
            return Err(ApiErr::bad("message text is empty"));
        }
        if text.chars().count() > 4096 {
            return Err(ApiErr::bad("message is too long"));
        }
        let mut msg = self.prepare_bot_message(p)?;
        msg.kind = SimKind::Text;
        msg.text = Some(text);
        msg.entities = entities;
        msg.html = html_source(parse_mode.as_deref(), &raw);
        msg.parse_mode = parse_mode;
        msg.link_preview_options = p.json("link_preview_options");
        Ok(self.store_and_render(msg))
    }

    fn send_media(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        let (field, kind) = match method {
            "sendPhoto" => ("photo", SimKind::Photo),
            "sendDocument" => ("document", SimKind::Document),
            _ => ("sticker", SimKind::Sticker),
        };
        let input = p.json(field).ok_or_else(|| missing_param(method, field))?;
        let caption = self.caption_param(p)?;
        let media = self.media_for_input(&kind, &input)?;
        let mut msg = self.prepare_bot_message(p)?;
        msg.kind = kind.clone();
        msg.media = Some(media);
        if kind != SimKind::Sticker
            && let Some((plain, entities, html, mode)) = caption
        {
            msg.caption = Some(plain);
            msg.entities = entities;
            msg.html = html;
            msg.parse_mode = mode;
        }
        Ok(self.store_and_render(msg))
    }

    /// The `caption` parameter parsed with `parse_mode`: `(plain, entities, html, parse_mode)`;
    /// `None` when absent or empty.
    #[allow(clippy::type_complexity)]
    fn caption_param(
        &self,
        p: &Params<'_>,
    ) -> Result<Option<(String, Vec<Value>, Option<String>, Option<String>)>, ApiErr> {
        let Some(raw) = p.str("caption") else { return Ok(None) };
        let mode = p.str("parse_mode").filter(|s| !s.is_empty());
        let (plain, entities) = format_text(&raw, mode.as_deref(), p.json("caption_entities"))?;
        if plain.chars().count() > 1024 {
            return Err(ApiErr::bad("message caption is too long"));
        }
        if plain.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some((plain, entities, html_source(mode.as_deref(), &raw), mode)))
    }

    /// Media JSON for an `InputFile` parameter: a known file_id is reused,
    /// uploads and URLs get fresh file ids.
    fn media_for_input(&mut self, kind: &SimKind, input: &Value) -> Result<Value, ApiErr> {
        if let Some(s) = input.as_str() {
            if s.is_empty() {
                return Err(ApiErr::bad("wrong file identifier/HTTP URL specified"));
            }
            let known = self.chats.values().flat_map(|c| c.messages.values()).find_map(|m| {
                let media = m.media.as_ref()?;
                let hit = match media {
                    Value::Array(sizes) => sizes.iter().any(|s2| s2["file_id"] == json!(s)),
                    other => other["file_id"] == json!(s),
                };
                (hit && m.kind == *kind).then(|| media.clone())
            });
            if let Some(media) = known {
                return Ok(media);
            }
        }
        Ok(match kind {
            SimKind::Photo => self.photo_sizes(),
            SimKind::Sticker => self.sticker(),
            _ => {
                let name =
                    input.get("uploaded_file").and_then(Value::as_str).unwrap_or("file.bin").to_owned();
                self.document(&name, "application/octet-stream")
            }
        })
    }

    /// copyMessage / forwardMessage.
    fn copy_message(&mut self, p: &Params<'_>, forward: bool) -> ApiResult {
        let from_chat = self.resolve_chat(p, "from_chat_id")?;
        let src_id = p.i32("message_id")?.ok_or_else(|| missing_param("", "message_id"))?;
        let not_found = if forward { "message to forward not found" } else { "message to copy not found" };
        let src = self
            .chats
            .get(&from_chat)
            .and_then(|c| c.live(src_id))
            .cloned()
            .ok_or_else(|| ApiErr::bad(not_found))?;
        if src.is_service() {
            return Err(ApiErr::bad(if forward {
                "message can't be forwarded"
            } else {
                "message can't be copied"
            }));
        }
        let caption = if forward { None } else { Some(self.caption_param(p)?) };
        let mut msg = self.prepare_bot_message(p)?;
        msg.kind = src.kind.clone();
        msg.text = src.text.clone();
        msg.caption = src.caption.clone();
        msg.entities = src.entities.clone();
        msg.media = src.media.clone();
        if forward {
            msg.forwarded_from = Some((from_chat, src.message_id));
            // A forward of a forward shows where it first came from.
            msg.forward_origin = Some(src.forward_origin.clone().unwrap_or_else(|| {
                json!({
                    "type": "user",
                    "sender_user": self.sender_json(&src),
                    "date": src.date,
                })
            }));
            msg.reply_markup = None;
            msg.reply_to_message_id = if msg.is_topic_message { msg.thread_id } else { None };
        } else {
            msg.copied_from = Some((from_chat, src.message_id));
            if let Some(caption) = caption
                && p.has("caption")
                && src.kind != SimKind::Text
            {
                match caption {
                    Some((plain, entities, html, mode)) => {
                        msg.caption = Some(plain);
                        msg.entities = entities;
                        msg.html = html;
                        msg.parse_mode = mode;
                    }
                    None => {
                        msg.caption = None;
                        msg.entities = Vec::new();
                    }
                }
            }
        }
        let id = msg.message_id;
        let rendered = self.store_and_render(msg);
        Ok(if forward { rendered } else { json!({"message_id": id}) })
    }

    /// copyMessages / forwardMessages: ids must be strictly increasing;
    /// missing messages are skipped; the copies of an album's parts form one
    /// album again (a new `media_group_id`), as Telegram keeps the grouping.
    fn copy_messages(&mut self, p: &Params<'_>, forward: bool) -> ApiResult {
        let ids: Vec<i32> = p
            .json("message_ids")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(value_as_i64)
            .filter_map(|v| i32::try_from(v).ok())
            .collect();
        if ids.is_empty() || ids.len() > 100 {
            return Err(ApiErr::bad("message identifiers are not specified"));
        }
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ApiErr::bad("message identifiers must be in a strictly increasing order"));
        }
        let from_chat = self.resolve_chat(p, "from_chat_id")?;
        let mut albums: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for id in ids {
            let source_album =
                self.chats.get(&from_chat).and_then(|c| c.live(id)).and_then(|m| m.media_group_id.clone());
            let mut single = p.0.clone();
            single.remove("message_ids");
            single.insert("message_id".into(), json!(id));
            match self.copy_message(&Params(&single), forward) {
                Ok(v) => {
                    let copy_id = v["message_id"].clone();
                    if let (Some(album), Some(copy)) = (source_album, copy_id.as_i64()) {
                        let fresh = albums.entry(album).or_insert_with(|| {
                            self.next_media_group += 1;
                            format!("{}", 13_000_000_000_000_000u64 + self.next_media_group)
                        });
                        let to = self.resolve_chat(p, "chat_id")?;
                        if let Some(m) = self
                            .chats
                            .get_mut(&to)
                            .and_then(|c| i32::try_from(copy).ok().and_then(|id| c.messages.get_mut(&id)))
                        {
                            m.media_group_id = Some(fresh.clone());
                        }
                    }
                    out.push(json!({"message_id": copy_id}));
                }
                Err(e) if e.desc.contains("not found") => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Value::Array(out))
    }

    // ----- editing & deleting -----------------------------------------------------

    fn edit_methods(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        if method == "deleteMessages" {
            let chat_id = self.resolve_chat(p, "chat_id")?;
            let ids: Vec<i64> = p
                .json("message_ids")
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(value_as_i64)
                .collect();
            if ids.is_empty() {
                return Err(ApiErr::bad("message identifiers are not specified"));
            }
            if let Some(chat) = self.chats.get_mut(&chat_id) {
                for id in ids {
                    if let Some(m) = i32::try_from(id).ok().and_then(|id| chat.messages.get_mut(&id)) {
                        m.deleted = true;
                    }
                }
            }
            return Ok(json!(true));
        }
        if p.has("inline_message_id") {
            return Err(ApiErr::new(501, "Not Implemented: inline messages are not supported by BotApiSim"));
        }
        let chat_id = self.resolve_chat(p, "chat_id")?;
        let message_id = p.i32("message_id")?.ok_or_else(|| missing_param("", "message_id"))?;
        if let Some(ChatType::Private) = self.chats.get(&chat_id).map(|c| c.ty)
            && self.blocked.contains(&chat_id)
        {
            return Err(ApiErr::forbidden("bot was blocked by the user"));
        }
        if method == "deleteMessage" {
            let chat = self.chats.get_mut(&chat_id).ok_or_else(ApiErr::chat_not_found)?;
            let msg = chat.messages.get_mut(&message_id).filter(|m| !m.deleted);
            let msg = msg.ok_or_else(|| ApiErr::bad("message to delete not found"))?;
            msg.deleted = true;
            return Ok(json!(true));
        }
        let current = self
            .chats
            .get(&chat_id)
            .and_then(|c| c.live(message_id))
            .cloned()
            .ok_or_else(|| ApiErr::bad("message to edit not found"))?;
        if !current.from_bot || current.is_service() {
            return Err(ApiErr::bad("message can't be edited"));
        }
        let markup = self.reply_markup(p)?;
        let mut updated = current.clone();
        match method {
            "editMessageText" => {
                if current.kind != SimKind::Text {
                    return Err(ApiErr::bad("there is no text in the message to edit"));
                }
                let raw = p.str("text").unwrap_or_default();
                let mode = p.str("parse_mode").filter(|s| !s.is_empty());
                let (text, entities) = format_text(&raw, mode.as_deref(), p.json("entities"))?;
                if text.trim().is_empty() {
                    return Err(ApiErr::bad("message text is empty"));
                }
                if text.chars().count() > 4096 {
                    return Err(ApiErr::bad("MESSAGE_TOO_LONG"));
                }
                updated.text = Some(text);
                updated.entities = entities;
                updated.html = html_source(mode.as_deref(), &raw);
                updated.parse_mode = mode;
                updated.reply_markup = markup;
            }
            "editMessageCaption" => {
                if current.kind == SimKind::Text || current.kind == SimKind::Sticker {
                    return Err(ApiErr::bad("there is no caption in the message to edit"));
                }
                match self.caption_param(p)? {
                    Some((plain, entities, html, mode)) => {
                        updated.caption = Some(plain);
                        updated.entities = entities;
                        updated.html = html;
                        updated.parse_mode = mode;
                    }
                    None => {
                        updated.caption = None;
                        updated.entities = Vec::new();
                    }
                }
                updated.reply_markup = markup;
            }
            _ => updated.reply_markup = markup,
        }
        if updated.text == current.text
            && updated.caption == current.caption
            && updated.entities == current.entities
            && updated.reply_markup == current.reply_markup
        {
            return Err(ApiErr::new(400, NOT_MODIFIED));
        }
        updated.edit_date = Some(unix_now().max(current.date + 1));
        Ok(self.store_and_render(updated))
    }

    // ----- forum topics -----------------------------------------------------

    fn forum_chat(&self, p: &Params<'_>) -> Result<i64, ApiErr> {
        let chat_id = self.resolve_chat(p, "chat_id")?;
        let chat = &self.chats[&chat_id];
        if chat.bot_left {
            return Err(ApiErr::forbidden("bot is not a member of the supergroup chat"));
        }
        if !chat.is_forum {
            return Err(ApiErr::bad("the chat is not a forum"));
        }
        Ok(chat_id)
    }

    fn topic_mut(&mut self, chat_id: i64, p: &Params<'_>) -> Result<(i32, &mut TopicState), ApiErr> {
        let t = p.i32("message_thread_id")?.ok_or_else(|| ApiErr::bad("message thread not found"))?;
        match self.topics.get_mut(&(chat_id, t)) {
            None => Err(ApiErr::bad("TOPIC_ID_INVALID")),
            Some(topic) if topic.deleted => Err(ApiErr::bad("TOPIC_DELETED")),
            Some(topic) => Ok((t, topic)),
        }
    }

    /// Stores a service message from the bot in a topic.
    fn service_message(&mut self, chat_id: i64, thread: Option<i32>, name: &str, payload: Value) -> i32 {
        let mut msg = self.new_message(chat_id, Sender::Bot, thread, thread.is_some());
        msg.kind = SimKind::Service(name.to_owned());
        msg.media = Some(payload);
        if name != "forum_topic_created" {
            msg.reply_to_message_id = thread;
        }
        let id = msg.message_id;
        self.store_and_render(msg);
        id
    }

    fn delete_topic(&mut self, chat_id: i64, thread_id: i32) {
        if let Some(t) = self.topics.get_mut(&(chat_id, thread_id)) {
            t.deleted = true;
        }
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            for m in chat.messages.values_mut() {
                if m.is_topic_message && m.thread_id == Some(thread_id) {
                    m.deleted = true;
                }
            }
        }
        self.pinned.remove(&(chat_id, Some(thread_id)));
    }

    fn topic_methods(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        if method == "getForumTopicIconStickers" {
            return Ok(json!([]));
        }
        let chat_id = self.forum_chat(p)?;
        match method {
            "createForumTopic" => {
                if !self.can_manage_topics {
                    return Err(ApiErr::bad("not enough rights to create a topic"));
                }
                let name = p.str("name").unwrap_or_default();
                let len = name.chars().count();
                if len == 0 || len > 128 || name.trim().is_empty() {
                    return Err(ApiErr::bad("TOPIC_NAME_INVALID"));
                }
                let icon_color = match p.i64("icon_color") {
                    Ok(None) => TOPIC_ICON_COLORS[0],
                    Ok(Some(c)) if TOPIC_ICON_COLORS.iter().any(|&x| i64::from(x) == c) => c as u32,
                    _ => return Err(ApiErr::bad("TOPIC_ICON_COLOR_INVALID")),
                };
                let emoji = p.str("icon_custom_emoji_id").filter(|s| !s.is_empty());
                let mut payload = json!({"name": name, "icon_color": icon_color});
                if let Some(e) = &emoji {
                    payload["icon_custom_emoji_id"] = json!(e);
                }
                // The thread id is the id of the creation service message.
                let next = self.chats[&chat_id].next_message_id;
                let id = self.service_message(chat_id, Some(next), "forum_topic_created", payload.clone());
                debug_assert_eq!(id, next);
                self.topics.insert(
                    (chat_id, id),
                    TopicState {
                        name,
                        icon_color,
                        icon_custom_emoji_id: emoji,
                        closed: false,
                        deleted: false,
                    },
                );
                payload["message_thread_id"] = json!(id);
                Ok(payload)
            }
            "editForumTopic" => {
                let name = p.str("name").filter(|s| !s.is_empty());
                let emoji = p.str("icon_custom_emoji_id");
                if let Some(n) = &name
                    && n.chars().count() > 128
                {
                    return Err(ApiErr::bad("TOPIC_NAME_INVALID"));
                }
                let (thread, topic) = self.topic_mut(chat_id, p)?;
                let mut payload = json!({});
                let mut changed = false;
                if let Some(n) = name
                    && n != topic.name
                {
                    topic.name = n.clone();
                    payload["name"] = json!(n);
                    changed = true;
                }
                if let Some(e) = emoji {
                    let e = (!e.is_empty()).then_some(e);
                    if e != topic.icon_custom_emoji_id {
                        payload["icon_custom_emoji_id"] = json!(e.clone().unwrap_or_default());
                        topic.icon_custom_emoji_id = e;
                        changed = true;
                    }
                }
                if !changed {
                    return Err(ApiErr::bad("TOPIC_NOT_MODIFIED"));
                }
                self.service_message(chat_id, Some(thread), "forum_topic_edited", payload);
                Ok(json!(true))
            }
            "closeForumTopic" | "reopenForumTopic" => {
                let close = method == "closeForumTopic";
                let (thread, topic) = self.topic_mut(chat_id, p)?;
                if topic.closed == close {
                    return Err(ApiErr::bad("TOPIC_NOT_MODIFIED"));
                }
                topic.closed = close;
                let name = if close { "forum_topic_closed" } else { "forum_topic_reopened" };
                self.service_message(chat_id, Some(thread), name, json!({}));
                Ok(json!(true))
            }
            "deleteForumTopic" => {
                let (thread, _) = self.topic_mut(chat_id, p)?;
                self.delete_topic(chat_id, thread);
                Ok(json!(true))
            }
            "unpinAllForumTopicMessages" => {
                let (thread, _) = self.topic_mut(chat_id, p)?;
                if !self.can_pin {
                    return Err(ApiErr::bad("not enough rights to manage pinned messages in the chat"));
                }
                self.pinned.remove(&(chat_id, Some(thread)));
                Ok(json!(true))
            }
            _ => Err(ApiErr::new(501, format!("Not Implemented: {method}"))),
        }
    }

    // ----- pins ---------------------------------------------------------------

    fn pin_methods(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        let chat_id = self.resolve_chat(p, "chat_id")?;
        let ty = self.chats[&chat_id].ty;
        if ty == ChatType::Private && self.blocked.contains(&chat_id) {
            return Err(ApiErr::forbidden("bot was blocked by the user"));
        }
        if ty == ChatType::Supergroup && self.chats[&chat_id].bot_left {
            return Err(ApiErr::forbidden("bot is not a member of the supergroup chat"));
        }
        let rights_err = || ApiErr::bad("not enough rights to manage pinned messages in the chat");
        if ty == ChatType::Supergroup && !self.can_pin {
            return Err(rights_err());
        }
        match method {
            "pinChatMessage" => {
                let id = p.i32("message_id")?.ok_or_else(|| missing_param("", "message_id"))?;
                let msg = self.chats[&chat_id]
                    .live(id)
                    .cloned()
                    .ok_or_else(|| ApiErr::bad("message to pin not found"))?;
                let key = (chat_id, msg.topic());
                let list = self.pinned.entry(key).or_default();
                if list.last() != Some(&id) {
                    list.retain(|&x| x != id);
                    list.push(id);
                    self.service_message(chat_id, msg.topic(), "pinned_message", json!({"message_id": id}));
                }
                Ok(json!(true))
            }
            "unpinChatMessage" => {
                let id = match p.i32("message_id")? {
                    Some(id) => {
                        if self.chats[&chat_id].live(id).is_none() {
                            return Err(ApiErr::bad("message to unpin not found"));
                        }
                        Some(id)
                    }
                    None => self
                        .pinned
                        .iter()
                        .filter(|((c, _), _)| *c == chat_id)
                        .filter_map(|(_, v)| v.last().copied())
                        .max(),
                };
                if let Some(id) = id {
                    for ((c, _), list) in self.pinned.iter_mut() {
                        if *c == chat_id {
                            list.retain(|&x| x != id);
                        }
                    }
                }
                Ok(json!(true))
            }
            _ => {
                self.pinned.retain(|(c, _), _| *c != chat_id);
                Ok(json!(true))
            }
        }
    }

    // ----- commands -----------------------------------------------------------

    /// Normalised `(scope, language_code)` of a commands call.
    fn command_key(&self, p: &Params<'_>) -> Result<(Value, Option<String>), ApiErr> {
        let scope = p.json("scope").unwrap_or_else(|| json!({"type": "default"}));
        let ty = scope.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "default" | "all_private_chats" | "all_group_chats" | "all_chat_administrators" => {}
            "chat" | "chat_administrators" | "chat_member" => {
                let chat = scope
                    .get("chat_id")
                    .and_then(value_as_i64)
                    .ok_or_else(|| ApiErr::bad("chat_id is empty"))?;
                if !self.chats.contains_key(&chat) {
                    return Err(ApiErr::chat_not_found());
                }
                if ty == "chat_member" && scope.get("user_id").and_then(value_as_i64).is_none() {
                    return Err(ApiErr::bad("invalid user_id specified"));
                }
            }
            _ => return Err(ApiErr::bad("unsupported bot command scope type")),
        }
        let lang = p.str("language_code").filter(|s| !s.is_empty());
        if let Some(l) = &lang
            && !(l.len() == 2 && l.chars().all(|c| c.is_ascii_lowercase()))
        {
            return Err(ApiErr::bad("invalid language code specified"));
        }
        Ok((scope, lang))
    }

    fn command_methods(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        let (scope, lang) = self.command_key(p)?;
        let same = |c: &CommandList| c.0 == scope && c.1 == lang;
        match method {
            "setMyCommands" => {
                let list = p
                    .json("commands")
                    .and_then(|v| v.as_array().cloned())
                    .ok_or_else(|| ApiErr::bad("can't parse commands JSON object"))?;
                if list.len() > 100 {
                    return Err(ApiErr::bad("BOT_COMMANDS_TOO_MUCH"));
                }
                let mut commands = Vec::new();
                for c in &list {
                    let name = c.get("command").and_then(Value::as_str).unwrap_or("");
                    let desc = c.get("description").and_then(Value::as_str).unwrap_or("");
                    let valid_name = (1..=32).contains(&name.chars().count())
                        && name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
                    if !valid_name {
                        return Err(ApiErr::bad("BOT_COMMAND_INVALID"));
                    }
                    if !(1..=256).contains(&desc.chars().count()) || desc.trim().is_empty() {
                        return Err(ApiErr::bad("BOT_COMMAND_DESCRIPTION_INVALID"));
                    }
                    commands.push((name.to_owned(), desc.to_owned()));
                }
                self.commands.retain(|c| !same(c));
                if !commands.is_empty() {
                    self.commands.push((scope, lang, commands));
                }
                Ok(json!(true))
            }
            "getMyCommands" => Ok(self
                .commands
                .iter()
                .find(|c| same(c))
                .map(|c| c.2.iter().map(|(n, d)| json!({"command": n, "description": d})).collect::<Vec<_>>())
                .map(Value::Array)
                .unwrap_or_else(|| json!([]))),
            _ => {
                self.commands.retain(|c| !same(c));
                Ok(json!(true))
            }
        }
    }

    // ----- callbacks ----------------------------------------------------------

    fn answer_callback(&mut self, p: &Params<'_>) -> ApiResult {
        let id = p.str("callback_query_id").unwrap_or_default();
        let text = p.str("text").unwrap_or_default();
        if text.chars().count() > 200 {
            return Err(ApiErr::bad("MESSAGE_TOO_LONG"));
        }
        match self.callbacks.get_mut(&id) {
            Some(c) if !c.answered => {
                c.answered = true;
                c.answer = Some(Value::Object(p.0.clone()));
                Ok(json!(true))
            }
            _ => Err(ApiErr::new(400, QUERY_INVALID)),
        }
    }

    // ----- webhook --------------------------------------------------------------

    fn webhook_methods(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        match method {
            "setWebhook" => {
                let url = p.str("url").unwrap_or_default();
                if p.bool("drop_pending_updates") {
                    self.updates.clear();
                }
                if url.is_empty() {
                    self.webhook = None;
                    return Ok(json!(true));
                }
                let parsed = url::Url::parse(&url)
                    .map_err(|_| ApiErr::bad("bad webhook: invalid webhook URL specified"))?;
                if parsed.scheme() != "https" {
                    return Err(ApiErr::bad("bad webhook: An HTTPS URL must be provided for webhook"));
                }
                if !matches!(parsed.port_or_known_default(), Some(80 | 88 | 443 | 8443)) {
                    return Err(ApiErr::bad(
                        "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
                    ));
                }
                let secret = p.str("secret_token").filter(|s| !s.is_empty());
                if let Some(s) = &secret
                    && (s.len() > 256
                        || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                {
                    return Err(ApiErr::bad("secret token contains unallowed characters"));
                }
                self.webhook = Some(Webhook {
                    url,
                    secret_token: secret,
                    max_connections: p.i64("max_connections")?,
                    allowed_updates: p.json("allowed_updates"),
                });
                if let Some(old) = self.poll.take() {
                    old.terminate.notify_one();
                }
                Ok(json!(true))
            }
            "deleteWebhook" => {
                if p.bool("drop_pending_updates") {
                    self.updates.clear();
                }
                self.webhook = None;
                Ok(json!(true))
            }
            _ => {
                let mut info = json!({
                    "url": self.webhook.as_ref().map(|w| w.url.clone()).unwrap_or_default(),
                    "has_custom_certificate": false,
                    "pending_update_count": self.updates.len(),
                });
                if let Some(w) = &self.webhook {
                    info["max_connections"] = json!(w.max_connections.unwrap_or(40));
                    info["ip_address"] = json!("149.154.167.220");
                    if let Some(a) = &w.allowed_updates {
                        info["allowed_updates"] = a.clone();
                    }
                }
                Ok(info)
            }
        }
    }

    // ----- chat info ------------------------------------------------------------

    fn member_json(&self, chat_id: i64, user_id: i64) -> Result<Value, ApiErr> {
        if user_id == BOT_ID {
            if self.chats.get(&chat_id).is_some_and(|c| c.bot_left) {
                return Ok(json!({"status": "left", "user": bot_user_json()}));
            }
            if !self.bot_is_admin {
                return Ok(json!({"status": "member", "user": bot_user_json()}));
            }
            return Ok(json!({
                "status": "administrator", "user": bot_user_json(),
                "can_be_edited": false, "is_anonymous": false, "can_manage_chat": true,
                "can_delete_messages": true, "can_manage_video_chats": true, "can_restrict_members": true,
                "can_promote_members": false, "can_change_info": true, "can_invite_users": true,
                "can_post_stories": false, "can_edit_stories": false, "can_delete_stories": false,
                "can_pin_messages": self.can_pin, "can_manage_topics": self.can_manage_topics,
            }));
        }
        let user =
            self.users.get(&user_id).map(SimUser::to_json).ok_or_else(|| ApiErr::bad("user not found"))?;
        let status = self.member_status.get(&(chat_id, user_id)).map(String::as_str).unwrap_or("member");
        Ok(match status {
            "administrator" => json!({
                "status": "administrator", "user": user,
                "can_be_edited": true, "is_anonymous": false, "can_manage_chat": true,
                "can_delete_messages": true, "can_manage_video_chats": true, "can_restrict_members": true,
                "can_promote_members": false, "can_change_info": true, "can_invite_users": true,
                "can_post_stories": false, "can_edit_stories": false, "can_delete_stories": false,
                "can_pin_messages": true, "can_manage_topics": true,
            }),
            "creator" => json!({"status": "creator", "user": user, "is_anonymous": false}),
            "kicked" => json!({"status": "kicked", "user": user, "until_date": 0}),
            other => json!({"status": other, "user": user}),
        })
    }

    fn chat_methods(&mut self, method: &str, p: &Params<'_>) -> ApiResult {
        let chat_id = self.resolve_chat(p, "chat_id")?;
        match method {
            "getChat" => {
                let chat = &self.chats[&chat_id];
                let mut o = chat.to_json();
                o["accent_color_id"] = json!(0);
                o["max_reaction_count"] = json!(11);
                o["accepted_gift_types"] = json!({
                    "unlimited_gifts": false, "limited_gifts": false, "unique_gifts": false,
                    "premium_subscription": false, "gifts_from_channels": false,
                });
                if chat.ty == ChatType::Supergroup {
                    o["permissions"] = json!({"can_send_messages": true, "can_manage_topics": false});
                }
                Ok(o)
            }
            "getChatMember" => {
                let user_id = p.i64("user_id")?.ok_or_else(|| ApiErr::bad("invalid user_id specified"))?;
                self.member_json(chat_id, user_id)
            }
            "getChatAdministrators" => {
                if self.chats[&chat_id].ty == ChatType::Private {
                    return Err(ApiErr::bad("there are no administrators in the private chat"));
                }
                let mut out = vec![self.member_json(chat_id, BOT_ID)?];
                for (&(c, u), s) in &self.member_status {
                    if c == chat_id && (s == "administrator" || s == "creator") {
                        out.push(self.member_json(chat_id, u)?);
                    }
                }
                Ok(Value::Array(out))
            }
            "getChatMemberCount" => {
                Ok(json!(if self.chats[&chat_id].ty == ChatType::Private { 2 } else { 42 }))
            }
            "leaveChat" => {
                let chat = self.chats.get_mut(&chat_id).ok_or_else(ApiErr::chat_not_found)?;
                if chat.ty == ChatType::Private {
                    return Err(ApiErr::bad("chat member status can't be changed in private chats"));
                }
                if chat.bot_left {
                    return Err(ApiErr::forbidden("bot is not a member of the supergroup chat"));
                }
                chat.bot_left = true;
                Ok(json!(true))
            }
            _ => {
                // sendChatAction
                self.check_target(chat_id, p.i32("message_thread_id")?)?;
                const ACTIONS: &[&str] = &[
                    "typing",
                    "upload_photo",
                    "record_video",
                    "upload_video",
                    "record_voice",
                    "upload_voice",
                    "upload_document",
                    "choose_sticker",
                    "find_location",
                    "record_video_note",
                    "upload_video_note",
                ];
                let action = p.str("action").unwrap_or_default();
                if !ACTIONS.contains(&action.as_str()) {
                    return Err(ApiErr::bad("wrong parameter action in request"));
                }
                Ok(json!(true))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Formatting: HTML / MarkdownV2 / Markdown parsing
// ---------------------------------------------------------------------------

/// The raw source to keep for `SimMessage::html`.
fn html_source(parse_mode: Option<&str>, raw: &str) -> Option<String> {
    parse_mode.filter(|m| m.eq_ignore_ascii_case("html")).map(|_| raw.to_owned())
}

/// Applies `parse_mode` (or explicit entities) to a text: `(plain, entities)`.
fn format_text(
    raw: &str,
    parse_mode: Option<&str>,
    entities: Option<Value>,
) -> Result<(String, Vec<Value>), ApiErr> {
    let cant = |e: String| ApiErr::bad(format!("can't parse entities: {e}"));
    match parse_mode {
        None => {
            let ents = match entities {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            Ok((raw.to_owned(), ents))
        }
        Some(m) if m.eq_ignore_ascii_case("html") => parse_html(raw).map_err(cant),
        Some("MarkdownV2") => parse_markdown_v2(raw).map_err(cant),
        Some("Markdown") => parse_markdown_legacy(raw).map_err(cant),
        Some(_) => Err(ApiErr::bad("unsupported parse_mode")),
    }
}

struct OpenTag {
    name: String,
    argument: String,
    utf16_start: usize,
    byte_start_result: usize,
    expandable: bool,
}

/// Telegram's HTML subset, following tdlib's `parse_html` (including its
/// error messages). Returns the plain text and entities (UTF-16 offsets).
pub fn parse_html(text: &str) -> Result<(String, Vec<Value>), String> {
    let b = text.as_bytes();
    let at = |i: usize| -> u8 { b.get(i).copied().unwrap_or(0) };
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c);
    let mut result: Vec<u8> = Vec::with_capacity(b.len());
    let mut utf16 = 0usize;
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut entities: Vec<Value> = Vec::new();
    const TAGS: &[&str] = &[
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    ];
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'&'
            && let Some((ch, next)) = decode_html_entity(b, i)
        {
            let mut buf = [0u8; 4];
            result.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            utf16 += ch.len_utf16();
            i = next;
            continue;
        }
        if c != b'<' {
            if c & 0xC0 != 0x80 {
                utf16 += 1 + usize::from(c >= 0xF0);
            }
            result.push(c);
            i += 1;
            continue;
        }
        let begin = i;
        i += 1;
        if at(i) != b'/' {
            // start tag
            while i < b.len() && !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            if i >= b.len() {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            let name = String::from_utf8_lossy(&b[begin + 1..i]).to_lowercase();
            if !TAGS.contains(&name.as_str()) {
                return Err(format!("Unsupported start tag \"{name}\" at byte offset {begin}"));
            }
            let mut argument = String::new();
            let mut expandable = false;
            while at(i) != b'>' {
                while i < b.len() && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == b'>' {
                    break;
                }
                let attr_begin = i;
                while i < b.len() && !is_space(at(i)) && at(i) != b'=' && at(i) != b'>' {
                    i += 1;
                }
                let attr = String::from_utf8_lossy(&b[attr_begin..i]).to_lowercase();
                if attr.is_empty() {
                    return Err(format!("Empty attribute name in the tag \"{name}\" at byte offset {begin}"));
                }
                while i < b.len() && is_space(at(i)) {
                    i += 1;
                }
                if at(i) != b'=' {
                    if name == "blockquote" && attr == "expandable" {
                        expandable = true;
                        continue;
                    }
                    if i >= b.len() {
                        return Err(format!("Unclosed start tag at byte offset {begin}"));
                    }
                    return Err(format!(
                        "Expected equal sign in declaration of an attribute of the tag \"{name}\" at byte offset {begin}"
                    ));
                }
                i += 1;
                while i < b.len() && is_space(at(i)) {
                    i += 1;
                }
                if i >= b.len() {
                    return Err(format!("Unclosed start tag \"{name}\" at byte offset {begin}"));
                }
                let value;
                if at(i) != b'\'' && at(i) != b'"' {
                    let tb = i;
                    while at(i).is_ascii_alphanumeric() || at(i) == b'.' || at(i) == b'-' {
                        i += 1;
                    }
                    value = String::from_utf8_lossy(&b[tb..i]).to_lowercase();
                    if !is_space(at(i)) && at(i) != b'>' {
                        return Err(format!("Unexpected end of name token at byte offset {tb}"));
                    }
                } else {
                    let end = at(i);
                    i += 1;
                    let mut v: Vec<u8> = Vec::new();
                    while i < b.len() && at(i) != end {
                        if at(i) == b'&'
                            && let Some((ch, next)) = decode_html_entity(b, i)
                        {
                            let mut buf = [0u8; 4];
                            v.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            i = next;
                            continue;
                        }
                        v.push(at(i));
                        i += 1;
                    }
                    if at(i) == end {
                        i += 1;
                    }
                    value = String::from_utf8_lossy(&v).into_owned();
                }
                if i >= b.len() {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                match (name.as_str(), attr.as_str()) {
                    ("a", "href") => argument = value,
                    ("code", "class") if value.starts_with("language-") => argument = value[9..].to_owned(),
                    ("span", "class") if value.starts_with("tg-") => argument = value[3..].to_owned(),
                    ("tg-emoji", "emoji-id") => argument = value,
                    _ => {}
                }
            }
            if name == "span" && argument != "spoiler" {
                return Err(format!("Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"));
            }
            stack.push(OpenTag {
                name,
                argument,
                utf16_start: utf16,
                byte_start_result: result.len(),
                expandable,
            });
            i += 1; // skip '>'
        } else {
            // end tag
            let Some(open) = stack.pop() else {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            };
            i += 1;
            let name_begin = i;
            while i < b.len() && !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            let end_name = String::from_utf8_lossy(&b[name_begin..i]).to_lowercase();
            while i < b.len() && is_space(at(i)) {
                i += 1;
            }
            if at(i) != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            i += 1;
            if !end_name.is_empty() && end_name != open.name {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_name}>\"",
                    open.name
                ));
            }
            if utf16 > open.utf16_start {
                let offset = open.utf16_start;
                let length = utf16 - offset;
                let ty = match open.name.as_str() {
                    "b" | "strong" => Some(json!({"type": "bold"})),
                    "i" | "em" => Some(json!({"type": "italic"})),
                    "u" | "ins" => Some(json!({"type": "underline"})),
                    "s" | "strike" | "del" => Some(json!({"type": "strikethrough"})),
                    "tg-spoiler" | "span" => Some(json!({"type": "spoiler"})),
                    "blockquote" => Some(
                        json!({"type": if open.expandable { "expandable_blockquote" } else { "blockquote" }}),
                    ),
                    "tg-emoji" => match open.argument.parse::<i64>() {
                        Ok(id) if id != 0 => {
                            Some(json!({"type": "custom_emoji", "custom_emoji_id": open.argument}))
                        }
                        _ => return Err("Invalid custom emoji identifier specified".into()),
                    },
                    "a" => {
                        let url = if open.argument.is_empty() {
                            String::from_utf8_lossy(&result[open.byte_start_result..]).into_owned()
                        } else {
                            open.argument.clone()
                        };
                        if let Some(uid) =
                            url.strip_prefix("tg://user?id=").and_then(|s| s.parse::<i64>().ok())
                        {
                            Some(
                                json!({"type": "text_mention", "user": {"id": uid, "is_bot": false, "first_name": ""}}),
                            )
                        } else if is_valid_url(&url) {
                            Some(json!({"type": "text_link", "url": url}))
                        } else {
                            None
                        }
                    }
                    "pre" => {
                        // <pre><code class="language-x">...</code></pre>
                        let merged = entities.last_mut().filter(|e| {
                            e["type"] == "code"
                                && e["offset"] == json!(offset)
                                && e["length"] == json!(length)
                                && e.get("language").is_some()
                        });
                        if let Some(e) = merged {
                            e["type"] = json!("pre");
                            None
                        } else {
                            Some(json!({"type": "pre"}))
                        }
                    }
                    "code" => {
                        let mut e = json!({"type": "code"});
                        if !open.argument.is_empty() {
                            e["language"] = json!(open.argument);
                        }
                        Some(e)
                    }
                    _ => None,
                };
                if let Some(mut e) = ty {
                    e["offset"] = json!(offset);
                    e["length"] = json!(length);
                    entities.push(e);
                }
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("Can't find end tag corresponding to start tag \"{}\"", open.name));
    }
    // plain `code` entities don't keep a language
    for e in &mut entities {
        if e["type"] == "code"
            && let Some(o) = e.as_object_mut()
        {
            o.remove("language");
        }
    }
    sort_entities(&mut entities);
    let text = String::from_utf8(result).map_err(|_| {
        "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units"
            .to_owned()
    })?;
    Ok((text, entities))
}

/// tdlib's `decode_html_entity`: `&lt; &gt; &amp; &quot;` and numeric
/// references; anything else is not an entity (the `&` stays literal).
fn decode_html_entity(b: &[u8], pos: usize) -> Option<(char, usize)> {
    let at = |i: usize| -> u8 { b.get(i).copied().unwrap_or(0) };
    let mut end = pos + 1;
    let code: u32;
    if at(pos + 1) == b'#' {
        end += 1;
        let mut res: u64 = 0;
        if at(pos + 2) == b'x' {
            end += 1;
            while at(end).is_ascii_hexdigit() {
                res = res * 16 + u64::from((at(end) as char).to_digit(16).unwrap_or(0));
                end += 1;
                if res > 0x10ffff {
                    break;
                }
            }
        } else {
            while at(end).is_ascii_digit() {
                res = res * 10 + u64::from(at(end) - b'0');
                end += 1;
                if res > 0x10ffff {
                    break;
                }
            }
        }
        if res == 0 || res >= 0x10ffff || end - pos >= 10 {
            return None;
        }
        code = res as u32;
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        code = match &b[pos + 1..end] {
            b"lt" => '<' as u32,
            b"gt" => '>' as u32,
            b"amp" => '&' as u32,
            b"quot" => '"' as u32,
            _ => return None,
        };
    }
    if at(end) == b';' {
        end += 1;
    }
    // Surrogates are rejected later by tdlib; map them to U+FFFD-free error.
    let ch = char::from_u32(code)?;
    Some((ch, end))
}

fn is_valid_url(url: &str) -> bool {
    let u = url.trim();
    if u.is_empty() || u.contains(char::is_whitespace) {
        return false;
    }
    ["http://", "https://", "tg://", "mailto:", "ftp://", "tonsite://"].iter().any(|p| u.starts_with(p))
        || (u.contains('.') && !u.starts_with('.') && !u.ends_with('.'))
}

fn sort_entities(entities: &mut [Value]) {
    entities.sort_by_key(|e| {
        (e["offset"].as_u64().unwrap_or(0), std::cmp::Reverse(e["length"].as_u64().unwrap_or(0)))
    });
}

const MDV2_RESERVED: &[u8] = b"_*[]()~`>#+-=|{}.!";

/// MarkdownV2, close to tdlib's `parse_markdown_v2` (bold, italic,
/// underline, strikethrough, spoiler, code, pre, text links, blockquotes).
pub fn parse_markdown_v2(text: &str) -> Result<(String, Vec<Value>), String> {
    struct Open {
        kind: &'static str,
        utf16_start: usize,
        byte_offset: usize,
    }
    let b = text.as_bytes();
    let at = |i: usize| -> u8 { b.get(i).copied().unwrap_or(0) };
    let mut out: Vec<u8> = Vec::new();
    let mut utf16 = 0usize;
    let mut stack: Vec<Open> = Vec::new();
    let mut entities = Vec::new();
    let mut quote_start: Option<usize> = None;
    let mut i = 0usize;
    let push_char = |out: &mut Vec<u8>, utf16: &mut usize, s: &[u8]| {
        for &c in s {
            if c & 0xC0 != 0x80 {
                *utf16 += 1 + usize::from(c >= 0xF0);
            }
            out.push(c);
        }
    };
    while i < b.len() {
        let c = b[i];
        let line_start = i == 0 || b[i - 1] == b'\n';
        if line_start {
            if c == b'>' {
                if quote_start.is_none() {
                    quote_start = Some(utf16);
                }
                i += 1;
                continue;
            } else if let Some(start) = quote_start.take() {
                // the quote ended at the previous newline (not included)
                let end = utf16.saturating_sub(1);
                if end > start {
                    entities.push(json!({"type": "blockquote", "offset": start, "length": end - start}));
                }
            }
        }
        if c == b'\\' && at(i + 1) > 0 && at(i + 1) <= 126 {
            push_char(&mut out, &mut utf16, &b[i + 1..i + 2]);
            i += 2;
            continue;
        }
        // code / pre: literal content until the closing backticks
        if c == b'`' {
            let is_pre = at(i + 1) == b'`' && at(i + 2) == b'`';
            let start_byte = i;
            i += if is_pre { 3 } else { 1 };
            let mut language = String::new();
            if is_pre {
                let ls = i;
                while i < b.len() && !matches!(at(i), b'\n' | b' ' | b'`') {
                    i += 1;
                }
                language = String::from_utf8_lossy(&b[ls..i]).into_owned();
                if at(i) == b'\n' {
                    i += 1;
                } else {
                    i = ls;
                    language.clear();
                }
            }
            let start = utf16;
            loop {
                if i >= b.len() {
                    return Err(format!("Can't find end of the entity starting at byte offset {start_byte}"));
                }
                if at(i) == b'\\' && (at(i + 1) == b'`' || at(i + 1) == b'\\') {
                    push_char(&mut out, &mut utf16, &b[i + 1..i + 2]);
                    i += 2;
                    continue;
                }
                if at(i) == b'`' {
                    if !is_pre {
                        i += 1;
                        break;
                    }
                    if at(i + 1) == b'`' && at(i + 2) == b'`' {
                        i += 3;
                        break;
                    }
                }
                let len = utf8_len(at(i));
                push_char(&mut out, &mut utf16, &b[i..(i + len).min(b.len())]);
                i += len;
            }
            if utf16 > start {
                let mut e = json!({"type": if is_pre { "pre" } else { "code" }, "offset": start, "length": utf16 - start});
                if !language.is_empty() {
                    e["language"] = json!(language);
                }
                entities.push(e);
            }
            continue;
        }
        if !MDV2_RESERVED.contains(&c) {
            let len = utf8_len(c);
            push_char(&mut out, &mut utf16, &b[i..(i + len).min(b.len())]);
            i += len;
            continue;
        }
        // closing an open entity?
        let (kind, width): (&'static str, usize) = match c {
            b'*' => ("bold", 1),
            b'_' if at(i + 1) == b'_' && stack.last().is_none_or(|o| o.kind != "italic") => ("underline", 2),
            b'_' => ("italic", 1),
            b'~' => ("strikethrough", 1),
            b'|' if at(i + 1) == b'|' => ("spoiler", 2),
            b'[' => ("text_link", 1),
            b']' if stack.iter().any(|o| o.kind == "text_link") => ("text_link_end", 1),
            _ => {
                return Err(format!(
                    "Character '{}' is reserved and must be escaped with the preceding '\\'",
                    c as char
                ));
            }
        };
        if kind == "text_link_end" {
            let open = stack.pop().filter(|o| o.kind == "text_link").ok_or_else(|| {
                format!("Character '{}' is reserved and must be escaped with the preceding '\\'", c as char)
            })?;
            i += 1;
            let mut url = String::new();
            if at(i) == b'(' {
                i += 1;
                let mut u: Vec<u8> = Vec::new();
                while i < b.len() && at(i) != b')' {
                    if at(i) == b'\\' && at(i + 1) > 0 {
                        u.push(at(i + 1));
                        i += 2;
                        continue;
                    }
                    u.push(at(i));
                    i += 1;
                }
                if at(i) != b')' {
                    return Err(format!("Can't find end of a url at byte offset {}", open.byte_offset));
                }
                i += 1;
                url = String::from_utf8_lossy(&u).into_owned();
            }
            if utf16 > open.utf16_start && is_valid_url(&url) {
                entities.push(json!({"type": "text_link", "offset": open.utf16_start, "length": utf16 - open.utf16_start, "url": url}));
            }
            continue;
        }
        if kind != "text_link"
            && let Some(pos) = stack.iter().rposition(|o| o.kind == kind)
        {
            if pos != stack.len() - 1 {
                return Err(format!(
                    "Can't find end of {} entity at byte offset {}",
                    stack[stack.len() - 1].kind,
                    stack[stack.len() - 1].byte_offset
                ));
            }
            let open = stack.pop().expect("non-empty stack");
            if utf16 > open.utf16_start {
                entities.push(
                    json!({"type": kind, "offset": open.utf16_start, "length": utf16 - open.utf16_start}),
                );
            }
            i += width;
            continue;
        }
        stack.push(Open { kind, utf16_start: utf16, byte_offset: i });
        i += width;
    }
    if let Some(start) = quote_start
        && utf16 > start
    {
        entities.push(json!({"type": "blockquote", "offset": start, "length": utf16 - start}));
    }
    if let Some(open) = stack.last() {
        return Err(format!("Can't find end of the entity starting at byte offset {}", open.byte_offset));
    }
    sort_entities(&mut entities);
    Ok((String::from_utf8_lossy(&out).into_owned(), entities))
}

/// Legacy Markdown: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`.
pub fn parse_markdown_legacy(text: &str) -> Result<(String, Vec<Value>), String> {
    let b = text.as_bytes();
    let at = |i: usize| -> u8 { b.get(i).copied().unwrap_or(0) };
    let mut out: Vec<u8> = Vec::new();
    let mut utf16 = 0usize;
    let mut entities = Vec::new();
    let mut i = 0usize;
    let add = |out: &mut Vec<u8>, utf16: &mut usize, c: u8| {
        if c & 0xC0 != 0x80 {
            *utf16 += 1 + usize::from(c >= 0xF0);
        }
        out.push(c);
    };
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && matches!(at(i + 1), b'_' | b'*' | b'`' | b'[') {
            add(&mut out, &mut utf16, at(i + 1));
            i += 2;
            continue;
        }
        let (end_seq, kind): (&[u8], &str) = match c {
            b'*' => (b"*", "bold"),
            b'_' => (b"_", "italic"),
            b'`' if at(i + 1) == b'`' && at(i + 2) == b'`' => (b"```", "pre"),
            b'`' => (b"`", "code"),
            b'[' => (b"]", "text_link"),
            _ => {
                add(&mut out, &mut utf16, c);
                i += 1;
                continue;
            }
        };
        let begin = i;
        i += end_seq.len();
        let start = utf16;
        loop {
            if i >= b.len() {
                return Err(format!("Can't find end of the entity starting at byte offset {begin}"));
            }
            if b[i..].starts_with(end_seq) {
                i += end_seq.len();
                break;
            }
            add(&mut out, &mut utf16, b[i]);
            i += 1;
        }
        let mut e = json!({"type": kind, "offset": start, "length": utf16 - start});
        if kind == "text_link" {
            if at(i) != b'(' {
                e = Value::Null;
            } else {
                let us = i + 1;
                let Some(close) = b[us..].iter().position(|&x| x == b')') else {
                    return Err(format!("Can't find end of a url at byte offset {begin}"));
                };
                let url = String::from_utf8_lossy(&b[us..us + close]).into_owned();
                i = us + close + 1;
                e["url"] = json!(url);
            }
        }
        if !e.is_null() && utf16 > start {
            entities.push(e);
        }
    }
    sort_entities(&mut entities);
    Ok((String::from_utf8_lossy(&out).into_owned(), entities))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP client (for protocol-level tests)
// ---------------------------------------------------------------------------

/// Sends one raw HTTP/1.1 request to the simulator (`Connection: close`)
/// and returns `(status, body)`. Useful for protocol-level checks that
/// teloxide can't express (bad tokens, form bodies, malformed JSON).
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to BotApiSim");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        let _ = write!(req, "Content-Type: {ct}\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write request");
    stream.write_all(body).await.expect("write body");
    let mut resp = Vec::new();
    let _ = stream.read_to_end(&mut resp).await;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
