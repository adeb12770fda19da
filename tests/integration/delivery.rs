//! Delivery guarantees end to end (being written).
