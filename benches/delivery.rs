//! Delivery throughput (being written).
fn main() {}
