//! The access service's API: wire types and the HTTP client.

pub mod types;
