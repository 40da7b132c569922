//! The sandbox: a local implementation of the access service's contract.
