//! Insights for the team lead (DESIGN §15): the pieces of `/stats`,
//! `/audit` and `/export` that are neither SQL (in `storage`) nor a handler
//! (in `admin`): the period argument, the chart, the CSV file.

pub mod chart;
pub mod export;
pub mod period;
pub mod stats;
