//! An agent as routing sees them: status, capacity, load and skills.

use super::{SkillLevel, SkillName};

/// An agent's self-declared availability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    Available,
    Away,
    Offline,
}

impl AgentStatus {
    /// The stable name used in storage and commands.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "available" => Some(AgentStatus::Available),
            "away" => Some(AgentStatus::Away),
            "offline" => Some(AgentStatus::Offline),
            _ => None,
        }
    }
}

/// One agent as the router sees them at decision time.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSnapshot {
    pub id: i64,
    pub name: String,
    pub status: AgentStatus,
    /// Maximum open tickets.
    pub capacity: u32,
    pub open_tickets: u32,
    pub skills: Vec<SkillLevel>,
    /// When the agent last received a ticket or became available (unix ms);
    /// the smaller, the longer they have been idle.
    pub idle_since_ms: i64,
}

impl AgentSnapshot {
    /// The agent's level in `skill`, if they hold it.
    pub fn level(&self, skill: &SkillName) -> Option<u8> {
        self.skills.iter().find(|s| &s.name == skill).map(|s| s.level)
    }

    /// Available and under capacity.
    pub fn can_take_work(&self) -> bool {
        self.status == AgentStatus::Available && self.open_tickets < self.capacity
    }

    /// Available, under capacity and holding `skill`.
    pub fn is_eligible_for(&self, skill: &SkillName) -> bool {
        self.can_take_work() && self.level(skill).is_some()
    }
}
