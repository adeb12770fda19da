//! topicdesk: a customer-support desk inside a Telegram forum supergroup.
//!
//! `main.rs` only reads configuration and sets up logging; everything else is
//! reachable from here, so tests run the real bot in-process against the Bot
//! API simulator.

pub mod admin;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod domain;
pub mod group;
pub mod http;
pub mod i18n;
pub mod insights;
pub mod intake;
pub mod routing;
pub mod simulate;
pub mod storage;
pub mod telegram;
pub mod telemetry;
pub mod tickets;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use teloxide::{ApiError, RequestError, prelude::*, types::Me};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{SharedClock, SystemClock},
    config::{Config, RateLimitMode},
    delivery::{Courier, Limiter, Limits, Outbox, retry::with_retry},
    dispatch::schema,
    i18n::I18n,
    intake::IntakeStore,
    routing::{RoutingPolicy, enrichment::EnrichmentClient, service::RoutingService, sweeper::Sweeper},
    storage::Storage,
    telegram::{
        build_bot, commands,
        runtime::{MAX_IN_FLIGHT, UpdateEngine, allowed_updates, feed, poll},
    },
    tickets::TicketDesk,
};

/// How often tickets whose topic could not be created are retried, and the
/// inbox pruned.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a stopping bot keeps sending what is already queued.
const SEND_GRACE: Duration = Duration::from_secs(5);
/// Handled inbox rows are kept this long (Telegram re-delivers for 24 h at most).
const INBOX_RETENTION: Duration = Duration::from_secs(48 * 3600);
/// Updates that failed or could not be read are kept, raw, this long.
const FAILED_UPDATE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

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
    let config = Arc::new(config);
    // Bind first: a taken port is an operator error worth stopping for.
    let listener = http::bind(config.http_addr).await?;
    // The recorder first, so every metric from the first update on counts.
    if telemetry::metrics_handle().is_none() {
        tracing::warn!("another metrics recorder is installed: /metrics answers 503");
    }
    let i18n = Arc::new(I18n::load().context("loading locales")?);
    let bot = build_bot(&config);

    let Some(me) = connect(&bot, &shutdown).await? else {
        return Ok(());
    };
    tracing::info!(username = me.username(), id = me.user.id.0, "connected to the Bot API");
    let group = group::SupportGroup::new(config.support_group);
    group::check(&bot, &group, me.user.id).await;
    log_summary(&config, &storage, &group);

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
    )
    .with_group_language(config.group_language);
    let outbox = Outbox::new(storage.clone(), clock.clone());
    let limits = match config.rate_limits {
        RateLimitMode::Telegram => Some(Limits::TELEGRAM),
        RateLimitMode::Custom(limits) => Some(limits),
        RateLimitMode::Off => None,
    };
    // The courier's waits end at shutdown; calls in flight finish first.
    let sending = CancellationToken::new();
    let courier = Courier::new(Limiter::new(limits), sending.clone());
    let desk = TicketDesk::new(
        bot.clone(),
        outbox.clone(),
        courier,
        storage.clone(),
        config.clone(),
        i18n.clone(),
        clock.clone(),
        routing,
        group.clone(),
    );
    let deps = dptree::deps![
        bot.clone(),
        me.clone(),
        config.clone(),
        desk.clone(),
        Arc::new(IntakeStore::new(storage.clone(), clock.clone()))
    ];
    let mut engine = UpdateEngine::new(
        schema(config.support_group),
        config.support_group,
        deps,
        storage.clone(),
        clock.clone(),
        outbox.wake(),
    );
    engine.replay_inbox().await.context("replaying the inbox")?;

    let sweeper = Sweeper::new(storage.clone(), i18n.clone(), clock.clone(), config.premium_override_after)
        .with_group_language(config.group_language);
    // Background tasks live in a JoinSet owned here: if this future is
    // dropped, they stop with it (nothing outlives the bot).
    let mut background = JoinSet::new();
    // The command menus are cosmetic: registered beside the first poll, not
    // before it (six calls, one per scope and language).
    {
        let (bot, i18n, config) = (bot.clone(), i18n.clone(), config.clone());
        background.spawn(async move { commands::register(&bot, &i18n, &config).await });
    }
    background.spawn(tickets::sweep::run(sweeper, desk.clone(), config.sweep_interval, shutdown.clone()));
    background.spawn(maintenance(desk.clone(), me.user.id, storage.clone(), clock.clone(), shutdown.clone()));
    background.spawn(checkpoints(storage.clone(), shutdown.clone()));
    background.spawn(telemetry::release_memory(shutdown.clone()));
    // In a JoinSet of its own (dropping it aborts the worker, as for the
    // other background tasks), stopped last.
    let mut sender = JoinSet::new();
    sender.spawn(delivery::worker::run(
        desk.clone(),
        outbox,
        storage.clone(),
        config.database_url.clone(),
        clock.clone(),
        sending.clone(),
    ));

    let (webhook, updates) = match &config.webhook_url {
        Some(url) => {
            let (sender, receiver) = tokio::sync::mpsc::channel(MAX_IN_FLIGHT);
            let path = if url.path().is_empty() { "/".to_owned() } else { url.path().to_owned() };
            let route =
                http::WebhookRoute { path, secret: config.webhook_secret_token.clone(), updates: sender };
            (Some(route), Some(receiver))
        }
        None => (None, None),
    };
    let server =
        http::serve(listener, storage.clone(), clock.clone(), group.clone(), webhook, shutdown.clone());
    background.spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "HTTP server failed");
        }
    });

    let received = match (updates, &config.webhook_url) {
        (Some(updates), Some(url)) => {
            register_webhook(&bot, url, config.webhook_secret_token.as_deref(), &shutdown).await;
            feed(&mut engine, updates, &shutdown).await;
            Ok(())
        }
        _ => {
            // Long polling and a webhook exclude each other.
            if let Err(error) = with_retry("deleteWebhook", || bot.delete_webhook().into_future()).await {
                tracing::warn!(%error, "deleteWebhook failed");
            }
            poll(&bot, &mut engine, &storage, &config.database_url, &clock, &shutdown).await
        }
    };

    tracing::info!("stopping: finishing updates in progress");
    shutdown.cancel();
    engine.drain().await;
    while let Some(result) = background.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "background task failed");
        }
    }
    // Last, so the replies of the updates drained above are queued. They get
    // a few seconds to go out; what still waits (a long 429, a backlog under
    // the group limit) stays in the outbox for the next start.
    let grace = tokio::time::Instant::now() + SEND_GRACE;
    while tokio::time::Instant::now() < grace {
        match storage.outbox_counts().await {
            Ok(counts) if counts.pending == 0 => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox while stopping");
                break;
            }
        }
    }
    sending.cancel();
    while let Some(result) = sender.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "the outbox worker failed");
        }
    }
    received.context("polling Telegram")?;
    tracing::info!("stopped");
    Ok(())
}

/// One line that says how this instance runs, so an operator sees at once
/// whether it is the set-up they meant (and a warning where it cannot work).
fn log_summary(config: &Config, storage: &Storage, group: &group::SupportGroup) {
    let mode = match &config.webhook_url {
        Some(url) => format!("webhook at {url}"),
        None => "long polling".to_owned(),
    };
    let crm = match &config.routing_webhook_url {
        Some(url) => format!("configured ({})", url.host_str().unwrap_or("?")),
        None => "not configured (routing by skills and load only)".to_owned(),
    };
    let group_state = match group.health() {
        group::Health::Ready => "ready".to_owned(),
        group::Health::Broken(_) => group.problem().unwrap_or_default(),
        group::Health::Unknown(why) => {
            format!("not checked yet ({}); checked again every 30 s", why.unwrap_or_default())
        }
    };
    tracing::info!(
        mode = %mode,
        database = storage.backend_name(),
        group_id = config.support_group.0,
        group_title = group.title().as_deref().unwrap_or("?"),
        group = %group_state,
        admins = config.admin_ids.len(),
        crm = %crm,
        "topicdesk started"
    );
    if config.admin_ids.is_empty() {
        tracing::warn!(
            "ADMIN_IDS is empty: nobody can add agents or skills; set ADMIN_IDS to your Telegram user id \
             (message @userinfobot to learn it) and restart"
        );
    }
}

/// Registers the webhook with Telegram (retrying while it is unreachable).
async fn register_webhook(bot: &Bot, url: &url::Url, secret: Option<&str>, shutdown: &CancellationToken) {
    let call = || {
        let mut request = bot.set_webhook(url.clone()).allowed_updates(allowed_updates());
        if let Some(secret) = secret {
            request = request.secret_token(secret.to_owned());
        }
        request.into_future()
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        result = with_retry("setWebhook", call) => match result {
            Ok(_) => tracing::info!(%url, "webhook registered"),
            Err(error) => tracing::error!(%error, %url, "setWebhook failed; updates will not arrive until it succeeds (restart to retry)"),
        },
    }
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

/// SQLite checkpoints, off the request path (see `Storage::checkpoint`).
async fn checkpoints(storage: Storage, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        if let Err(error) = storage.checkpoint().await {
            tracing::warn!(%error, "SQLite checkpoint failed; will retry");
        }
    }
    // Leave a compact database behind on a clean stop.
    if let Err(error) = storage.checkpoint().await {
        tracing::debug!(%error, "final checkpoint failed");
    }
}

/// Periodic housekeeping: retry topic set-up that Telegram refused, hand
/// out waiting tickets nobody drained, prune the inbox.
async fn maintenance(
    desk: TicketDesk,
    me: UserId,
    storage: Storage,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(MAINTENANCE_INTERVAL);
    let mut first = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        // A group that was wrong is checked again (an update saying it was
        // fixed may never come, e.g. Topics turned on in its settings); the
        // start has just checked it.
        if !std::mem::take(&mut first)
            && let Err(error) = desk.recheck_group(me).await
        {
            tracing::warn!(%error, "cannot tell the group it is ready again");
        }
        match desk.repair_topics().await {
            Ok(0) => {}
            Ok(repaired) => tracing::info!(repaired, "ticket topics set up after an earlier failure"),
            Err(error) => tracing::warn!(%error, "topic repair failed"),
        }
        // Capacity changes drain the queue where they happen (a close, an
        // agent available, a roster change); this catches what a crash
        // between a change and its drain left waiting. Cheap when nobody can
        // take work: one roster read.
        match desk.drain_queue().await {
            Ok(0) => {}
            Ok(assigned) => tracing::info!(assigned, "waiting tickets assigned by the periodic check"),
            Err(error) => tracing::warn!(%error, "periodic queue drain failed"),
        }
        let cutoff = clock.now_ms() - i64::try_from(INBOX_RETENTION.as_millis()).unwrap_or(i64::MAX);
        let failed_cutoff =
            clock.now_ms() - i64::try_from(FAILED_UPDATE_RETENTION.as_millis()).unwrap_or(i64::MAX);
        if let Err(error) = storage.inbox_prune(cutoff, failed_cutoff).await {
            tracing::warn!(%error, "inbox pruning failed");
        }
        if let Err(error) = storage.outbox_prune(cutoff).await {
            tracing::warn!(%error, "outbox pruning failed");
        }
    }
}
