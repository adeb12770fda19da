//! Integration tests: storage on both backends, and the whole bot end to end
//! against the Bot API simulator (real teloxide client, real runtime, real
//! database).

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod binary;
mod conversation;
mod crash;
mod delivery;
mod insights;
mod languages;
mod lifecycle;
mod lost;
mod operations;
mod premium_override;
mod resilience;
mod routing;
mod setup;
mod simulate;
mod slice;
mod storage;
