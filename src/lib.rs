//! grantsync keeps an access-management service in the state that people
//! declare in files.
//!
//! A run reads the desired state ([`desired`]: grants files and HR exports),
//! resolves its references to ids ([`resolve`]), lists the live assignments
//! through the service's API ([`api`]), compares the two ([`plan`]) and makes
//! the service match ([`apply`]), writing a report of every item
//! ([`report`]). [`sandbox`] is a local implementation of the same API, used
//! by the quickstart, the tests and the benchmarks; [`scenario`] writes
//! deterministic workspaces of any size for them.

pub mod api;
pub mod desired;
pub mod ids;
pub mod sandbox;

pub mod apply;
pub mod cli;
pub mod config;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod scenario;
pub mod signal;
pub mod state;
pub mod sync;
pub mod yaml;
