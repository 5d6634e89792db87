//! `ShortCodeGen`: where new short codes come from.
//!
//! The default draws base62 characters from the thread-local CSPRNG with rejection sampling, so
//! every character is exactly uniform (a plain `byte % 62` would favour the first eight) and
//! codes cannot be predicted from earlier ones.

use rand::Rng;

use super::ShortCode;

/// The base62 alphabet of generated codes.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Shortest configurable generated code (62^4 ≈ 14.8 million codes).
pub const MIN_GENERATED_LEN: usize = 4;
/// Longest configurable generated code.
pub const MAX_GENERATED_LEN: usize = 32;

/// A source of new short codes. Each call should return a code unlikely to exist; the service
/// still inserts with insert-if-absent and asks again on collision.
pub trait ShortCodeGen: Send + Sync + 'static {
    /// A fresh code.
    fn generate(&self) -> ShortCode;
}

/// Uniform random base62 codes of a fixed length from a CSPRNG.
#[derive(Debug, Clone)]
pub struct RandomCodeGen {
    length: usize,
}

impl RandomCodeGen {
    /// A generator of `length`-character codes.
    ///
    /// # Errors
    /// When `length` is outside [`MIN_GENERATED_LEN`]`..=`[`MAX_GENERATED_LEN`].
    pub fn new(length: usize) -> Result<Self, String> {
        if (MIN_GENERATED_LEN..=MAX_GENERATED_LEN).contains(&length) {
            Ok(Self { length })
        } else {
            Err(format!(
                "code length must be between {MIN_GENERATED_LEN} and {MAX_GENERATED_LEN}, got {length}"
            ))
        }
    }

    /// The length of the codes this generator makes.
    pub fn length(&self) -> usize {
        self.length
    }
}

/// 248 = 4 × 62: bytes at or above it are discarded so that `b % 62` is uniform.
const REJECT_FROM: u8 = 248;

/// `len` uniformly random base62 characters from the thread-local CSPRNG (seeded from the
/// operating system), by rejection sampling: codes, API keys, session and invite tokens, ids.
#[allow(clippy::disallowed_methods)] // the one sanctioned source of randomness
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(len);
    // 2x over-draw: a byte is rejected with probability 8/256, so one fill almost always
    // suffices.
    let mut buf = [0u8; 2 * MAX_GENERATED_LEN];
    while out.len() < len {
        rng.fill_bytes(&mut buf);
        for &b in buf.iter().filter(|&&b| b < REJECT_FROM) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    out
}

impl ShortCodeGen for RandomCodeGen {
    fn generate(&self) -> ShortCode {
        ShortCode::parse(&random_base62(self.length))
            .expect("base62 codes of 4..=32 characters are valid short codes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn codes_have_the_configured_length_and_alphabet() {
        let generator = RandomCodeGen::new(8).unwrap();
        for _ in 0..1_000 {
            let code = generator.generate();
            assert_eq!(code.as_str().len(), 8);
            assert!(code.as_str().bytes().all(|b| BASE62.contains(&b)));
        }
    }

    #[test]
    fn lengths_outside_the_bounds_are_refused() {
        assert!(RandomCodeGen::new(3).is_err());
        assert!(RandomCodeGen::new(33).is_err());
    }

    #[test]
    fn ten_thousand_codes_do_not_repeat() {
        let generator = RandomCodeGen::new(8).unwrap();
        let codes: HashSet<_> = (0..10_000).map(|_| generator.generate()).collect();
        assert_eq!(codes.len(), 10_000);
    }

    #[test]
    fn every_character_is_drawn_about_equally_often() {
        // 124,000 draws, ~2,000 per character (σ ≈ 44). A plain `byte % 62` would draw the
        // first eight characters 5/256 of the time instead of 1/62: 21% above the mean. The
        // bounds sit far outside the noise (per character 15% ≈ 6.7σ, the first eight together
        // 10% ≈ 12σ), so the test never flakes yet catches that bias.
        let generator = RandomCodeGen::new(31).unwrap();
        let mut counts = [0u32; 62];
        for _ in 0..4_000 {
            for b in generator.generate().as_str().bytes() {
                counts[BASE62.iter().position(|&c| c == b).unwrap()] += 1;
            }
        }
        let expected = 4_000.0 * 31.0 / 62.0;
        for (i, &n) in counts.iter().enumerate() {
            let deviation = (f64::from(n) - expected).abs() / expected;
            assert!(
                deviation < 0.15,
                "character {i} drawn {n} times, expected ~{expected}"
            );
        }
        let first_eight: u32 = counts[..8].iter().sum();
        let deviation = (f64::from(first_eight) - 8.0 * expected).abs() / (8.0 * expected);
        assert!(
            deviation < 0.10,
            "the first eight characters were drawn {first_eight} times, expected ~{}",
            8.0 * expected
        );
    }

    proptest! {
        #[test]
        fn any_valid_length_gives_a_parseable_code(len in MIN_GENERATED_LEN..=MAX_GENERATED_LEN) {
            let code = RandomCodeGen::new(len).unwrap().generate();
            prop_assert_eq!(code.as_str().len(), len);
        }
    }
}
