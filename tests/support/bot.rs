//! Starts the real topicdesk in-process against the simulator and a fresh
//! database, and drives a customer through intake.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use topicdesk::{clock::SystemClock, config::Config};

use super::{
    db::TestDb,
    sim::{BotApiSim, RateLimits, SUPPORT_GROUP_ID, SimMessage, SimUser, TOKEN},
};

/// A running bot with its simulator and database.
pub struct TestBot {
    pub sim: BotApiSim,
    pub db: TestDb,
    env: Vec<(String, String)>,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// Flood limits enforced by both the simulator and the bot.
    limits: Option<topicdesk::delivery::Limits>,
}

fn per_second(window: topicdesk::delivery::limiter::Window) -> u32 {
    assert_eq!(window.per, Duration::from_secs(1), "the simulator counts this limit per second");
    window.count
}

/// The configuration a test bot runs with.
pub fn config(sim: &BotApiSim, db: &TestDb, env: &[(String, String)]) -> Config {
    let database_url = match &db.url {
        topicdesk::config::DatabaseUrl::Sqlite(u) | topicdesk::config::DatabaseUrl::Postgres(u) => u.clone(),
    };
    let mut vars: HashMap<String, String> = HashMap::from([
        ("TELOXIDE_TOKEN".to_owned(), TOKEN.to_owned()),
        ("TELOXIDE_API_URL".to_owned(), sim.api_url().to_string()),
        ("DATABASE_URL".to_owned(), database_url),
        ("SUPPORT_GROUP_ID".to_owned(), SUPPORT_GROUP_ID.to_string()),
    ]);
    for (k, v) in env {
        vars.insert(k.clone(), v.clone());
    }
    // The simulator enforces no flood limits unless a test asks it to; the
    // tests about limits turn both on.
    vars.entry("RATE_LIMITS".to_owned()).or_insert_with(|| "off".to_owned());
    vars.entry("HTTP_ADDR".to_owned()).or_insert_with(|| format!("127.0.0.1:{}", free_port()));
    Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration is valid")
}

impl TestBot {
    /// A bot on a fresh SQLite database.
    pub async fn start() -> TestBot {
        Self::start_with(&[]).await
    }

    /// A bot with extra environment settings.
    pub async fn start_with(env: &[(&str, &str)]) -> TestBot {
        let db = TestDb::sqlite().await;
        Self::start_on(db, env).await
    }

    /// A bot on the given database.
    pub async fn start_on(db: TestDb, env: &[(&str, &str)]) -> TestBot {
        let sim = BotApiSim::start().await;
        Self::start_on_sim(sim, db, env).await
    }

    /// A bot on a fresh SQLite database, talking to `sim` as the test set
    /// it up before the start (a group without rights, say).
    pub async fn start_with_sim(sim: BotApiSim, env: &[(&str, &str)]) -> TestBot {
        let db = TestDb::sqlite().await;
        Self::start_on_sim(sim, db, env).await
    }

    async fn start_on_sim(sim: BotApiSim, db: TestDb, env: &[(&str, &str)]) -> TestBot {
        topicdesk::telemetry::init_for_tests();
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if !env.iter().any(|(k, _)| k == "HTTP_ADDR") {
            env.push(("HTTP_ADDR".to_owned(), format!("127.0.0.1:{}", free_port())));
        }
        let mut bot =
            TestBot { sim, db, env, shutdown: CancellationToken::new(), handle: None, limits: None };
        bot.launch().await;
        bot
    }

    /// A bot in webhook mode (`WEBHOOK_URL` among `env`): it does not poll,
    /// so start-up completes when it has registered the webhook.
    pub async fn start_webhook(env: &[(&str, &str)]) -> TestBot {
        topicdesk::telemetry::init_for_tests();
        let db = TestDb::sqlite().await;
        let sim = BotApiSim::start().await;
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        env.push(("HTTP_ADDR".to_owned(), format!("127.0.0.1:{}", free_port())));
        let mut bot =
            TestBot { sim, db, env, shutdown: CancellationToken::new(), handle: None, limits: None };
        let config = config(&bot.sim, &bot.db, &bot.env);
        let storage = bot.db.storage.clone();
        let shutdown = bot.shutdown.clone();
        bot.handle =
            Some(tokio::spawn(topicdesk::run_with(config, storage, Arc::new(SystemClock), shutdown)));
        bot.sim.wait_for(|s| s.webhook().is_some(), Duration::from_secs(10)).await;
        bot
    }

    /// A bot on a fresh SQLite database whose simulator enforces `limits`
    /// (Telegram's flood control, scaled for a test) and whose own limiter
    /// is set to the same limits.
    pub async fn start_limited(env: &[(&str, &str)], limits: topicdesk::delivery::Limits) -> TestBot {
        topicdesk::telemetry::init_for_tests();
        let db = TestDb::sqlite().await;
        let sim = BotApiSim::start().await;
        sim.set_rate_limits(RateLimits {
            per_chat_per_sec: per_second(limits.per_chat),
            per_group_per_min: limits.per_group.count * (60 / limits.per_group.per.as_secs().max(1)) as u32,
            global_per_sec: per_second(limits.global),
        });
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        env.push(("HTTP_ADDR".to_owned(), format!("127.0.0.1:{}", free_port())));
        let mut bot =
            TestBot { sim, db, env, shutdown: CancellationToken::new(), handle: None, limits: Some(limits) };
        bot.launch().await;
        bot
    }

    async fn launch(&mut self) {
        let mut config = config(&self.sim, &self.db, &self.env);
        if let Some(limits) = self.limits {
            config.rate_limits = topicdesk::config::RateLimitMode::Custom(limits);
        }
        self.shutdown = CancellationToken::new();
        let storage = self.db.storage.clone();
        let shutdown = self.shutdown.clone();
        self.handle =
            Some(tokio::spawn(topicdesk::run_with(config, storage, Arc::new(SystemClock), shutdown)));
        let polling_calls = self.sim.calls_to("getUpdates").len();
        self.sim.wait_for(|s| s.calls_to("getUpdates").len() > polling_calls, Duration::from_secs(10)).await;
    }

    /// Base URL of the bot's HTTP listener (`/healthz`, `/metrics`, webhook).
    pub fn http_url(&self) -> String {
        format!("http://{}", config(&self.sim, &self.db, &self.env).http_addr)
    }

    /// Stops the bot gracefully and returns how `run` ended.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.handle.take() {
            Some(handle) => tokio::time::timeout(Duration::from_secs(15), handle)
                .await
                .expect("the bot stops within 15 s")
                .expect("the bot task does not panic"),
            None => Ok(()),
        }
    }

    /// Kills the bot without any shutdown (a crash): in-flight handlers are
    /// dropped mid-way, like a SIGKILL of the process.
    pub async fn crash(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
            let _ = handle.await;
        }
    }

    /// Starts the bot again after [`TestBot::crash`] or [`TestBot::stop`].
    pub async fn start_again(&mut self) {
        self.launch().await;
    }

    /// Stops and starts the bot again on the same database and simulator.
    pub async fn restart(&mut self) {
        self.stop().await.expect("clean stop");
        self.launch().await;
    }

    /// Makes `user` an agent who may answer customers, without taking part
    /// in routing (status away), as an admin's `/agent_add` and the agent's
    /// `/away` would.
    pub async fn register_agent(&self, user: &SimUser) {
        let storage = &self.db.storage;
        storage.upsert_agent(user.id, &user.first_name, 100, 0, None).await.expect("agent added");
        let away = topicdesk::routing::AgentStatus::Away;
        storage.set_agent_status(user.id, away, 0, None, None).await.expect("agent away");
    }

    /// The customer's side of an intake: `/start`, the category's button,
    /// the description; returns the bot's answer to the description (the
    /// first message whose text `answer` accepts).
    pub async fn describe_ticket(
        &self,
        customer: &SimUser,
        category: &str,
        description: &str,
        answer: impl Fn(&str) -> bool,
    ) -> SimMessage {
        let sim = &self.sim;
        let before = sim.messages_in(customer.id, None).len();
        sim.private_command(customer, "/start");
        let menu = self.wait_for_customer_message(customer, before, |m| !m.callback_data().is_empty()).await;
        let data = menu
            .callback_data()
            .into_iter()
            .find(|d| d.ends_with(&format!("/{category}")))
            .unwrap_or_else(|| panic!("no button for {category}: {:?}", menu.callback_data()));
        let before = sim.messages_in(customer.id, None).len();
        sim.press_button(customer, menu.message_id, &data);
        self.wait_for_customer_message(customer, before, |_| true).await;
        let before = sim.messages_in(customer.id, None).len();
        sim.private_text(customer, description);
        self.wait_for_customer_message(customer, before, |m| m.body().is_some_and(&answer)).await
    }

    /// Walks a customer through `/start` → category → description and
    /// returns (ticket number, topic thread id).
    pub async fn open_ticket(&self, customer: &SimUser, category: &str, description: &str) -> (i64, i32) {
        let sim = &self.sim;
        let opened = self.describe_ticket(customer, category, description, |b| b.contains('#')).await;
        let ticket = ticket_number(opened.body().unwrap_or_default());
        let prefix = format!("#{ticket} ");
        sim.wait_for(|s| s.topics().iter().any(|t| t.name.starts_with(&prefix)), Duration::from_secs(10))
            .await;
        let topic = sim.topics().into_iter().find(|t| t.name.starts_with(&prefix)).expect("topic");
        sim.wait_for(
            |s| s.pinned(SUPPORT_GROUP_ID, Some(topic.thread_id)).is_some(),
            Duration::from_secs(10),
        )
        .await;
        (ticket, topic.thread_id)
    }

    /// Waits for a new bot message in the customer's chat (index ≥ `after`).
    pub async fn wait_for_customer_message(
        &self,
        customer: &SimUser,
        after: usize,
        pred: impl Fn(&SimMessage) -> bool,
    ) -> SimMessage {
        let id = customer.id;
        self.sim
            .wait_for(|s| s.messages_in(id, None).iter().skip(after).any(&pred), Duration::from_secs(10))
            .await;
        self.sim.messages_in(id, None).into_iter().skip(after).find(|m| pred(m)).expect("message present")
    }
}

/// A port nothing listens on right now (the OS picks it; the listener is
/// dropped at once so the bot can bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The number in "… #N …".
pub fn ticket_number(text: &str) -> i64 {
    let after = text.split('#').nth(1).unwrap_or_else(|| panic!("no ticket number in {text:?}"));
    after.chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("a number")
}
