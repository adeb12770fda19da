//! Insights (DESIGN §15): the numbers of `/stats`, `/audit` and `/export`
//! on a known set of tickets with fixed timestamps (no clock, no sleeps),
//! identical on SQLite and PostgreSQL; then the commands end to end.

use std::time::Duration;

use serde_json::json;

use crate::{
    routing::command,
    support::{
        bot::TestBot,
        crm::{CrmReply, FakeCrm},
        db::TestDb,
        sim::{Fault, FaultRule, SUPPORT_GROUP_ID, SimKind, SimUser},
    },
};
use topicdesk::{
    domain::{TicketId, Tier},
    insights::{
        export::{COLUMNS, CsvExport},
        stats::{self, TierCount},
    },
    storage::{Assignment, CrmCall, FinishedJob, NewOutboxRow, NewTicket, Spread, Storage, Window},
};

const DAY: i64 = 86_400_000;
/// Midnight UTC, day 20,000 after the epoch.
const D: i64 = 20_000 * DAY;
const MIN: i64 = 60_000;
const ANN: i64 = 11;
const BEN: i64 = 12;

fn ticket(customer: i64, name: &str, created_at_ms: i64) -> NewTicket {
    NewTicket {
        customer_id: customer,
        customer_chat_id: customer,
        customer_name: name.into(),
        customer_username: None,
        language: "en".into(),
        category: "billing".into(),
        required_skill: "billing".into(),
        description: "help, \"please\"".into(),
        description_message_id: 1,
        description_has_media: false,
        created_at_ms,
    }
}

async fn assign(s: &Storage, id: TicketId, agent: i64, at: i64) {
    let assignment = Assignment {
        agent_id: agent,
        rule: "skills",
        reason: "r",
        now_ms: at,
        by_update: None,
        restart_override_at: None,
    };
    assert!(s.assign_ticket(id, None, &assignment).await.expect("assign"));
}

fn call(ticket: TicketId, at_ms: i64, outcome: &str, latency_ms: Option<i64>) -> CrmCall {
    CrmCall {
        ticket_id: ticket.0,
        at_ms,
        outcome: outcome.into(),
        latency_ms,
        http_status: None,
        invalid_fields: Vec::new(),
        invalid_values: Vec::new(),
        tier: None,
        preferred_agent_id: None,
        opened_circuit: false,
    }
}

/// The known set; returns the window it lies in and the ids of the first
/// premium, first basic and the unknown-tier ticket.
async fn seed(s: &Storage) -> (Window, TicketId, TicketId, TicketId) {
    for (agent, name) in [(ANN, "Ann"), (BEN, "Ben")] {
        s.upsert_agent(agent, name, 50, D - DAY, None).await.expect("agent");
    }
    // Customer 500's earlier ticket, basic, opened and closed before the window.
    let earlier = s.create_ticket(&ticket(500, "Eve", D - DAY)).await.expect("t");
    s.set_ticket_enrichment(earlier.id, Some(Tier::Basic), 10, None, None).await.expect("e");
    s.close_ticket(earlier.id, D - 1000, None).await.expect("close");

    // Day 0: ten premium tickets answered by Ann after 1..10 minutes.
    let mut premium = Vec::new();
    for i in 1..=10i64 {
        let customer = if i == 6 { 500 } else { 100 + i };
        let created = D + i * 1000;
        let t = s.create_ticket(&ticket(customer, &format!("P{i}"), created)).await.expect("t");
        s.set_ticket_enrichment(t.id, Some(Tier::Premium), 100, None, None).await.expect("e");
        assign(s, t.id, ANN, created + 500).await;
        assert!(s.record_first_response(t.id, created + i * MIN).await.expect("frt"));
        let mut crm = call(t.id, created + 100, "ok", Some(i * 100));
        crm.tier = Some("premium".into());
        if i == 3 {
            crm.invalid_fields = vec!["priority".into(), "tier".into()];
            crm.invalid_values = vec![
                "priority -1 (not a whole number from 0 to 1000000)".into(),
                "tier \"gold\" (not premium, standard or basic)".into(),
            ];
        }
        if i == 4 {
            crm.preferred_agent_id = Some(999);
        }
        if i == 5 {
            crm.preferred_agent_id = Some(ANN);
        }
        s.record_crm_call(&crm).await.expect("crm");
        premium.push(t.id);
    }
    // Day 1: four basic tickets answered by Ben after 10..40 s; two closed.
    let mut basic = Vec::new();
    for i in 1..=4i64 {
        let created = D + DAY + i * 1000;
        let t = s.create_ticket(&ticket(200 + i, &format!("B{i}"), created)).await.expect("t");
        s.set_ticket_enrichment(t.id, Some(Tier::Basic), 10, None, None).await.expect("e");
        assign(s, t.id, BEN, created + 500).await;
        assert!(s.record_first_response(t.id, created + i * 10_000).await.expect("frt"));
        basic.push(t.id);
    }
    s.close_ticket(basic[0], D + DAY + 1000 + 100_000, None).await.expect("close");
    s.close_ticket(basic[1], D + DAY + 2000 + 300_000, None).await.expect("close");
    let at = D + DAY + 10_000;
    let mut timeout = call(basic[0], at, "timeout", Some(3000));
    timeout.tier = None;
    s.record_crm_call(&timeout).await.expect("crm");
    let mut http = call(basic[1], at, "http_error", Some(50));
    http.http_status = Some(503);
    http.opened_circuit = true;
    s.record_crm_call(&http).await.expect("crm");
    s.record_crm_call(&call(basic[2], at, "circuit_open", None)).await.expect("crm");
    s.record_crm_call(&call(basic[3], at, "invalid_body", Some(20))).await.expect("crm");
    // Day 1: a ticket with no tier and a name a spreadsheet would run.
    let unknown = s.create_ticket(&ticket(300, "=cmd|' /C calc'!A0", D + DAY + 50_000)).await.expect("t");

    // Ratings: P1 5, P2 4 (Ann), B1 3 (Ben).
    for (id, customer, score) in [(premium[0], 101, 5), (premium[1], 102, 4), (basic[0], 201, 3)] {
        s.rate_ticket(id, customer, score, D + DAY).await.expect("rate").expect("theirs");
    }
    // One reassignment in the window, one before it.
    s.audit(1, "reassign", Some(ANN), "ticket=1", D + 5000).await.expect("audit");
    s.audit(1, "reassign", Some(ANN), "ticket=1", D - 5000).await.expect("audit");

    // The group's budget: 3 messages in one minute (the last of them sent
    // 30 s into it, after 31 s in the outbox), 1 in the next; a message to
    // a customer is not counted.
    let minute = D + 10 * MIN;
    let mut ids = Vec::new();
    for (created, lane) in
        [(minute - 5000, "g"), (minute - 2000, "g"), (minute - 1000, "g"), (minute - 9000, "c")]
    {
        let row = NewOutboxRow {
            lane,
            priority: 1,
            job: "{}",
            dedupe_key: None,
            ticket_id: None,
            created_at: created,
        };
        ids.push(s.outbox_push(&row).await.expect("push").expect("id"));
    }
    let finished = |id: i64, into_group: bool| FinishedJob {
        id,
        refused: None,
        pairs: Vec::new(),
        group_messages: u32::from(into_group),
    };
    s.outbox_finish(&[finished(ids[0], true), finished(ids[1], true), finished(ids[3], false)], minute)
        .await
        .expect("finish");
    s.outbox_finish(&[finished(ids[2], true)], minute + 30_000).await.expect("finish");
    let row = NewOutboxRow {
        lane: "g",
        priority: 1,
        job: "{}",
        dedupe_key: None,
        ticket_id: None,
        created_at: minute + MIN,
    };
    let late = s.outbox_push(&row).await.expect("push").expect("id");
    s.outbox_finish(&[finished(late, true)], minute + MIN).await.expect("finish");

    (Window { from_ms: D, to_ms: D + 2 * DAY }, premium[0], basic[0], unknown.id)
}

fn spread(key: &str, count: i64, p50: i64, p90: i64, p99: i64) -> Spread {
    Spread { key: key.into(), count, p50, p90, p99 }
}

#[tokio::test]
async fn figures_are_exact_and_the_same_on_both_backends() {
    for db in TestDb::all().await {
        let s = &db.storage;
        let backend = s.backend_name();
        let (window, first_premium, first_basic, unknown) = seed(s).await;

        let figures = stats::gather(s, window).await.expect("figures");
        assert_eq!(
            figures.tiers,
            vec![
                TierCount { tier: "premium".into(), opened: 10, closed: 0 },
                TierCount { tier: "basic".into(), opened: 4, closed: 2 },
                TierCount { tier: "".into(), opened: 1, closed: 0 },
            ],
            "{backend}: the earlier ticket, closed before the window, is not counted"
        );
        // Nearest rank: p50 of 1..10 min is the 5th, p90 the 9th, p99 the 10th.
        assert_eq!(
            figures.first_response,
            vec![
                spread("premium", 10, 5 * MIN, 9 * MIN, 10 * MIN),
                spread("basic", 4, 20_000, 40_000, 40_000),
            ],
            "{backend}"
        );
        assert_eq!(figures.resolution, vec![spread("basic", 2, 100_000, 300_000, 300_000)], "{backend}");
        let agents: Vec<_> = figures
            .agents
            .iter()
            .map(|a| (a.agent_id, a.name.as_str(), a.tickets, a.first_response_p50, a.csat_sum, a.csat_count))
            .collect();
        assert_eq!(
            agents,
            vec![(ANN, "Ann", 10, Some(5 * MIN), 9, 2), (BEN, "Ben", 4, Some(20_000), 3, 1)],
            "{backend}"
        );
        assert_eq!((figures.csat_sum, figures.csat_count), (12, 3), "{backend}");
        let counters = &figures.counters;
        assert_eq!(
            (counters.premium_overrides, counters.reassignments, counters.crm_fallbacks),
            (0, 1, 4),
            "{backend}: timeout, HTTP error, circuit refusal and bad body fell back"
        );
        // The chart: both days of the window, with their volume and p90s.
        let days: Vec<(i64, u64, [Option<i64>; 4])> =
            figures.days.iter().map(|d| (d.day_start_ms, d.tickets, d.frt_p90_ms)).collect();
        assert_eq!(
            days,
            vec![(D, 10, [Some(9 * MIN), None, None, None]), (D + DAY, 5, [None, None, Some(40_000), None])],
            "{backend}"
        );
        let answered_today =
            s.answered_by_agent(Window { from_ms: D + DAY, to_ms: D + 2 * DAY }).await.expect("q");
        assert_eq!(answered_today, vec![spread(&BEN.to_string(), 4, 20_000, 40_000, 40_000)], "{backend}");

        let budget = s.group_budget(window).await.expect("q");
        assert_eq!(
            (budget.active_minutes, budget.p50, budget.peak, budget.longest_wait_ms),
            (2, 1, 3, 31_000),
            "{backend}"
        );

        let health = s.crm_health(window).await.expect("q");
        assert_eq!(health.calls, 13, "{backend}: the circuit's refusal is not a call");
        assert_eq!(
            health.outcomes,
            vec![
                ("circuit_open".to_owned(), 1),
                ("http_error".to_owned(), 1),
                ("invalid_body".to_owned(), 1),
                ("ok".to_owned(), 10),
                ("timeout".to_owned(), 1)
            ],
            "{backend}"
        );
        assert_eq!(
            health.invalid_fields,
            vec![("priority".to_owned(), 1), ("tier".to_owned(), 1)],
            "{backend}"
        );
        // 13 latencies: 20, 50, 100…1000, 3000; p50 = 7th, p99 = 13th.
        let latency = health.latency.expect("latency");
        assert_eq!((latency.count, latency.p50, latency.p99), (13, 500, 3000), "{backend}");
        assert_eq!(health.breaker_openings, 1, "{backend}");

        let (changed, flagged) = s.tier_changes(window, 10).await.expect("q");
        assert_eq!(changed, 1, "{backend}");
        assert_eq!(flagged[0].detail, "basic→premium", "{backend}");
        let (unknown_agents, flagged) = s.unknown_preferred_agents(window, 10).await.expect("q");
        assert_eq!((unknown_agents, flagged[0].detail.as_str()), (1, "999"), "{backend}");
        let (out_of_range, flagged) = s.out_of_range(window, 10).await.expect("q");
        assert_eq!(
            (out_of_range, flagged[0].detail.as_str()),
            (
                1,
                "priority -1 (not a whole number from 0 to 1000000); tier \"gold\" (not premium, standard or basic)"
            ),
            "{backend}"
        );

        // The export: a header and one row per ticket opened in the window.
        let mut csv = CsvExport::new(Vec::new()).expect("header");
        let written = s.export_tickets(window, |row| csv.row(&row)).await.expect("q").expect("write");
        assert_eq!(written, 15, "{backend}");
        let text = String::from_utf8(csv.finish().expect("finish")).expect("utf-8");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().expect("h").iter().collect::<Vec<_>>(), COLUMNS.to_vec(), "{backend}");
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 15, "{backend}");
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()), "{backend}");
        let row = |id: TicketId| rows.iter().find(|r| r[0] == id.0.to_string()).expect("row").clone();
        let p1 = row(first_premium);
        assert_eq!(&p1[1], "2024-10-04T00:00:01Z", "{backend}");
        assert_eq!(
            (&p1[3], &p1[6], &p1[8], &p1[12], &p1[13]),
            ("premium", "11", "60", "5", "ok"),
            "{backend}"
        );
        let b1 = row(first_basic);
        assert_eq!((&b1[8], &b1[10], &b1[13]), ("10", "100", "fallback:timeout"), "{backend}");
        let u = row(unknown);
        assert_eq!((&u[3], &u[6], &u[8], &u[13]), ("", "", "", "fallback:not_configured"), "{backend}");
        assert_eq!(&u[14], "'=cmd|' /C calc'!A0", "{backend}: never run as a formula");
        assert_eq!(&u[15], "help, \"please\"", "{backend}");
    }
}

/// The commands through the bot: who may, the usage hint, the chart and
/// the CSV file as Telegram receives them.
#[tokio::test]
async fn the_commands_answer_with_figures_a_chart_and_a_file() {
    let mut bot = TestBot::start_with(&[("ADMIN_IDS", "1")]).await;
    let root = SimUser::operator(1, "Root");
    let ann = SimUser::operator(ANN, "Ann");
    assert!(command(&bot, &root, "/agent_add 11 5").await.starts_with('✅'));
    assert!(command(&bot, &root, "/skill_add 11 billing:2").await.starts_with('✅'));
    let (ticket, thread) = bot.open_ticket(&SimUser::customer(901, "Cal"), "billing", "=1+1 refund").await;
    let reply = bot.sim.group_text(&ann, Some(thread), "Hello");
    bot.sim.wait_for_message(901, None, |m| m.copied_from == Some((SUPPORT_GROUP_ID, reply))).await;
    for _ in 0..100 {
        let t = bot.db.storage.ticket(TicketId(ticket)).await.expect("q").expect("t");
        if t.first_response_at_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An agent may see the figures; the chart comes as a photo beside them.
    let id = bot.sim.group_text(&ann, None, "/stats 24h");
    let text = bot
        .sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| m.reply_to_message_id == Some(id) && m.text.is_some())
        .await;
    let text = text.body().unwrap_or_default().to_owned();
    assert!(text.starts_with("📊 Last 1d ("), "{text}");
    assert!(text.contains("• tier unknown: 1 / 0"), "{text}");
    assert!(text.contains("• Ann: 1 · "), "{text}");
    assert!(text.contains("Group budget: "), "{text}");
    let photo = bot
        .sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| {
            m.reply_to_message_id == Some(id) && m.kind == SimKind::Photo
        })
        .await;
    assert!(photo.caption.unwrap_or_default().contains("First response p90"));
    let upload = bot.sim.calls_to("sendPhoto").pop().expect("sendPhoto");
    let hex = upload.params["photo"]["hex"].as_str().expect("uploaded bytes").to_owned();
    assert!(hex.starts_with("89504e470d0a1a0a"), "a PNG");

    // A chart Telegram refuses: the figures still come, and say so.
    bot.sim.fail_next(FaultRule::new("sendPhoto", Fault::BadRequest("PHOTO_INVALID_DIMENSIONS".into())));
    let figures = command(&bot, &ann, "/stats 24h").await;
    assert!(figures.contains("• Ann: 1 · "), "{figures}");
    assert!(
        figures
            .ends_with("(The chart could not be drawn or sent this time; the figures above are complete.)"),
        "{figures}"
    );

    // A bad period gets the usage hint; /audit and /export are for admins.
    assert!(command(&bot, &ann, "/stats soon").await.starts_with("Usage: /stats [period]"));
    let outsider = SimUser::operator(777, "Olga");
    for line in ["/stats", "/queue", "/agents"] {
        let refusal = command(&bot, &outsider, line).await;
        assert!(refusal.starts_with("This is for agents."), "{line}: {refusal}");
    }
    assert!(command(&bot, &ann, "/audit").await.contains("admin"), "refused");
    assert!(command(&bot, &ann, "/export").await.contains("admin"), "refused");
    let audit = command(&bot, &root, "/audit 30d").await;
    assert!(audit.starts_with("🔎 CRM audit, last 30d"), "{audit}");
    assert!(audit.contains("No CRM is connected"), "{audit}");

    let id = bot.sim.group_text(&root, None, "/export 7d");
    let document = bot
        .sim
        .wait_for_message(SUPPORT_GROUP_ID, None, |m| {
            m.reply_to_message_id == Some(id) && m.kind == SimKind::Document
        })
        .await;
    assert_eq!(document.caption.as_deref(), Some("1 ticket opened in the last 7d"));
    let upload = bot.sim.calls_to("sendDocument").pop().expect("sendDocument");
    let name = upload.params["document"]["uploaded_file"].as_str().expect("name").to_owned();
    assert!(name.starts_with("tickets-") && name.ends_with(".csv"), "{name}");
    let hex = upload.params["document"]["hex"].as_str().expect("bytes");
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    let csv = String::from_utf8(bytes).expect("utf-8");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(&rows[0][0], ticket.to_string().as_str());
    assert_eq!(&rows[0][6], "11");
    assert!(rows[0][15].starts_with("'=1+1"), "{csv}");
    assert!(csv.contains("\r\n"), "RFC 4180 line ends");
    bot.stop().await.expect("clean stop");
}

/// `/audit` through the bot with a real HTTP CRM: what each call came to is
/// recorded by the enrichment path itself, and the flags link the tickets.
#[tokio::test]
async fn audit_counts_what_the_crm_answered() {
    let crm = FakeCrm::start().await;
    // Earlier ticket of customer 950: basic; the next one says premium.
    crm.reply_for(950, CrmReply::Json(json!({"tier": "basic"})));
    crm.reply_for(951, CrmReply::Json(json!({"tier": "platinum", "preferred_agent_id": 424242})));
    crm.reply_for(952, CrmReply::Status(503));
    crm.reply_for(953, CrmReply::Raw("not json".into()));
    let mut bot = TestBot::start_with(&[("ROUTING_WEBHOOK_URL", crm.url()), ("ADMIN_IDS", "1")]).await;
    let root = SimUser::operator(1, "Root");
    let eve = SimUser::customer(950, "Eve");
    let (first, first_thread) = bot.open_ticket(&eve, "billing", "first").await;
    bot.sim.group_text(&root, Some(first_thread), "/close");
    for _ in 0..100 {
        let t = bot.db.storage.ticket(TicketId(first)).await.expect("q").expect("t");
        if t.closed_at_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crm.reply_for(950, CrmReply::Json(json!({"tier": "premium"})));
    let (second, second_thread) = bot.open_ticket(&eve, "billing", "second").await;
    let (odd, odd_thread) = bot.open_ticket(&SimUser::customer(951, "Oda"), "billing", "x").await;
    bot.open_ticket(&SimUser::customer(952, "Hal"), "billing", "x").await;
    bot.open_ticket(&SimUser::customer(953, "Ira"), "billing", "x").await;

    let audit = command(&bot, &root, "/audit 24h").await;
    assert!(audit.starts_with("🔎 CRM audit, last 1d"), "{audit}");
    assert!(
        audit.contains(
            "Calls: 5 · answered in time: 5 · timeouts: 0 · HTTP errors: 1 · invalid bodies: 1 · other failures: 0"
        ),
        "{audit}"
    );
    assert!(
        audit.contains("Tickets routed by fallback: 2 (of them 0 while the circuit breaker was open)"),
        "{audit}"
    );
    assert!(audit.contains("Invalid fields: tier ×1"), "{audit}");
    assert!(audit.contains("Latency: p50 "), "{audit}");
    let link = |thread: i32| format!("https://t.me/c/{}/{thread}", -SUPPORT_GROUP_ID - 1_000_000_000_000);
    assert!(audit.contains("Tier changed since the customer's previous ticket (1):"), "{audit}");
    assert!(audit.contains(&format!("• #{second} · basic→premium {}", link(second_thread))), "{audit}");
    assert!(audit.contains("preferred_agent_id is not an agent (1):"), "{audit}");
    assert!(audit.contains(&format!("• #{odd} · 424242 {}", link(odd_thread))), "{audit}");
    assert!(audit.contains("Invalid values the CRM sent, dropped (1):"), "{audit}");
    assert!(
        audit.contains(&format!(
            "• #{odd} · tier \"platinum\" (not premium, standard or basic) {}",
            link(odd_thread)
        )),
        "{audit}"
    );
    bot.stop().await.expect("clean stop");
}
