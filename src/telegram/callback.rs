//! Inline-button payloads. They live in chat history forever, so the encoding
//! is explicit and versioned (`1/cat/billing`), decoded by exact match, and
//! round-trip tested; an old or foreign payload decodes to `None` and the
//! customer is told the button expired.

/// What a button press means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackData {
    /// Intake: the customer picked a category.
    PickCategory(String),
    /// Intake: the customer opens the ticket with the message they wrote
    /// first (identified by its message id, so an old button cannot use
    /// another message).
    UseDraft(i32),
    /// After a close: the customer rates their ticket 1–5.
    Rate { ticket: i64, score: u8 },
    /// `/language`: the customer picked a language (`en`, `ru`, `es`).
    Language(String),
}

const VERSION: &str = "1";

impl CallbackData {
    /// The payload sent to Telegram (1–64 bytes).
    pub fn encode(&self) -> String {
        match self {
            CallbackData::PickCategory(name) => format!("{VERSION}/cat/{name}"),
            CallbackData::UseDraft(message) => format!("{VERSION}/draft/{message}"),
            CallbackData::Rate { ticket, score } => format!("{VERSION}/rate/{ticket}.{score}"),
            CallbackData::Language(code) => format!("{VERSION}/lang/{code}"),
        }
    }

    /// Decodes a payload; unknown versions, tags or shapes are `None`.
    pub fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.split('/');
        let (version, tag, value, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
        if version != VERSION || rest.is_some() || value.is_empty() {
            return None;
        }
        match tag {
            "cat" => Some(CallbackData::PickCategory(value.to_owned())),
            "draft" => value.parse().ok().filter(|id: &i32| *id > 0).map(CallbackData::UseDraft),
            "lang" if value.len() <= 8 && value.chars().all(|c| c.is_ascii_lowercase()) => {
                Some(CallbackData::Language(value.to_owned()))
            }
            "rate" => {
                let (ticket, score) = value.split_once('.')?;
                let ticket: i64 = ticket.parse().ok().filter(|t| *t > 0)?;
                let score: u8 = score.parse().ok().filter(|s| (1..=5).contains(s))?;
                Some(CallbackData::Rate { ticket, score })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_fit_telegram() {
        for name in ["billing", "other", &"x".repeat(24)] {
            let data = CallbackData::PickCategory(name.to_owned());
            let encoded = data.encode();
            assert!((1..=64).contains(&encoded.len()), "{encoded}");
            assert_eq!(CallbackData::decode(&encoded), Some(data));
        }
        let rate = CallbackData::Rate { ticket: i64::MAX, score: 5 };
        assert!(rate.encode().len() <= 64);
        assert_eq!(CallbackData::decode(&rate.encode()), Some(rate));
        let draft = CallbackData::UseDraft(i32::MAX);
        assert!(draft.encode().len() <= 64);
        assert_eq!(CallbackData::decode(&draft.encode()), Some(draft));
    }

    #[test]
    fn the_v1_format_is_frozen() {
        // Buttons already in customers' chats use this exact form.
        assert_eq!(CallbackData::PickCategory("billing".into()).encode(), "1/cat/billing");
        assert_eq!(CallbackData::UseDraft(42).encode(), "1/draft/42");
        assert_eq!(CallbackData::Rate { ticket: 42, score: 4 }.encode(), "1/rate/42.4");
        assert_eq!(CallbackData::Language("ru".into()).encode(), "1/lang/ru");
        assert_eq!(CallbackData::decode("1/lang/es"), Some(CallbackData::Language("es".into())));
    }

    #[test]
    fn foreign_and_malformed_payloads_are_rejected() {
        for raw in [
            "",
            "billing",
            "2/cat/billing",
            "1/cat/",
            "1/cat",
            "1/dog/billing",
            "1/cat/a/b",
            "1//x",
            "1/draft/abc",
            "1/draft/-3",
            "1/draft/0",
            "1/rate/42",
            "1/rate/42.6",
            "1/rate/42.0",
            "1/rate/0.3",
            "1/rate/x.3",
            "1/lang/RU",
            "1/lang/",
        ] {
            assert_eq!(CallbackData::decode(raw), None, "{raw:?}");
        }
    }
}
