//! A least-recently-used cache bounded in entries **and** in bytes.
//!
//! Entries are weighed by their owner (an estimate of the memory they hold); inserting evicts the
//! least recently used entries until both bounds hold again, and an entry heavier than the whole
//! byte budget is not kept at all. The engine caches work done for agent-supplied input (verified
//! passports, compiled caveats): an entry count alone would let a hostile agent pin gigabytes by
//! sending a few thousand maximal tokens.

use std::collections::hash_map::RandomState;
use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

/// An LRU cache bounded by `max_entries` and by `max_bytes` of summed weights.
#[derive(Debug)]
pub(crate) struct WeighedLru<K: Hash + Eq, V> {
    /// Keyed SipHash (std's `RandomState`), not the `lru` crate's default fast hasher: keys are
    /// agent-chosen (a passport token, a gate name), so the table must resist chosen collisions.
    map: LruCache<K, (V, usize), RandomState>,
    max_entries: NonZeroUsize,
    max_bytes: usize,
    bytes: usize,
}

impl<K: Hash + Eq, V: Clone> WeighedLru<K, V> {
    pub(crate) fn new(max_entries: NonZeroUsize, max_bytes: usize) -> Self {
        WeighedLru {
            map: LruCache::unbounded_with_hasher(RandomState::new()),
            max_entries,
            max_bytes,
            bytes: 0,
        }
    }

    /// The value under `key` (or a borrowed form of it, e.g. `&str` for `Box<str>` keys),
    /// marking it most recently used.
    pub(crate) fn get<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key).map(|(v, _)| v.clone())
    }

    /// Keeps `value` under `key`, weighing `weight` bytes, then evicts until both bounds hold.
    pub(crate) fn put(&mut self, key: K, value: V, weight: usize) {
        if weight > self.max_bytes {
            if let Some((_, w)) = self.map.pop(&key) {
                self.bytes = self.bytes.saturating_sub(w);
            }
            return;
        }
        if let Some((_, old)) = self.map.put(key, (value, weight)) {
            self.bytes = self.bytes.saturating_sub(old);
        }
        self.bytes = self.bytes.saturating_add(weight);
        while self.bytes > self.max_bytes || self.map.len() > self.max_entries.get() {
            match self.map.pop_lru() {
                Some((_, (_, w))) => self.bytes = self.bytes.saturating_sub(w),
                None => break,
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// The summed weight of the entries kept.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_entries_and_bytes() {
        let n = NonZeroUsize::new(3).unwrap();
        let mut c: WeighedLru<u32, u32> = WeighedLru::new(n, 100);
        for i in 0..10 {
            c.put(i, i, 10);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.bytes(), 30);
        assert_eq!(c.get(&9), Some(9));
        c.put(20, 20, 90);
        assert!(c.bytes() <= 100, "{}", c.bytes());
        assert_eq!(c.get(&20), Some(20));
        // Heavier than the whole budget: not kept, and nothing else is evicted for it.
        let before = c.len();
        c.put(30, 30, 101);
        assert_eq!(c.get(&30), None);
        assert_eq!(c.len(), before);
        // Replacing an entry reweighs it.
        c.put(20, 21, 5);
        assert_eq!(c.get(&20), Some(21));
        assert!(c.bytes() <= 100);
    }
}
