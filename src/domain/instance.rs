//! `InstanceId`: names one running process among the instances that share a store, so a store
//! can tell one instance's writes from another's (the click write marks).

use std::fmt;

use rand::Rng;

/// A random 64-bit id, drawn once per process; never 0 (stores use 0 for "no writer yet").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId(u64);

impl InstanceId {
    /// A fresh id from the thread-local CSPRNG: two live instances share one with probability
    /// about n²/2⁶⁵.
    #[allow(clippy::disallowed_methods)] // an identity, not a test-visible value
    pub fn random() -> Self {
        let mut rng = rand::rng();
        loop {
            let id = rng.next_u64();
            if id != 0 {
                return Self(id);
            }
        }
    }

    /// A given id, for tests that play several instances; 0 becomes 1.
    pub fn from_u64(id: u64) -> Self {
        Self(id.max(1))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_zero_and_rarely_equal() {
        let a = InstanceId::random();
        let b = InstanceId::random();
        assert_ne!(a.get(), 0);
        assert_ne!(a, b);
        assert_eq!(InstanceId::from_u64(0).get(), 1);
        assert_eq!(InstanceId::from_u64(0x2a).to_string(), "000000000000002a");
    }
}
