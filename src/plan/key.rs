//! Hashing of [`Key`]s for the plan's map.
//!
//! A key is three UUIDs, which the service and the sandbox draw at random or
//! derive by hashing, so their bits are already well mixed: the standard
//! SipHash spends most of a million-key plan's hashing time re-mixing them.
//! [`KeyHash`] folds the words with a multiply and finishes with a strong
//! mixer, seeded per map so that the layout cannot be chosen from outside.

use std::hash::{BuildHasher, Hasher};

#[cfg(doc)]
use super::Key;

/// Builds a [`KeyHasher`] with a seed drawn once per map.
#[derive(Clone)]
pub(crate) struct KeyHash {
    seed: u64,
}

impl Default for KeyHash {
    fn default() -> Self {
        // The standard library's per-process random keys, without a
        // dependency of our own.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        KeyHash { seed }
    }
}

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { state: self.seed }
    }
}

pub(crate) struct KeyHasher {
    state: u64,
}

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(MULTIPLIER).rotate_left(29);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(
                chunk.try_into().expect("chunks of eight"),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    fn finish(&self) -> u64 {
        // The splitmix64 finaliser: every input bit reaches every output bit,
        // which the map's use of the top and bottom bits needs.
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::plan::Key;

    #[test]
    fn keys_that_differ_in_one_part_hash_apart() {
        let build = KeyHash::default();
        let key = |i: u128, n: u128, r: u128| Key {
            identity: uuid::Uuid::from_u128(i),
            node: uuid::Uuid::from_u128(n),
            role: uuid::Uuid::from_u128(r),
        };
        let mut hashes = HashSet::new();
        for i in 0..50 {
            for n in 0..20 {
                for r in 0..4 {
                    hashes.insert(build.hash_one(key(i, n, r)));
                }
            }
        }
        assert_eq!(hashes.len(), 50 * 20 * 4);
        assert_eq!(build.hash_one(key(1, 2, 3)), build.hash_one(key(1, 2, 3)));
    }
}
