//! Deterministic ids for things a sandbox directory declares without an id.
//!
//! Every id is a UUID v5: an environment's under a fixed namespace, and
//! everything inside an environment under that environment's id, so the same
//! directory always yields the same ids and two environments never share one.

use uuid::Uuid;

/// The namespace of every id grantsync derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b1e_5a3d_4c8e_9b07_2d4f_81a6_c3e5);

pub fn environment(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("environment:{name}").as_bytes())
}

pub fn identity(environment: Uuid, email: &str) -> Uuid {
    Uuid::new_v5(
        &environment,
        format!("identity:{}", email.to_lowercase()).as_bytes(),
    )
}

/// `path` is the node's keys from its root, joined by `/`.
pub fn node(environment: Uuid, path: &str) -> Uuid {
    Uuid::new_v5(&environment, format!("node:{path}").as_bytes())
}

pub fn role(environment: Uuid, key: &str) -> Uuid {
    Uuid::new_v5(&environment, format!("role:{key}").as_bytes())
}

/// An assignment that a directory seeds, named by what it grants.
pub fn seeded_assignment(environment: Uuid, identity: Uuid, node: Uuid, role: Uuid) -> Uuid {
    Uuid::new_v5(
        &environment,
        format!("assignment:{identity}:{node}:{role}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_scoped_by_environment() {
        let prod = environment("Production");
        let dev = environment("Development");
        assert_eq!(prod, environment("Production"));
        assert_ne!(
            identity(prod, "a@example.com"),
            identity(dev, "a@example.com")
        );
        assert_eq!(
            identity(prod, "A@example.com"),
            identity(prod, "a@example.com")
        );
    }
}
