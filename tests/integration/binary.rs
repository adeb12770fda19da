//! The real `topicdesk` binary: configuration errors, and a clean stop on
//! SIGTERM while it talks to the simulator.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{
    bot::free_port,
    sim::{
        BotApiSim, OTHER_GROUP_ID, OTHER_GROUP_TITLE, SUPPORT_GROUP_ID, SUPPORT_GROUP_TITLE, SimUser, TOKEN,
    },
};

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_topicdesk"));
    // Run where no .env file is, with a clean environment.
    command.env_clear().current_dir(std::env::temp_dir()).stdin(Stdio::null());
    command
}

#[test]
fn configuration_errors_are_one_line_and_exit_2() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "topicdesk: TELOXIDE_TOKEN is required but not set"),
        (&[("TELOXIDE_TOKEN", "1:abc")], "topicdesk: SUPPORT_GROUP_ID is required but not set"),
        (
            &[
                ("TELOXIDE_TOKEN", "1:abc"),
                ("SUPPORT_GROUP_ID", "-1001"),
                ("ROUTING_WEBHOOK_TIMEOUT", "soon"),
            ],
            "topicdesk: SUPPORT_GROUP_ID is invalid",
        ),
        (
            &[
                ("TELOXIDE_TOKEN", "1:abc"),
                ("SUPPORT_GROUP_ID", "-1001234567890"),
                ("ROUTING_WEBHOOK_TIMEOUT", "soon"),
            ],
            "topicdesk: ROUTING_WEBHOOK_TIMEOUT is invalid",
        ),
    ];
    for (env, expected) in cases {
        let output = binary().envs(env.iter().copied()).output().expect("run the binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{env:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_bot_cleanly() {
    let sim = BotApiSim::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("data/topicdesk.db");
    let child = binary()
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("TELOXIDE_API_URL", sim.api_url().as_str())
        .env("SUPPORT_GROUP_ID", SUPPORT_GROUP_ID.to_string())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    sim.wait_for(|s| s.is_polling(), Duration::from_secs(20)).await;
    assert!(db.exists(), "the SQLite file (and its directory) was created");

    let (status, stderr) = terminate(child).await;
    assert!(status.success(), "exit {status:?}: {stderr}");
}

/// Stops `child` with SIGTERM and returns its exit status and stderr.
async fn terminate(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the bot did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status, stderr)
}

/// README set-up: the start-up line says how the bot runs and warns when
/// nobody can administer it; a group it is not set up for is named once,
/// with its id, so the operator can copy it (step 5); no colour codes in a
/// log that is not a terminal.
#[tokio::test]
async fn the_start_up_says_how_it_runs_and_names_groups_it_does_not_serve() {
    let sim = BotApiSim::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let child = binary()
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("TELOXIDE_API_URL", sim.api_url().as_str())
        .env("SUPPORT_GROUP_ID", SUPPORT_GROUP_ID.to_string())
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("t.db").display()))
        .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("ROUTING_WEBHOOK_URL", "http://crm.internal:9000/route")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    sim.wait_for(|s| s.is_polling(), Duration::from_secs(20)).await;
    let someone = SimUser::customer(1201, "Sam");
    sim.other_group_text(&someone, "hello?");
    sim.other_group_text(&someone, "anyone?");
    sim.wait_for(|s| s.pending_updates() == 0, Duration::from_secs(10)).await;
    // The next poll confirms the two updates were handled.
    let polls = sim.calls_to("getUpdates").len();
    sim.wait_for(|s| s.calls_to("getUpdates").len() > polls, Duration::from_secs(15)).await;
    let (status, stderr) = terminate(child).await;
    assert!(status.success(), "exit {status:?}: {stderr}");

    assert!(!stderr.contains('\x1b'), "no ANSI codes when stderr is not a terminal: {stderr}");
    let summary = stderr.lines().find(|l| l.contains("topicdesk started")).expect("a start-up line");
    for needle in [
        "long polling".to_owned(),
        "database=\"sqlite\"".to_owned(),
        format!("group_id={SUPPORT_GROUP_ID}"),
        format!("group_title=\"{SUPPORT_GROUP_TITLE}\""),
        "group=ready".to_owned(),
        "admins=0".to_owned(),
        "configured (crm.internal)".to_owned(),
    ] {
        assert!(summary.contains(&needle), "{needle} missing from {summary}");
    }
    assert!(stderr.contains("ADMIN_IDS is empty"), "{stderr}");
    let named: Vec<_> = stderr.lines().filter(|l| l.contains(&format!("chat_id={OTHER_GROUP_ID}"))).collect();
    assert_eq!(named.len(), 1, "named once: {stderr}");
    assert!(named[0].contains(OTHER_GROUP_TITLE), "{}", named[0]);
    assert!(named[0].contains(&format!("SUPPORT_GROUP_ID={OTHER_GROUP_ID}")), "{}", named[0]);
}
