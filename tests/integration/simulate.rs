//! `topicdesk simulate` as a user runs it: the real binary, real files.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::db::TestDb;
use topicdesk::{domain::Tier, storage::NewTicket};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shopstream");

fn simulate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_topicdesk"));
    command.arg("simulate").args(args).env_remove("CATEGORIES").env_remove("DATABASE_URL");
    // No .env of the developer's is read: run from a clean directory.
    let dir = std::env::temp_dir();
    command.current_dir(&dir);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run topicdesk simulate")
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_input_stops_with_one_line_and_status_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let trace = file(&dir, "t.csv", "arrival,tier,category,complexity,work_minutes\n0,premium,billing,3,5\n");
    let roster = file(&dir, "r.csv", "agent_id,name,skills,capacity\n1,Ann,billing:3,5\n");
    let cases = [
        (
            file(&dir, "r1.csv", "agent_id,name,skills,capacity\n1,Ann,biling:3,5\n"),
            trace.clone(),
            "r1.csv:2: field \"skills\": unknown skill \"biling\"",
        ),
        (
            roster.clone(),
            file(&dir, "t1.csv", "arrival,tier,category,complexity,work_minutes\n-4,basic,billing,1,5\n"),
            "t1.csv:2: field \"arrival\": not a number of seconds from the start, 0 or more",
        ),
        (
            roster.clone(),
            file(&dir, "t2.csv", "arrival,tier,category,work_minutes\n0,basic,billing,5\n"),
            "t2.csv:1: field \"complexity\": missing column",
        ),
        (
            roster.clone(),
            file(&dir, "t3.csv", "arrival,tier,category,complexity,work_minutes\n0,gold,billing,1,5\n"),
            "t3.csv:2: field \"tier\": not premium, standard, basic or unknown",
        ),
        (roster.clone(), dir.path().join("missing.csv").display().to_string(), "missing.csv: cannot open"),
    ];
    for (roster, trace, expected) in cases {
        let output = simulate(&["--tickets", &trace, "--agents", &roster], &[]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("topicdesk simulate: ") && err.contains(expected), "{expected}: {err}");
        assert!(output.stdout.is_empty());
    }
    let output = simulate(&["--tickets", &trace, "--agents", &roster, "--policy", "fifo"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--policy \"fifo\": not skills, round-robin or least-loaded"));
}

/// The shipped example: five agents before the campaign, fifteen at ×3.
fn case_study(extra: &[&str]) -> Output {
    let files = [
        ("--tickets", "tickets-pre-campaign.csv"),
        ("--agents", "agents-5.csv"),
        ("--compare", "tickets-campaign-x3.csv"),
        ("--compare-agents", "agents-15.csv"),
    ];
    let mut args: Vec<String> =
        files.iter().flat_map(|(flag, name)| [(*flag).to_owned(), format!("{EXAMPLE}/{name}")]).collect();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    simulate(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

fn premium_p90(report: &Value) -> u64 {
    report["first_response"]["premium"]["p90"].as_u64().expect("premium p90")
}

/// The README's claims about the case study, checked on the shipped files.
#[test]
fn the_case_study_shows_what_the_readme_says() {
    let output = case_study(&["--policy", "round-robin,skills", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let pre = &value[0]["reports"];
    let x3 = &value[1]["reports"];
    assert_eq!((pre[0]["policy"].as_str(), x3[1]["policy"].as_str()), (Some("round-robin"), Some("skills")));
    assert_eq!((pre[0]["tickets"].as_u64(), x3[0]["tickets"].as_u64()), (Some(504), Some(1488)));
    let (pre_rr, x3_rr, x3_skills) = (premium_p90(&pre[0]), premium_p90(&x3[0]), premium_p90(&x3[1]));
    assert!(x3_rr as f64 > pre_rr as f64 * 1.4, "round-robin at ×3: {x3_rr} vs {pre_rr} before");
    assert!(x3_skills <= pre_rr, "skills with the override at ×3: {x3_skills} vs {pre_rr}");
    let escalations = |r: &Value| r["escalations"].as_u64().expect("escalations");
    assert!(escalations(&x3[1]) < escalations(&x3[0]));
    let seniors = |r: &Value| r["misroutes_senior_on_basic"].as_u64().expect("misroutes");
    assert!(seniors(&x3[1]) < seniors(&x3[0]));
    assert_eq!(x3[1]["unresolved"].as_u64(), Some(0));

    // The same seed, the same table; the table is what the README shows.
    let table = |seed: &str| {
        let output = simulate(
            &[
                "--tickets",
                &format!("{EXAMPLE}/tickets-pre-campaign.csv"),
                "--agents",
                &format!("{EXAMPLE}/agents-5.csv"),
                "--seed",
                seed,
            ],
            &[],
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    assert_eq!(table("1"), table("1"));
    assert_ne!(table("1"), table("2"), "the seed drives the answer delays");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let shown = case_study(&["--policy", "round-robin,least-loaded,skills"]);
    let shown = String::from_utf8(shown.stdout).expect("utf-8");
    assert!(readme.contains(shown.trim()), "README's table is out of date:\n{shown}");
}

#[test]
fn a_generated_trace_replays() {
    let dir = tempfile::tempdir().expect("tmp");
    let output = Command::new(env!("CARGO_BIN_EXE_topicdesk"))
        .args(["simulate", "generate", "--hours", "4", "--tickets-per-hour", "30", "--seed", "9"])
        .current_dir(std::env::temp_dir())
        .env_remove("CATEGORIES")
        .output()
        .expect("generate");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let trace = file(&dir, "t.csv", &String::from_utf8(output.stdout).expect("utf-8"));
    let rows = std::fs::read_to_string(&trace).expect("trace").lines().count() - 1;
    let roster = file(
        &dir,
        "r.csv",
        "agent_id,name,skills,capacity\n1,Ann,billing:3;technical:3;general:3,5\n2,Bo,general:1,5\n",
    );
    let output = simulate(&["--tickets", &trace, "--agents", &roster, "--policy", "skills", "--json"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value[0]["reports"][0]["tickets"].as_u64(), Some(rows as u64));
    let bad = Command::new(env!("CARGO_BIN_EXE_topicdesk"))
        .args(["simulate", "generate", "--hours", "4"])
        .output()
        .expect("generate");
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn the_desks_own_history_replays_from_the_database() {
    let db = TestDb::sqlite().await;
    let start = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for i in 0..20i64 {
        let ticket = NewTicket {
            customer_id: 500 + i,
            customer_chat_id: 500 + i,
            customer_name: "C".into(),
            customer_username: None,
            language: "en".into(),
            category: if i % 2 == 0 { "billing".into() } else { "account".into() },
            required_skill: "billing".into(),
            description: "x".into(),
            description_message_id: 1,
            description_has_media: false,
            created_at_ms: start + i * 60_000,
        };
        let t = db.storage.create_ticket(&ticket).await.expect("ticket");
        let tier = if i % 4 == 0 { Some(Tier::Premium) } else { Some(Tier::Basic) };
        db.storage.set_ticket_enrichment(t.id, tier, 10, None, None).await.expect("tier");
    }
    let topicdesk::config::DatabaseUrl::Sqlite(url) = db.url.clone() else { panic!("sqlite") };
    let dir = tempfile::tempdir().expect("tmp");
    let roster = file(&dir, "r.csv", "agent_id,name,skills,capacity\n1,Ann,billing:3;general:2,5\n");
    let output = simulate(
        &["--from-db", "--period", "1d", "--agents", &roster, "--policy", "skills", "--json"],
        &[("DATABASE_URL", &url)],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value[0]["scenario"].as_str(), Some("history 1d"));
    assert_eq!(value[0]["reports"][0]["tickets"].as_u64(), Some(20));
    assert_eq!(value[0]["reports"][0]["first_response"]["premium"]["count"].as_u64(), Some(5));
}
