//! grantsync keeps an access-management service in the state that people
//! declare in files.
//!
//! A run reads the desired state ([`desired`]: grants files and HR exports),
//! resolves its references to ids ([`resolve`]), lists the live assignments
//! through the service's API ([`api`]), compares the two ([`plan`]) and makes
//! the service match ([`apply`]), writing a report of every item
//! ([`report`]). [`sandbox`] is a local implementation of the same API, used
//! by the quickstart, the tests and the benchmarks; [`scenario`] writes
//! deterministic workspaces of any size for them. [`daemon`] keeps syncing:
//! on file changes and on a schedule, with health and metrics endpoints.
//!
//! Around a run: [`validate`] reports every problem of the files at once,
//! [`saved_plan`] saves a plan for review and applies exactly that plan,
//! [`export`] writes live assignments as grants files, [`explain`] follows
//! one identity through the plan, and [`schema`] generates the JSON Schemas
//! of every file from the types that read it.

pub mod api;
pub mod desired;
pub mod ids;
pub mod sandbox;

pub mod apply;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod explain;
pub mod export;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod saved_plan;
pub mod scenario;
pub mod schema;
pub mod signal;
pub mod state;
pub mod sync;
pub mod validate;
pub mod yaml;

/// An error and its causes on one line, `what failed: why: why`, leaving out
/// a cause whose text the message already carries.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
