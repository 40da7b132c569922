//! The sandbox: a local implementation of the access service's contract.

/// Placeholder until the sandbox lands.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Faults {}
