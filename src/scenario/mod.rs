//! Deterministic scenarios at any size, for benchmarks and scale tests.
//!
//! A [`Spec`] says how many grants are unchanged, how many are to be
//! created, updated (another window) or revoked; [`write()`] lays out a
//! ready-to-run workspace: the sandbox's directory file with the live
//! assignments, grants files with the desired ones, a config and a key file.
//! The same spec and seed always write the same bytes, so two machines
//! measure the same work. `examples/gen_scenario.rs` is the command line.
//!
//! Keys are spread evenly: identity `k mod N` holds the k-th key, at a
//! (team, role) pair that a per-identity offset and a fixed stride pick, so
//! no identity holds one pair twice.

mod write;

use serde::Serialize;

pub use write::{ConfigOptions, ENVIRONMENT, KEY, Written, write, write_config};

/// How large a scenario is and what its plan must contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    pub seed: u64,
    pub identities: usize,
    /// Departments under the root node `org`.
    pub departments: usize,
    /// Teams under each department; grants are made at teams.
    pub teams: usize,
    pub roles: usize,
    /// Live and desired alike.
    pub unchanged: usize,
    /// Live and desired with another window: the plan updates them.
    pub updates: usize,
    /// Desired only.
    pub creates: usize,
    /// Live only, inside the pruned scope: the plan revokes them.
    pub revokes: usize,
    /// Desired grants per grants file.
    pub grants_per_file: usize,
}

/// Grants one identity holds on average; sets how many identities a
/// scenario has.
const KEYS_PER_IDENTITY: usize = 10;

/// Roughly the grants one team receives; sets how many teams there are.
const KEYS_PER_TEAM: usize = 1000;

const TEAMS_PER_DEPARTMENT: usize = 50;

const ROLES: usize = 8;

const GRANTS_PER_FILE: usize = 10_000;

impl Spec {
    /// A spec of `desired` grants against `live` assignments, of which the
    /// given shares of the desired are creates and window changes; the live
    /// assignments left over are revokes. Identities, nodes and roles are
    /// sized to match.
    ///
    /// # Errors
    ///
    /// The shares are not within 0..=1, or `live` is smaller than the
    /// desired grants that are live already.
    pub fn from_shares(
        seed: u64,
        desired: usize,
        live: usize,
        create_share: f64,
        update_share: f64,
    ) -> Result<Spec, String> {
        if !(0.0..=1.0).contains(&create_share)
            || !(0.0..=1.0).contains(&update_share)
            || create_share + update_share > 1.0
        {
            return Err(format!(
                "create share {create_share} and update share {update_share} must be shares from 0 to 1 that add up to at most 1"
            ));
        }
        let creates = (desired as f64 * create_share).round() as usize;
        let updates = ((desired as f64 * update_share).round() as usize).min(desired - creates);
        let unchanged = desired - creates - updates;
        let revokes = live.checked_sub(unchanged + updates).ok_or_else(|| {
            format!(
                "{live} live assignments cannot hold the {} desired grants that are live already",
                unchanged + updates
            )
        })?;
        Ok(Spec::sized(seed, unchanged, updates, creates, revokes))
    }

    /// A spec with exactly these counts, and identities, nodes and roles
    /// sized to match.
    pub fn sized(
        seed: u64,
        unchanged: usize,
        updates: usize,
        creates: usize,
        revokes: usize,
    ) -> Spec {
        let keys = (unchanged + updates + creates + revokes).max(1);
        let team_count = keys.div_ceil(KEYS_PER_TEAM).max(10);
        let teams = team_count.min(TEAMS_PER_DEPARTMENT);
        Spec {
            seed,
            identities: keys.div_ceil(KEYS_PER_IDENTITY),
            departments: team_count.div_ceil(teams),
            teams,
            roles: ROLES,
            unchanged,
            updates,
            creates,
            revokes,
            grants_per_file: GRANTS_PER_FILE,
        }
    }

    pub fn desired(&self) -> usize {
        self.unchanged + self.updates + self.creates
    }

    pub fn live(&self) -> usize {
        self.unchanged + self.updates + self.revokes
    }

    pub fn keys(&self) -> usize {
        self.desired() + self.revokes
    }

    /// Every node: the root, the departments, the teams.
    pub fn nodes(&self) -> usize {
        1 + self.departments * (1 + self.teams)
    }

    /// Checks that every identity can hold its share of keys at distinct
    /// (team, role) pairs.
    pub fn validate(&self) -> Result<(), String> {
        if self.identities == 0 || self.departments == 0 || self.teams == 0 || self.roles == 0 {
            return Err("identities, departments, teams and roles must be at least 1".into());
        }
        let per_identity = self.keys().div_ceil(self.identities);
        let pairs = self.departments * self.teams * self.roles;
        if per_identity > pairs {
            return Err(format!(
                "{per_identity} grants per identity do not fit in {pairs} (team, role) pairs; add identities, teams or roles"
            ));
        }
        if self.grants_per_file == 0 {
            return Err("grants_per_file must be at least 1".into());
        }
        Ok(())
    }
}

/// What happens to one key in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Unchanged,
    Update,
    Create,
    Revoke,
}

/// One (identity, team, role) key of a scenario, as indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyAt {
    pub identity: usize,
    pub department: usize,
    pub team: usize,
    pub role: usize,
}

/// A small, fixed generator: the bytes a seed yields must not change with a
/// dependency's version.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform enough in `0..bound` for scenario shapes.
    pub fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fate of every key, in key order: a seeded shuffle of the counts.
pub(crate) fn fates(spec: &Spec) -> Vec<Fate> {
    let mut fates = Vec::with_capacity(spec.keys());
    for (fate, count) in [
        (Fate::Unchanged, spec.unchanged),
        (Fate::Update, spec.updates),
        (Fate::Create, spec.creates),
        (Fate::Revoke, spec.revokes),
    ] {
        fates.extend(std::iter::repeat_n(fate, count));
    }
    let mut rng = SplitMix::new(spec.seed);
    for i in (1..fates.len()).rev() {
        fates.swap(i, rng.below(i + 1));
    }
    fates
}

/// The k-th key. Identity `k mod N` takes its j-th key (j = k div N) at pair
/// `offset + j * stride` modulo the pair count; a stride coprime to that
/// count never repeats a pair within one identity.
pub(crate) struct KeySpace {
    identities: usize,
    teams: usize,
    roles: usize,
    pairs: usize,
    stride: usize,
    seed: u64,
}

impl KeySpace {
    pub fn new(spec: &Spec) -> KeySpace {
        let pairs = spec.departments * spec.teams * spec.roles;
        // Near the golden section of the pair count, so consecutive keys of
        // one identity land far apart.
        let mut stride = (pairs as f64 * 0.618) as usize | 1;
        while gcd(stride, pairs) != 1 {
            stride += 1;
        }
        KeySpace {
            identities: spec.identities,
            teams: spec.teams,
            roles: spec.roles,
            pairs,
            stride: stride % pairs.max(1),
            seed: spec.seed,
        }
    }

    pub fn key(&self, k: usize) -> KeyAt {
        let identity = k % self.identities;
        let j = k / self.identities;
        let offset =
            (mix(self.seed ^ (identity as u64).wrapping_mul(0x2545_f491)) as usize) % self.pairs;
        let pair = (offset + j * self.stride) % self.pairs;
        let (team_index, role) = (pair / self.roles, pair % self.roles);
        KeyAt {
            identity,
            department: team_index / self.teams,
            team: team_index % self.teams,
            role,
        }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn shares_become_counts_and_leftover_live_is_revoked() {
        let spec = Spec::from_shares(7, 1000, 1000, 0.05, 0.05).unwrap();
        assert_eq!(
            (spec.unchanged, spec.updates, spec.creates, spec.revokes),
            (900, 50, 50, 50)
        );
        assert_eq!((spec.desired(), spec.live()), (1000, 1000));
        assert!(Spec::from_shares(7, 1000, 10, 0.0, 0.0).is_err());
        spec.validate().unwrap();
    }

    #[test]
    fn no_identity_holds_a_pair_twice() {
        let spec = Spec::sized(3, 2000, 300, 500, 200);
        spec.validate().unwrap();
        let space = KeySpace::new(&spec);
        let keys: HashSet<_> = (0..spec.keys())
            .map(|k| {
                let key = space.key(k);
                (key.identity, key.department, key.team, key.role)
            })
            .collect();
        assert_eq!(keys.len(), spec.keys());
    }

    #[test]
    fn fates_keep_their_counts_and_follow_the_seed() {
        let spec = Spec::sized(11, 40, 5, 3, 2);
        let fates = fates(&spec);
        let count = |f: Fate| fates.iter().filter(|&&x| x == f).count();
        assert_eq!(
            [Fate::Unchanged, Fate::Update, Fate::Create, Fate::Revoke].map(count),
            [40, 5, 3, 2]
        );
        assert_eq!(fates, super::fates(&spec));
        assert_ne!(fates, super::fates(&Spec { seed: 12, ..spec }));
    }
}
