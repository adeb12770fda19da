//! Routing: who gets a ticket and why (DESIGN §5–§6).
//!
//! [`router::route`] is a pure function over plain data; the enrichment
//! client, the agent roster in storage and the sweeper feed it.

pub mod enrichment;
pub mod reason;
pub mod router;
pub mod service;
pub mod sweeper;

pub use router::{
    AgentPick, AgentSnapshot, AgentStatus, CustomerProfile, Decision, Enrichment, Outcome, RoutingPolicy,
    RoutingReason, Rule, override_pick, route,
};
