//! Deterministic 64-bit feature hashing (FNV-1a with a final mix), stable across platforms and runs.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hashes `text` within the feature namespace `kind`.
pub(crate) fn hash_str(kind: u8, text: &str) -> u64 {
    let mut h = OFFSET ^ u64::from(kind).wrapping_mul(PRIME);
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    mix(h)
}

/// Hashes a sequence of characters within the namespace `kind`.
pub(crate) fn hash_chars(kind: u8, chars: &[char]) -> u64 {
    let mut h = OFFSET ^ u64::from(kind).wrapping_mul(PRIME);
    for c in chars {
        h ^= u64::from(*c as u32);
        h = h.wrapping_mul(PRIME);
    }
    mix(h)
}

/// Combines two hashes into the namespace `kind` (used for word bigrams).
pub(crate) fn hash_pair(kind: u8, a: u64, b: u64) -> u64 {
    mix(a.rotate_left(17) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(kind))
}

/// The SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small seeded pseudo-random generator (SplitMix64) so that training is reproducible.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// Creates a generator from a seed.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next pseudo-random 64-bit value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A value in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }

    /// A value in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A pass-through hasher for keys that are already well-mixed 64-bit hashes (feature hashes).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by feature hashes.
pub(crate) type HashKeyMap<V> = std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<PassThroughHasher>>;
