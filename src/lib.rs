//! topicdesk: a customer-support desk inside a Telegram forum supergroup.
//!
//! `main.rs` only reads configuration and sets up logging; everything else is
//! reachable from here, so tests run the real bot in-process against the Bot
//! API simulator.

pub mod admin;
pub mod clock;
pub mod config;
pub mod domain;
pub mod i18n;
pub mod intake;
pub mod routing;
pub mod storage;
pub mod telegram;
pub mod telemetry;
pub mod tickets;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use teloxide::{ApiError, RequestError, prelude::*, types::Me};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{SharedClock, SystemClock},
    config::Config,
    i18n::I18n,
    intake::IntakeStore,
    routing::{RoutingPolicy, enrichment::EnrichmentClient, service::RoutingService, sweeper::Sweeper},
    storage::Storage,
    telegram::{
        build_bot, commands,
        runtime::{UpdateEngine, poll},
        schema::schema,
    },
    tickets::TicketDesk,
};

/// How often tickets whose topic could not be created are retried, and the
/// inbox pruned.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// Handled inbox rows are kept this long (Telegram re-delivers for 24 h at most).
const INBOX_RETENTION: Duration = Duration::from_secs(48 * 3600);

/// Runs the bot until `shutdown` is cancelled, then finishes in-flight work.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let storage = Storage::connect(&config.database_url).await.context("opening the database")?;
    tracing::info!(backend = storage.backend_name(), "database ready");
    let result = run_with(config, storage.clone(), Arc::new(SystemClock), shutdown).await;
    storage.close().await;
    result
}

/// Runs the bot on an already opened storage with the given clock.
pub async fn run_with(
    config: Config,
    storage: Storage,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if config.webhook_url.is_some() {
        anyhow::bail!(
            "WEBHOOK_URL is set, but webhook mode is not available in this version yet; unset it to use long polling"
        );
    }
    let config = Arc::new(config);
    let i18n = Arc::new(I18n::load().context("loading locales")?);
    let bot = build_bot(&config);

    let Some(me) = connect(&bot, &shutdown).await? else {
        return Ok(());
    };
    tracing::info!(username = me.username(), id = me.user.id.0, "connected to the Bot API");
    // Long polling and a webhook exclude each other.
    if let Err(error) = bot.delete_webhook().await {
        tracing::warn!(%error, "deleteWebhook failed");
    }
    commands::register(&bot, &i18n, &config).await;

    let enrichment = match &config.routing_webhook_url {
        Some(url) => Some(Arc::new(
            EnrichmentClient::new(
                url.clone(),
                config.routing_webhook_secret.clone(),
                config.routing_webhook_timeout,
                clock.clone(),
            )
            .context("building the CRM webhook client")?,
        )),
        None => None,
    };
    let routing = RoutingService::new(
        storage.clone(),
        enrichment,
        RoutingPolicy::default(),
        i18n.clone(),
        clock.clone(),
        config.premium_override_after,
    );
    let desk =
        TicketDesk::new(bot.clone(), storage.clone(), config.clone(), i18n.clone(), clock.clone(), routing);
    let deps = dptree::deps![
        bot.clone(),
        me.clone(),
        config.clone(),
        desk.clone(),
        Arc::new(IntakeStore::new(storage.clone(), clock.clone()))
    ];
    let mut engine = UpdateEngine::new(schema(config.support_group), deps, storage.clone(), clock.clone());
    engine.replay_inbox().await.context("replaying the inbox")?;

    let sweeper = Sweeper::new(storage.clone(), i18n.clone(), clock.clone(), config.premium_override_after);
    let sweeping =
        tokio::spawn(routing::sweeper::run(sweeper, desk.clone(), config.sweep_interval, shutdown.clone()));
    let maintenance = tokio::spawn(maintenance(desk, storage.clone(), clock.clone(), shutdown.clone()));
    let polled = poll(&bot, &mut engine, &storage, &clock, &shutdown).await;

    tracing::info!("stopping: finishing updates in progress");
    shutdown.cancel();
    engine.drain().await;
    for (name, task) in [("maintenance", maintenance), ("premium override sweeper", sweeping)] {
        if let Err(error) = task.await {
            tracing::error!(%error, task = name, "background task failed");
        }
    }
    polled.context("polling Telegram")?;
    tracing::info!("stopped");
    Ok(())
}

/// Calls `getMe` until it succeeds: retries while Telegram is unreachable,
/// fails at once on a rejected token. `None` if shut down meanwhile.
async fn connect(bot: &Bot, shutdown: &CancellationToken) -> anyhow::Result<Option<Me>> {
    let mut delay = Duration::from_millis(500);
    loop {
        let result = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            result = bot.get_me().send() => result,
        };
        match result {
            Ok(me) => return Ok(Some(me)),
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                anyhow::bail!("Telegram rejected the bot token: check TELOXIDE_TOKEN (from @BotFather)")
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?delay, "cannot reach the Bot API; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Periodic housekeeping: retry topic set-up that Telegram refused, prune
/// the inbox.
async fn maintenance(desk: TicketDesk, storage: Storage, clock: SharedClock, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        match desk.repair_topics().await {
            Ok(0) => {}
            Ok(repaired) => tracing::info!(repaired, "ticket topics set up after an earlier failure"),
            Err(error) => tracing::warn!(%error, "topic repair failed"),
        }
        let cutoff = clock.now_ms() - i64::try_from(INBOX_RETENTION.as_millis()).unwrap_or(i64::MAX);
        if let Err(error) = storage.inbox_prune(cutoff).await {
            tracing::warn!(%error, "inbox pruning failed");
        }
    }
}
