//! Domain types of the support desk: tickets, tiers, skills, categories.
//!
//! Each type parses its input once (`parse`) and is valid afterwards, so
//! handlers and storage never re-check strings.

pub mod agent;
pub mod burst;
pub mod intake;

use std::fmt;

use serde::{Deserialize, Serialize};

/// A ticket number, shown to customers as `#N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A customer's tier as the external CRM reports it (DESIGN §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Premium,
    Standard,
    Basic,
}

impl Tier {
    /// Where figures per tier keep this tier: premium 0, standard 1,
    /// basic 2, unknown 3 (the order they are shown in).
    pub fn slot(tier: Option<Tier>) -> usize {
        match tier {
            Some(Tier::Premium) => 0,
            Some(Tier::Standard) => 1,
            Some(Tier::Basic) => 2,
            None => 3,
        }
    }

    /// The stable lowercase name used in storage and the webhook.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Premium => "premium",
            Tier::Standard => "standard",
            Tier::Basic => "basic",
        }
    }

    /// Parses the lowercase name; anything else is not a tier.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "premium" => Some(Tier::Premium),
            "standard" => Some(Tier::Standard),
            "basic" => Some(Tier::Basic),
            _ => None,
        }
    }
}

/// Why a skill or category name was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SkillError {
    #[error("a skill name needs 1-32 characters of a-z, 0-9 and _")]
    BadName,
    #[error("a skill level is 1, 2 or 3")]
    BadLevel,
}

/// The name of a skill (`billing`, `technical`, `general`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SkillName(String);

/// The skill every agent pool falls back to (DESIGN §6).
pub const GENERAL_SKILL: &str = "general";

impl SkillName {
    /// Parses a name: lower-case ASCII letters, digits and `_`, 1–32 long.
    pub fn parse(raw: &str) -> Result<Self, SkillError> {
        let raw = raw.trim().to_ascii_lowercase();
        let ok = (1..=32).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok { Ok(Self(raw)) } else { Err(SkillError::BadName) }
    }

    /// The name as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SkillName {
    type Error = SkillError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SkillName> for String {
    fn from(value: SkillName) -> Self {
        value.0
    }
}

impl fmt::Display for SkillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A skill an agent holds, at a level from 1 (junior) to 3 (senior).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkillLevel {
    pub name: SkillName,
    pub level: u8,
}

impl SkillLevel {
    /// Parses `name[:level]`; the level defaults to 1.
    pub fn parse(raw: &str) -> Result<Self, SkillError> {
        let (name, level) = match raw.trim().split_once(':') {
            Some((name, level)) => {
                let level: u8 = level.trim().parse().map_err(|_| SkillError::BadLevel)?;
                (name, level)
            }
            None => (raw, 1),
        };
        if !(1..=3).contains(&level) {
            return Err(SkillError::BadLevel);
        }
        Ok(Self { name: SkillName::parse(name)?, level })
    }
}

impl fmt::Display for SkillLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.level)
    }
}

/// Why a category was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CategoryError {
    #[error("a category name needs 1-24 characters of a-z, 0-9 and _")]
    BadName,
}

/// An intake category a customer picks, and the skill it requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    name: String,
    skill: SkillName,
}

impl Category {
    /// Builds a category. Names are short so they fit in callback data
    /// (64 bytes) and topic names.
    pub fn new(name: &str, skill: SkillName) -> Result<Self, CategoryError> {
        let ok = (1..=24).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(CategoryError::BadName);
        }
        Ok(Self { name: name.to_owned(), skill })
    }

    /// The stable identifier (`billing`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The skill an agent needs to take tickets of this category.
    pub fn skill(&self) -> &SkillName {
        &self.skill
    }
}

/// Whether a ticket is open or closed, as stored; its finer lifecycle state
/// is [`TicketState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Closed,
}

impl TicketStatus {
    /// The stable name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(TicketStatus::Open),
            "closed" => Some(TicketStatus::Closed),
            _ => None,
        }
    }
}

/// Where a ticket is in its lifecycle (DESIGN §13): `waiting` (no agent) →
/// `assigned` → `answered` (an agent message reached the customer since it
/// was opened or reopened) → `closed`. Each step has its stored timestamp
/// (`created_at`/`reopened_at`, `assigned_at`, `answered_at`, `closed_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketState {
    Waiting,
    Assigned,
    Answered,
    Closed,
}

impl TicketState {
    /// The state's name, as shown and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Waiting => "waiting",
            TicketState::Assigned => "assigned",
            TicketState::Answered => "answered",
            TicketState::Closed => "closed",
        }
    }
}

/// Which rule gave a ticket its agent (or left it waiting), as stored with
/// the ticket and counted in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The CRM's preferred agent was eligible.
    PreferredAgent,
    /// Premium: the most senior eligible specialist.
    SeniorSpecialist,
    /// Basic: the least senior sufficient specialist.
    JuniorSpecialist,
    /// Standard: the least-loaded eligible specialist.
    Specialist,
    /// No specialist available: the generalist pool.
    GeneralistPool,
    /// No enrichment: the least-loaded eligible agent.
    LeastLoaded,
    /// Nobody can take it now.
    Queued,
    /// An agent took it with `/take`.
    Taken,
    /// An admin moved it with `/reassign`.
    Reassigned,
    /// The premium override moved it.
    PremiumOverride,
}

impl Rule {
    const ALL: [Rule; 10] = [
        Rule::PreferredAgent,
        Rule::SeniorSpecialist,
        Rule::JuniorSpecialist,
        Rule::Specialist,
        Rule::GeneralistPool,
        Rule::LeastLoaded,
        Rule::Queued,
        Rule::Taken,
        Rule::Reassigned,
        Rule::PremiumOverride,
    ];

    /// A stable label for storage, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PreferredAgent => "preferred_agent",
            Rule::SeniorSpecialist => "senior_specialist",
            Rule::JuniorSpecialist => "junior_specialist",
            Rule::Specialist => "specialist",
            Rule::GeneralistPool => "generalist_pool",
            Rule::LeastLoaded => "least_loaded",
            Rule::Queued => "queued",
            Rule::Taken => "take",
            Rule::Reassigned => "reassign",
            Rule::PremiumOverride => "premium_override",
        }
    }

    /// Parses a stored label.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.as_str() == raw)
    }

    /// A person chose the agent (`/take`, `/reassign`).
    pub fn by_hand(self) -> bool {
        matches!(self, Rule::Taken | Rule::Reassigned)
    }
}

/// An outbox lane: the jobs of one lane are sent one at a time, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Everything posted into a ticket's topic (and the topic itself).
    Ticket(i64),
    /// A chat outside tickets: a customer's private chat, or a group topic
    /// (General when `thread` is `None`).
    Chat { chat: i64, thread: Option<i32> },
}

impl fmt::Display for Lane {
    /// The stored form: `t:42`, `c:-100123`, `c:-100123:7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lane::Ticket(id) => write!(f, "t:{id}"),
            Lane::Chat { chat, thread: None } => write!(f, "c:{chat}"),
            Lane::Chat { chat, thread: Some(thread) } => write!(f, "c:{chat}:{thread}"),
        }
    }
}

impl Lane {
    /// Parses the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(':');
        let lane = match (parts.next()?, parts.next()?.parse().ok()?, parts.next()) {
            ("t", id, None) => Lane::Ticket(id),
            ("c", chat, None) => Lane::Chat { chat, thread: None },
            ("c", chat, Some(thread)) => Lane::Chat { chat, thread: Some(thread.parse().ok()?) },
            _ => return None,
        };
        parts.next().is_none().then_some(lane)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lanes_and_rules_round_trip_through_their_stored_form() {
        for lane in [
            Lane::Ticket(42),
            Lane::Chat { chat: -100123, thread: None },
            Lane::Chat { chat: 5, thread: Some(7) },
        ] {
            assert_eq!(Lane::parse(&lane.to_string()), Some(lane));
        }
        assert_eq!(Lane::Ticket(42).to_string(), "t:42");
        for bad in ["", "t", "t:x", "x:1", "t:1:2:3", "c:1:x"] {
            assert_eq!(Lane::parse(bad), None, "{bad:?}");
        }
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
        }
        assert!(Rule::Taken.by_hand() && Rule::Reassigned.by_hand() && !Rule::PremiumOverride.by_hand());
    }

    use super::*;

    #[test]
    fn skill_levels_parse_and_reject() {
        assert_eq!(SkillLevel::parse("billing:3").map(|s| s.to_string()), Ok("billing:3".into()));
        assert_eq!(SkillLevel::parse(" Billing ").map(|s| s.to_string()), Ok("billing:1".into()));
        assert_eq!(SkillLevel::parse("billing:0"), Err(SkillError::BadLevel));
        assert_eq!(SkillLevel::parse("billing:4"), Err(SkillError::BadLevel));
        assert_eq!(SkillLevel::parse("billing:x"), Err(SkillError::BadLevel));
        assert_eq!(SkillLevel::parse(":2"), Err(SkillError::BadName));
        assert_eq!(SkillLevel::parse("bill ing"), Err(SkillError::BadName));
        assert_eq!(SkillLevel::parse(&"a".repeat(33)), Err(SkillError::BadName));
    }

    #[test]
    fn tiers_round_trip() {
        for tier in [Tier::Premium, Tier::Standard, Tier::Basic] {
            assert_eq!(Tier::parse(tier.as_str()), Some(tier));
        }
        assert_eq!(Tier::parse("gold"), None);
        assert_eq!(Tier::parse("Premium"), None);
    }

    #[test]
    fn category_names_fit_callback_data() {
        let skill = SkillName::parse("general").expect("valid");
        assert!(Category::new("billing", skill.clone()).is_ok());
        assert_eq!(Category::new("", skill.clone()), Err(CategoryError::BadName));
        assert_eq!(Category::new("Billing", skill.clone()), Err(CategoryError::BadName));
        assert_eq!(Category::new(&"x".repeat(25), skill), Err(CategoryError::BadName));
    }

    #[test]
    fn ticket_ids_display_with_hash() {
        assert_eq!(TicketId(42).to_string(), "#42");
    }
}
