//! Localised text, from Fluent files under `locales/` (English, Russian, Spanish).
//!
//! The files are embedded at compile time and parsed once at start; a syntax
//! error is a start-up error, not a panic. Lookups fall back to English, then
//! to the message key itself (logged), so a missing translation degrades
//! instead of failing a customer's request.

use fluent_bundle::{FluentArgs, FluentResource, FluentValue, concurrent::FluentBundle};
use unic_langid::LanguageIdentifier;

/// A language topicdesk speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ru,
    Es,
}

impl Lang {
    /// Every supported language; English first (the fallback).
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ru, Lang::Es];

    /// Picks the language for a Telegram `language_code` (`ru`, `es-MX`, …),
    /// falling back to English.
    pub fn from_code(code: Option<&str>) -> Lang {
        let primary = code.and_then(|c| c.split(['-', '_']).next()).map(str::to_ascii_lowercase);
        match primary.as_deref() {
            Some("ru") => Lang::Ru,
            Some("es") => Lang::Es,
            _ => Lang::En,
        }
    }

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::Es => "es",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en/topicdesk.ftl"),
            Lang::Ru => include_str!("../locales/ru/topicdesk.ftl"),
            Lang::Es => include_str!("../locales/es/topicdesk.ftl"),
        }
    }
}

/// A locale file that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("locales/{lang}/topicdesk.ftl: {detail}")]
pub struct I18nError {
    lang: &'static str,
    detail: String,
}

/// Arguments of a message: `&[("id", 42.into())]`.
pub type Args<'a> = [(&'a str, FluentValue<'a>)];

/// All loaded translations.
pub struct I18n {
    bundles: Vec<(Lang, FluentBundle<FluentResource>)>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n").field("languages", &self.bundles.len()).finish()
    }
}

impl I18n {
    /// Parses every embedded locale file.
    pub fn load() -> Result<Self, I18nError> {
        let mut bundles = Vec::new();
        for lang in Lang::ALL {
            let resource = FluentResource::try_new(lang.source().to_owned())
                .map_err(|(_, errors)| I18nError { lang: lang.code(), detail: format!("{errors:?}") })?;
            let id: LanguageIdentifier =
                lang.code().parse().map_err(|e| I18nError { lang: lang.code(), detail: format!("{e}") })?;
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Unicode isolation marks would leak into topic names and HTML.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errors| I18nError { lang: lang.code(), detail: format!("{errors:?}") })?;
            bundles.push((lang, bundle));
        }
        Ok(Self { bundles })
    }

    /// A message without arguments.
    pub fn t(&self, lang: Lang, key: &str) -> String {
        self.t_args(lang, key, &[])
    }

    /// A message with arguments.
    pub fn t_args(&self, lang: Lang, key: &str, args: &Args<'_>) -> String {
        let fluent_args = (!args.is_empty()).then(|| {
            let mut fa = FluentArgs::new();
            for (name, value) in args {
                fa.set(*name, value.clone());
            }
            fa
        });
        for candidate in [lang, Lang::En] {
            if let Some(text) = self.format(candidate, key, fluent_args.as_ref()) {
                return text;
            }
        }
        tracing::error!(key, lang = lang.code(), "missing translation");
        key.to_owned()
    }

    /// Whether `key` exists in `lang` (used to find optional labels).
    pub fn has(&self, lang: Lang, key: &str) -> bool {
        self.bundle(lang).is_some_and(|b| b.has_message(key))
    }

    fn bundle(&self, lang: Lang) -> Option<&FluentBundle<FluentResource>> {
        self.bundles.iter().find(|(l, _)| *l == lang).map(|(_, b)| b)
    }

    fn format(&self, lang: Lang, key: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
        let bundle = self.bundle(lang)?;
        let pattern = bundle.get_message(key)?.value()?;
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, lang = lang.code(), ?errors, "translation formatted with errors");
        }
        Some(text.into_owned())
    }

    /// The message keys of `lang`, for the locale parity test.
    pub fn keys(lang: Lang) -> Vec<String> {
        let Ok(resource) = FluentResource::try_new(lang.source().to_owned()) else {
            return Vec::new();
        };
        resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_map_with_english_fallback() {
        assert_eq!(Lang::from_code(Some("ru")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("es-MX")), Lang::Es);
        assert_eq!(Lang::from_code(Some("ES")), Lang::Es);
        assert_eq!(Lang::from_code(Some("de")), Lang::En);
        assert_eq!(Lang::from_code(Some("")), Lang::En);
        assert_eq!(Lang::from_code(None), Lang::En);
    }

    #[test]
    fn all_locales_parse_and_have_the_same_keys() {
        I18n::load().expect("locales parse");
        let mut english = I18n::keys(Lang::En);
        english.sort();
        assert!(english.len() > 20, "English has {} keys", english.len());
        for lang in [Lang::Ru, Lang::Es] {
            let mut keys = I18n::keys(lang);
            keys.sort();
            assert_eq!(keys, english, "{lang:?} must have exactly the English keys");
        }
    }

    #[test]
    fn messages_format_in_every_language_without_leftover_placeholders() {
        let i18n = I18n::load().expect("locales parse");
        let args: Vec<(&str, FluentValue<'_>)> = vec![
            ("id", 42.into()),
            ("name", "Bob".into()),
            ("category", "Billing".into()),
            ("customer", "Bob".into()),
            ("agent", "Alice".into()),
            ("reason", "x".into()),
            ("tier", "Premium".into()),
            ("commands", "/close".into()),
            ("other", 7.into()),
            ("count", 3.into()),
            ("why", "timeout".into()),
            ("orders", 12.into()),
            ("skill", "billing".into()),
            ("required", "billing".into()),
            ("level", 3.into()),
            ("load", 1.into()),
            ("priority", 100.into()),
            ("value", "1520.00".into()),
            ("capacity", 5.into()),
            ("status", "available".into()),
            ("skills", "billing:3".into()),
            ("wait", "4m".into()),
            ("admin", "Root".into()),
            ("after", "5m".into()),
            ("previous", "Bob".into()),
            ("days", 30.into()),
            ("opened", 10.into()),
            ("closed", 8.into()),
            ("overrides", 1.into()),
            ("p50", "4m".into()),
            ("p90", "12m".into()),
            ("draft", "my order is late".into()),
            ("fields", "tier \"platinum\" (not premium, standard or basic)".into()),
            ("needed", "billing, general".into()),
            ("command", "/agents".into()),
            ("group", "Support".into()),
            ("username", "@alice".into()),
            ("text", "the new text".into()),
            ("score", 4.into()),
            ("kind", "poll".into()),
            ("state", "waiting for an agent".into()),
            ("link", "https://t.me/c/1/2".into()),
            ("today", "today: none answered".into()),
            ("period", "7d".into()),
            ("from", "2026-11-28T00:00:00Z".into()),
            ("to", "2026-12-05T00:00:00Z".into()),
            ("reassignments", 2.into()),
            ("fallbacks", 3.into()),
            ("average", "4.6".into()),
            ("tickets", 14.into()),
            ("csat", "4.8".into()),
            ("ratings", 9.into()),
            ("peak", 19.into()),
            ("limit", 20.into()),
            ("calls", 120.into()),
            ("answered", 110.into()),
            ("timeouts", 5.into()),
            ("http", 3.into()),
            ("invalid", 2.into()),
            ("p99", "1.9s".into()),
            ("refused", 4.into()),
            ("openings", 1.into()),
            ("megabytes", 61.into()),
        ];
        for lang in Lang::ALL {
            for key in I18n::keys(lang) {
                let text = i18n.t_args(lang, &key, &args);
                assert!(!text.trim().is_empty(), "{lang:?} {key} is empty");
                assert!(!text.contains('{') && !text.contains('}'), "{lang:?} {key}: {text}");
            }
        }
    }

    /// "1 tickets opened" reads wrong: every count is a Fluent plural.
    #[test]
    fn one_of_anything_is_singular_in_english() {
        let i18n = I18n::load().expect("locales parse");
        let ones: Vec<(&str, FluentValue<'_>)> = [
            "count",
            "days",
            "opened",
            "closed",
            "overrides",
            "capacity",
            "load",
            "orders",
            "id",
            "other",
            "level",
        ]
        .into_iter()
        .map(|name| (name, FluentValue::from(1)))
        .collect();
        let plurals = ["tickets", "days", "orders", "overrides", "agents", "messages"];
        for key in I18n::keys(Lang::En) {
            let text = i18n.t_args(Lang::En, &key, &ones);
            for noun in plurals {
                for form in [format!("1 {noun}"), format!("1 open {noun}"), format!("1 premium {noun}")] {
                    let at = text.find(&form);
                    let whole_number = at.is_some_and(|i| i == 0 || !text.as_bytes()[i - 1].is_ascii_digit());
                    assert!(!whole_number, "{key}: {text}");
                }
            }
        }
    }

    #[test]
    fn missing_keys_fall_back_to_the_key() {
        let i18n = I18n::load().expect("locales parse");
        assert_eq!(i18n.t(Lang::Ru, "no-such-key"), "no-such-key");
    }
}
