//! The access service's API: the wire types of its contract (`types.rs`),
//! the HTTP client (`client.rs`), its retry policy (`retry.rs`) and the key
//! that authenticates it (`key.rs`).

pub mod client;
pub mod key;
pub mod retry;
pub mod types;

pub use client::{CallCounts, Client, ClientOptions, Error};
pub use key::ApiKey;
