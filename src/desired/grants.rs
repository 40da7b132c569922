//! Grants files: YAML written by people.
