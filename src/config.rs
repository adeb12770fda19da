//! Start-up configuration, read from the environment (DESIGN §2).
//!
//! Every variable is parsed and validated here, once, so the rest of the
//! program works with typed values. A missing or malformed value becomes a
//! [`ConfigError`] whose `Display` is one line naming the variable.

use std::{net::SocketAddr, time::Duration};

use teloxide::types::{ChatId, UserId};
use url::Url;

use crate::domain::{Category, CategoryError, SkillName};

/// The whole configuration of one topicdesk process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bot token from @BotFather (`TELOXIDE_TOKEN`).
    pub token: String,
    /// Bot API base URL (`TELOXIDE_API_URL`); a self-hosted server or the simulator.
    pub api_url: Url,
    /// Where tickets, agents and queues live (`DATABASE_URL`).
    pub database_url: DatabaseUrl,
    /// The forum supergroup that holds one topic per ticket (`SUPPORT_GROUP_ID`).
    pub support_group: ChatId,
    /// Users allowed admin commands (`ADMIN_IDS`).
    pub admin_ids: Vec<UserId>,
    /// Language of notes, topic names and what the bot posts on its own in
    /// the support group (`GROUP_LANGUAGE`); command replies follow the sender.
    pub group_language: crate::i18n::Lang,
    /// Intake categories offered to customers and the skill each requires (`CATEGORIES`).
    pub categories: Vec<Category>,
    /// External enrichment endpoint (`ROUTING_WEBHOOK_URL`); `None` = no enrichment.
    pub routing_webhook_url: Option<Url>,
    /// HMAC-SHA256 key that signs webhook requests (`ROUTING_WEBHOOK_SECRET`).
    pub routing_webhook_secret: Option<String>,
    /// Hard deadline for one whole webhook call (`ROUTING_WEBHOOK_TIMEOUT`).
    pub routing_webhook_timeout: Duration,
    /// How long a premium ticket may wait for a first response (`PREMIUM_OVERRIDE_AFTER`).
    pub premium_override_after: Duration,
    /// How often the sweeper looks for overdue tickets (`SWEEP_INTERVAL`).
    pub sweep_interval: Duration,
    /// How long after a close a customer's message reopens the same ticket
    /// (`REOPEN_WINDOW`); `None` (`0`): never, a new intake starts.
    pub reopen_window: Option<Duration>,
    /// Whether `/away` gives back unanswered tickets as `/offline` does
    /// (`AWAY_GIVES_BACK_TICKETS`).
    pub away_gives_back_tickets: bool,
    /// How long an album's parts are collected after the last one arrived
    /// before the album is copied in one call (`ALBUM_WAIT`).
    pub album_wait: Duration,
    /// Listener for health, metrics and webhook mode (`HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// Public webhook URL (`WEBHOOK_URL`); `None` = long polling.
    pub webhook_url: Option<Url>,
    /// Expected `X-Telegram-Bot-Api-Secret-Token` (`WEBHOOK_SECRET_TOKEN`).
    pub webhook_secret_token: Option<String>,
    /// Proactive rate limiting (`RATE_LIMITS`).
    pub rate_limits: RateLimitMode,
}

pub use crate::storage::DatabaseUrl;

/// At most `count` sends in any `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub count: u32,
    pub per: Duration,
}

impl Window {
    /// `count` per `per`.
    pub const fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }
}

/// The three limits Telegram applies to sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// All chats together.
    pub global: Window,
    /// One chat (private or group).
    pub per_chat: Window,
    /// One group chat, over a longer window.
    pub per_group: Window,
}

impl Limits {
    /// Telegram's documented limits (Bot API FAQ).
    pub const TELEGRAM: Limits = Limits {
        global: Window::new(30, Duration::from_secs(1)),
        per_chat: Window::new(1, Duration::from_secs(1)),
        per_group: Window::new(20, Duration::from_secs(60)),
    };
}

/// Whether the bot limits its own sending rate before Telegram has to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitMode {
    /// Stay under Telegram's documented limits.
    Telegram,
    /// Other limits, set in code (tests, benchmarks): not an env value.
    Custom(Limits),
    /// No proactive limiting; `429 retry_after` is still honoured.
    Off,
}

/// A configuration problem, reported as one line naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is required but not set{hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} is invalid: {reason} (got {value:?})")]
    Invalid { var: &'static str, value: String, reason: String },
}

/// The default intake categories and the skill each one requires (DESIGN §4).
pub const DEFAULT_CATEGORIES: &str = "billing:billing,technical:technical,account:general,other:general";

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production,
    /// a map in tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let token = get("TELOXIDE_TOKEN").ok_or(ConfigError::Missing {
            var: "TELOXIDE_TOKEN",
            hint: " (create a bot with @BotFather and put its token here)",
        })?;
        parse_token(&token)?;

        let api_url = match get("TELOXIDE_API_URL") {
            Some(raw) => parse_http_url("TELOXIDE_API_URL", &raw)?,
            None => Url::parse("https://api.telegram.org").map_err(|e| invalid("TELOXIDE_API_URL", "", e))?,
        };

        let database_url = parse_database_url(get("DATABASE_URL").as_deref())?;

        let group_raw = get("SUPPORT_GROUP_ID").ok_or(ConfigError::Missing {
            var: "SUPPORT_GROUP_ID",
            hint: " (the forum supergroup's chat id, which starts with -100)",
        })?;
        let support_group = parse_support_group(&group_raw)?;

        let admin_ids = match get("ADMIN_IDS") {
            Some(raw) => parse_admin_ids(&raw)?,
            None => Vec::new(),
        };

        let group_language = match get("GROUP_LANGUAGE").as_deref() {
            None => crate::i18n::Lang::En,
            Some(raw) => crate::i18n::Lang::ALL
                .into_iter()
                .find(|l| l.code().eq_ignore_ascii_case(raw))
                .ok_or_else(|| invalid("GROUP_LANGUAGE", raw, "expected en, ru or es"))?,
        };

        let categories_raw = get("CATEGORIES").unwrap_or_else(|| DEFAULT_CATEGORIES.to_owned());
        let categories = parse_categories(&categories_raw)?;

        let routing_webhook_url =
            get("ROUTING_WEBHOOK_URL").map(|raw| parse_http_url("ROUTING_WEBHOOK_URL", &raw)).transpose()?;
        let routing_webhook_secret = get("ROUTING_WEBHOOK_SECRET");
        let routing_webhook_timeout = duration(&get, "ROUTING_WEBHOOK_TIMEOUT", "5s")?;
        let premium_override_after = duration(&get, "PREMIUM_OVERRIDE_AFTER", "5m")?;
        let sweep_interval = duration(&get, "SWEEP_INTERVAL", "15s")?;
        let reopen_window = match get("REOPEN_WINDOW") {
            Some(raw) if raw == "0" || humantime::parse_duration(&raw).is_ok_and(|d| d.is_zero()) => None,
            _ => Some(duration(&get, "REOPEN_WINDOW", "72h")?),
        };
        let album_wait = duration(&get, "ALBUM_WAIT", "1s")?;
        let away_gives_back_tickets = match get("AWAY_GIVES_BACK_TICKETS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid("AWAY_GIVES_BACK_TICKETS", other, "expected `true` or `false`"));
            }
        };

        let http_raw = get("HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let http_addr = http_raw.parse::<SocketAddr>().map_err(|e| {
            invalid("HTTP_ADDR", &http_raw, format!("{e}; expected host:port such as 127.0.0.1:8080"))
        })?;

        let webhook_url = get("WEBHOOK_URL").map(|raw| parse_webhook_url(&raw, &api_url)).transpose()?;
        let webhook_secret_token =
            get("WEBHOOK_SECRET_TOKEN").map(|raw| parse_secret_token(&raw)).transpose()?;

        let rate_limits = match get("RATE_LIMITS").as_deref() {
            None | Some("telegram") => RateLimitMode::Telegram,
            Some("off") => RateLimitMode::Off,
            Some(other) => {
                return Err(invalid("RATE_LIMITS", other, "expected `telegram` or `off`"));
            }
        };

        Ok(Self {
            token,
            api_url,
            database_url,
            support_group,
            admin_ids,
            group_language,
            categories,
            routing_webhook_url,
            routing_webhook_secret,
            routing_webhook_timeout,
            premium_override_after,
            sweep_interval,
            reopen_window,
            away_gives_back_tickets,
            album_wait,
            http_addr,
            webhook_url,
            webhook_secret_token,
            rate_limits,
        })
    }

    /// Whether `user` may use admin commands.
    pub fn is_admin(&self, user: UserId) -> bool {
        self.admin_ids.contains(&user)
    }

    /// The category called `name`, if it is configured.
    pub fn category(&self, name: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.name() == name)
    }
}

fn invalid(var: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid { var, value: value.to_owned(), reason: reason.to_string() }
}

fn duration(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let raw = get(var).unwrap_or_else(|| default.to_owned());
    let parsed = humantime::parse_duration(&raw)
        .map_err(|e| invalid(var, &raw, format!("{e}; expected a duration such as 500ms, 2s or 5m")))?;
    if parsed.is_zero() {
        return Err(invalid(var, &raw, "must be greater than zero"));
    }
    Ok(parsed)
}

/// Bot tokens look like `123456:ABC-DEF…`; catching a pasted chat id or URL
/// here beats a confusing 401 from Telegram later.
fn parse_token(token: &str) -> Result<(), ConfigError> {
    let shape_ok = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if shape_ok {
        Ok(())
    } else {
        // Never echo a token into logs: it is a credential.
        Err(ConfigError::Invalid {
            var: "TELOXIDE_TOKEN",
            value: "<hidden>".to_owned(),
            reason: "expected the form 123456789:AAE… as given by @BotFather".to_owned(),
        })
    }
}

fn parse_http_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| invalid(var, raw, e))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(var, raw, "expected an http:// or https:// URL"));
    }
    Ok(url)
}

/// Telegram's own servers deliver only to `https://` on ports 443, 80, 88
/// and 8443; a self-hosted Bot API server (any other `TELOXIDE_API_URL`)
/// delivers to `http://` and any port too.
fn parse_webhook_url(raw: &str, api_url: &Url) -> Result<Url, ConfigError> {
    let url = parse_http_url("WEBHOOK_URL", raw)?;
    if api_url.host_str() != Some(TELEGRAM_API_HOST) {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(invalid(
            "WEBHOOK_URL",
            raw,
            "Telegram's servers only deliver webhooks to https:// URLs (a self-hosted Bot API server set in \
             TELOXIDE_API_URL also takes http://)",
        ));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    if ![443, 80, 88, 8443].contains(&port) {
        return Err(invalid(
            "WEBHOOK_URL",
            raw,
            format!("Telegram's servers only deliver webhooks to ports 443, 80, 88 and 8443, not {port}"),
        ));
    }
    Ok(url)
}

/// The host of Telegram's own Bot API.
const TELEGRAM_API_HOST: &str = "api.telegram.org";

/// Telegram allows 1–256 characters `A-Z`, `a-z`, `0-9`, `_` and `-`.
fn parse_secret_token(raw: &str) -> Result<String, ConfigError> {
    let ok = (1..=256).contains(&raw.len())
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::Invalid {
            var: "WEBHOOK_SECRET_TOKEN",
            value: "<hidden>".to_owned(),
            reason: "expected 1-256 characters of A-Z, a-z, 0-9, _ and -".to_owned(),
        })
    }
}

/// Reads `DATABASE_URL` (`None`: the default SQLite file).
pub fn parse_database_url(raw: Option<&str>) -> Result<DatabaseUrl, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DatabaseUrl::Sqlite("sqlite://topicdesk.db".to_owned()));
    };
    if raw.starts_with("sqlite:") {
        Ok(DatabaseUrl::Sqlite(raw.to_owned()))
    } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        Ok(DatabaseUrl::Postgres(raw.to_owned()))
    } else {
        Err(invalid(
            "DATABASE_URL",
            &crate::storage::redact_password(raw),
            "expected sqlite://PATH or postgres://USER@HOST/DB",
        ))
    }
}

fn parse_support_group(raw: &str) -> Result<ChatId, ConfigError> {
    let id: i64 = raw
        .parse()
        .map_err(|_| invalid("SUPPORT_GROUP_ID", raw, "expected a number such as -1001234567890"))?;
    if id > -1_000_000_000_000 {
        return Err(invalid(
            "SUPPORT_GROUP_ID",
            raw,
            "a forum supergroup's id starts with -100 (e.g. -1001234567890)",
        ));
    }
    Ok(ChatId(id))
}

fn parse_admin_ids(raw: &str) -> Result<Vec<UserId>, ConfigError> {
    let mut ids = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: u64 = part.parse().map_err(|_| {
            invalid("ADMIN_IDS", raw, format!("{part:?} is not a Telegram user id (a positive number)"))
        })?;
        if id == 0 {
            return Err(invalid("ADMIN_IDS", raw, "0 is not a Telegram user id"));
        }
        if !ids.contains(&UserId(id)) {
            ids.push(UserId(id));
        }
    }
    Ok(ids)
}

/// Reads `CATEGORIES` (`name:skill,...`; a name alone needs `general`).
pub fn parse_categories(raw: &str) -> Result<Vec<Category>, ConfigError> {
    let mut categories: Vec<Category> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, skill) = part.split_once(':').unwrap_or((part, "general"));
        let skill = SkillName::parse(skill.trim())
            .map_err(|e| invalid("CATEGORIES", raw, format!("{part:?}: {e}")))?;
        let category = Category::new(name.trim(), skill)
            .map_err(|e: CategoryError| invalid("CATEGORIES", raw, format!("{part:?}: {e}")))?;
        if categories.iter().any(|c| c.name() == category.name()) {
            return Err(invalid(
                "CATEGORIES",
                raw,
                format!("category {:?} is listed twice", category.name()),
            ));
        }
        categories.push(category);
    }
    if categories.is_empty() {
        return Err(invalid("CATEGORIES", raw, "at least one category is needed"));
    }
    // Telegram shows at most 100 inline buttons; far fewer are usable.
    if categories.len() > 20 {
        return Err(invalid("CATEGORIES", raw, "at most 20 categories are supported"));
    }
    Ok(categories)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = HashMap::from([
            ("TELOXIDE_TOKEN".to_owned(), "123456:ABC-def_1".to_owned()),
            ("SUPPORT_GROUP_ID".to_owned(), "-1001234567890".to_owned()),
        ]);
        for (k, v) in vars {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let c = config(&[]).expect("valid");
        assert_eq!(c.api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("sqlite://topicdesk.db".into()));
        assert_eq!(c.support_group, ChatId(-1001234567890));
        assert!(c.admin_ids.is_empty());
        assert_eq!(c.routing_webhook_url, None);
        assert_eq!(c.routing_webhook_timeout, Duration::from_secs(5));
        assert_eq!(c.premium_override_after, Duration::from_secs(300));
        assert_eq!(c.sweep_interval, Duration::from_secs(15));
        assert!(!c.away_gives_back_tickets);
        assert_eq!(c.reopen_window, Some(Duration::from_secs(72 * 3600)));
        assert_eq!(config(&[("REOPEN_WINDOW", "0")]).expect("valid").reopen_window, None);
        assert_eq!(config(&[("REOPEN_WINDOW", "0s")]).expect("valid").reopen_window, None);
        assert_eq!(c.group_language, crate::i18n::Lang::En);
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.webhook_url, None);
        assert_eq!(c.rate_limits, RateLimitMode::Telegram);
        let names: Vec<_> = c.categories.iter().map(|c| (c.name(), c.skill().as_str())).collect();
        assert_eq!(
            names,
            [
                ("billing", "billing"),
                ("technical", "technical"),
                ("account", "general"),
                ("other", "general")
            ]
        );
    }

    #[test]
    fn every_variable_is_parsed() {
        let c = config(&[
            ("TELOXIDE_API_URL", "http://127.0.0.1:8081"),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
            ("ADMIN_IDS", " 1, 2,2 ,3 "),
            ("ROUTING_WEBHOOK_URL", "https://crm.example.com/route"),
            ("ROUTING_WEBHOOK_SECRET", "s3cret"),
            ("ROUTING_WEBHOOK_TIMEOUT", "1500ms"),
            ("PREMIUM_OVERRIDE_AFTER", "2m"),
            ("SWEEP_INTERVAL", "1s"),
            ("AWAY_GIVES_BACK_TICKETS", "true"),
            ("GROUP_LANGUAGE", "RU"),
            ("HTTP_ADDR", "0.0.0.0:9000"),
            ("WEBHOOK_URL", "https://bot.example.com/tg"),
            ("WEBHOOK_SECRET_TOKEN", "abc_DEF-1"),
            ("RATE_LIMITS", "off"),
            ("CATEGORIES", "refunds:billing,bugs:technical"),
        ])
        .expect("valid");
        assert_eq!(c.database_url, DatabaseUrl::Postgres("postgres://postgres@127.0.0.1/test".into()));
        assert_eq!(c.admin_ids, vec![UserId(1), UserId(2), UserId(3)]);
        assert_eq!(c.routing_webhook_timeout, Duration::from_millis(1500));
        assert_eq!(c.premium_override_after, Duration::from_secs(120));
        assert_eq!(c.sweep_interval, Duration::from_secs(1));
        assert!(c.away_gives_back_tickets);
        assert_eq!(c.group_language, crate::i18n::Lang::Ru);
        assert_eq!(c.http_addr.port(), 9000);
        assert_eq!(c.webhook_secret_token.as_deref(), Some("abc_DEF-1"));
        assert_eq!(c.rate_limits, RateLimitMode::Off);
        assert_eq!(c.categories.len(), 2);
        assert!(c.is_admin(UserId(2)));
        assert!(!c.is_admin(UserId(4)));
    }

    fn error_line(vars: &[(&str, &str)]) -> String {
        config(vars).expect_err("should be rejected").to_string()
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            ("TELOXIDE_TOKEN", "not a token"),
            ("TELOXIDE_API_URL", "ftp://x"),
            ("DATABASE_URL", "mysql://x"),
            ("SUPPORT_GROUP_ID", "12345"),
            ("SUPPORT_GROUP_ID", "abc"),
            ("ADMIN_IDS", "1,bob"),
            ("ROUTING_WEBHOOK_URL", "not a url"),
            ("ROUTING_WEBHOOK_TIMEOUT", "5 parsecs"),
            ("ROUTING_WEBHOOK_TIMEOUT", "0s"),
            ("PREMIUM_OVERRIDE_AFTER", "soon"),
            ("SWEEP_INTERVAL", "-1s"),
            ("HTTP_ADDR", "localhost"),
            ("WEBHOOK_URL", "http://insecure.example.com/"),
            ("WEBHOOK_SECRET_TOKEN", "has spaces"),
            ("RATE_LIMITS", "fast"),
            ("AWAY_GIVES_BACK_TICKETS", "yes"),
            ("GROUP_LANGUAGE", "de"),
            ("REOPEN_WINDOW", "soon"),
            ("CATEGORIES", "billing:billing,billing:general"),
            ("CATEGORIES", "Bad Name:general"),
        ];
        for (var, value) in cases {
            let line = error_line(&[(var, value)]);
            assert!(line.starts_with(var), "{var}={value:?} gave {line:?}");
            assert!(!line.contains('\n'), "one line: {line:?}");
        }
    }

    #[test]
    fn webhook_urls_follow_the_bot_api_server() {
        // Telegram's own servers: https on its four ports only.
        assert!(config(&[("WEBHOOK_URL", "https://bot.example.com:8443/tg")]).is_ok());
        for bad in ["http://bot.example.com/tg", "https://bot.example.com:9000/tg"] {
            let line = error_line(&[("WEBHOOK_URL", bad)]);
            assert!(line.starts_with("WEBHOOK_URL is invalid: Telegram's servers"), "{line}");
        }
        // A self-hosted Bot API server delivers to http and any port.
        let own = config(&[
            ("TELOXIDE_API_URL", "http://127.0.0.1:8081"),
            ("WEBHOOK_URL", "http://10.0.0.5:9000/tg"),
        ])
        .expect("self-hosted");
        assert_eq!(own.webhook_url.map(|u| u.to_string()), Some("http://10.0.0.5:9000/tg".to_owned()));
    }

    #[test]
    fn missing_required_values_are_named() {
        let missing = Config::from_lookup(|_| None).expect_err("token missing").to_string();
        assert!(missing.starts_with("TELOXIDE_TOKEN is required"), "{missing}");
        let missing = Config::from_lookup(|n| (n == "TELOXIDE_TOKEN").then(|| "1:a".to_owned()))
            .expect_err("group missing")
            .to_string();
        assert!(missing.starts_with("SUPPORT_GROUP_ID is required"), "{missing}");
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let line = error_line(&[("TELOXIDE_TOKEN", "123:has spaces secret")]);
        assert!(!line.contains("secret"), "{line}");
        let line = error_line(&[("DATABASE_URL", "mysql://u:hunter2@h/db")]);
        assert!(!line.contains("hunter2"), "{line}");
    }
}
