//! The `topicdesk` binary: read `.env` and the environment, set up logging,
//! run until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use topicdesk::{config::Config, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("simulate") {
        // The routing simulator needs no bot: no token, no group (DESIGN §16).
        return tokio::task::block_in_place(|| topicdesk::simulate::main(&args[1..]));
    }
    // A missing .env is normal; a malformed one is worth a line.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("topicdesk: cannot read .env: {error}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("topicdesk: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init();

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));

    match topicdesk::run(config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("topicdesk: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, skipping causes whose text the
/// line already contains (sqlx repeats its cause in its own message).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Cancels `shutdown` on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(error) => {
                eprintln!("topicdesk: cannot listen for SIGTERM: {error}");
                let _ = tokio::signal::ctrl_c().await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
