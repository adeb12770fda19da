//! Operations: `/healthz`, `/metrics`, and webhook mode with its secret.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{bot::TestBot, sim::SimUser};

#[tokio::test]
async fn healthz_reports_database_and_bot_api() {
    let mut bot = TestBot::start().await;
    let response = reqwest::get(format!("{}/healthz", bot.http_url())).await.expect("healthz");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["database_backend"], "sqlite");
    assert!(body["last_bot_api_success_seconds_ago"].as_i64().is_some_and(|s| s < 60), "{body}");

    // With the database gone, health says so.
    bot.db.storage.close().await;
    let response = reqwest::get(format!("{}/healthz", bot.http_url())).await.expect("healthz");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "unhealthy");
    assert_ne!(body["database"], "ok");
    let _ = bot.stop().await;
}

#[tokio::test]
async fn metrics_are_scraped_in_prometheus_format() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    bot.open_ticket(&SimUser::customer(321, "Ria"), "billing", "help").await;
    let response = reqwest::get(format!("{}/metrics", bot.http_url())).await.expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/plain"));
    let text = response.text().await.expect("body");
    for needle in [
        "# TYPE topicdesk_updates_total counter",
        "topicdesk_updates_total{kind=\"message\",outcome=\"handled\"}",
        "topicdesk_tickets_opened_total{tier=\"unknown\"}",
        "topicdesk_queue_length",
        "topicdesk_inbox_pending",
        // Read from the database on every scrape, not only by /healthz.
        "topicdesk_outbox_pending",
        "topicdesk_outbox_failed",
        "topicdesk_last_bot_api_success_timestamp_seconds",
        // The support group's budget in the last full minute (DESIGN §15).
        "topicdesk_group_messages_per_minute",
        "topicdesk_group_longest_wait_seconds",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let queue_line = text.lines().find(|l| l.starts_with("topicdesk_queue_length ")).expect("queue gauge");
    assert!(queue_line.ends_with(" 1"), "one ticket waits (no agents): {queue_line}");
    bot.stop().await.expect("clean stop");
}

fn update(id: i64, user: &SimUser, text: &str) -> Value {
    json!({"update_id": id, "message": {
        "message_id": 10 + id, "date": 1_700_000_000,
        "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
        "from": {"id": user.id, "is_bot": false, "first_name": user.first_name, "language_code": "en"},
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": text.len()}]
    }})
}

#[tokio::test]
async fn webhook_mode_accepts_only_telegrams_secret() {
    let mut bot = TestBot::start_webhook(&[
        ("WEBHOOK_URL", "https://bot.example.com/telegram/hook"),
        ("WEBHOOK_SECRET_TOKEN", "s3cret-Token_1"),
    ])
    .await;
    let (url, secret) = bot.sim.webhook().expect("setWebhook was called");
    assert_eq!(url, "https://bot.example.com/telegram/hook");
    assert_eq!(secret.as_deref(), Some("s3cret-Token_1"));
    assert!(bot.sim.calls_to("getUpdates").is_empty(), "no polling in webhook mode");

    let eve = SimUser::customer(4242, "Eve");
    bot.sim.add_user(&eve);
    let hook = format!("{}/telegram/hook", bot.http_url());
    let client = reqwest::Client::new();

    // No secret, a wrong one, a prefix of the right one: 401, nothing handled.
    for header in [None, Some("wrong"), Some("s3cret")] {
        let mut request = client.post(&hook).json(&update(1, &eve, "/help"));
        if let Some(h) = header {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", h);
        }
        assert_eq!(request.send().await.expect("post").status(), 401, "{header:?}");
    }
    // Oversized bodies are refused before parsing.
    let huge = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-Token_1")
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(huge.status(), 413);
    bot.sim
        .assert_no_call_within("sendMessage", |c| c.chat_id() == Some(eve.id), Duration::from_millis(300))
        .await;
    assert!(bot.db.storage.inbox_pending(10).await.expect("q").is_empty());

    // The right secret: handled like a polled update, and only once.
    for _ in 0..2 {
        let ok = client
            .post(&hook)
            .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-Token_1")
            .json(&update(2, &eve, "/help"))
            .send()
            .await
            .expect("post");
        assert_eq!(ok.status(), 200);
    }
    bot.sim.wait_for_message(eve.id, None, |m| m.body().is_some_and(|b| b.contains("/start"))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.sim.messages_in(eve.id, None).len(), 1, "a re-delivered update is not handled twice");

    // A body that is not an Update is refused (and not stored).
    let bad = client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-Token_1")
        .body("not json")
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    bot.stop().await.expect("clean stop");
}

#[tokio::test]
async fn with_postgresql_one_instance_polls_and_another_takes_over() {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;
    use topicdesk::{clock::SystemClock, storage::Storage};

    use crate::support::{
        bot::{config, free_port},
        db::TestDb,
        sim::BotApiSim,
    };

    let Some(db) = TestDb::postgres().await else {
        eprintln!("TEST_POSTGRES_URL not set: skipping the poller hand-over test");
        return;
    };
    topicdesk::telemetry::init_for_tests();
    let sim = BotApiSim::start().await;
    let start = |storage: Storage| {
        let cfg = config(&sim, &db, &[("HTTP_ADDR".to_owned(), format!("127.0.0.1:{}", free_port()))]);
        let token = CancellationToken::new();
        let handle = tokio::spawn(topicdesk::run_with(cfg, storage, Arc::new(SystemClock), token.clone()));
        (token, handle)
    };
    let (stop_a, a) = start(db.storage.clone());
    sim.wait_for(|s| s.is_polling(), Duration::from_secs(10)).await;
    let (stop_b, b) = start(Storage::connect(&db.url).await.expect("second instance"));
    // B connects and registers its menus, then stands by instead of polling.
    sim.wait_for(|s| s.calls_to("setMyCommands").len() >= 12, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let eve = SimUser::customer(4343, "Eve");
    sim.private_command(&eve, "/help");
    sim.wait_for_message(eve.id, None, |_| true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.messages_in(eve.id, None).len(), 1, "handled once");
    let conflicts =
        sim.calls_to("getUpdates").iter().filter(|c| c.error.as_ref().is_some_and(|e| e.0 == 409)).count();
    assert_eq!(conflicts, 0, "the standby never competes for getUpdates");

    // The poller stops; the standby takes over.
    stop_a.cancel();
    a.await.expect("task").expect("clean stop");
    sim.private_command(&eve, "/help");
    sim.wait_for_message_within(
        eve.id,
        None,
        |_| sim.messages_in(eve.id, None).len() == 2,
        Duration::from_secs(15),
    )
    .await;
    stop_b.cancel();
    b.await.expect("task").expect("clean stop");
    db.destroy().await;
}
