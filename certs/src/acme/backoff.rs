//! Exponential backoff with bounded jitter, for polling and for retrying failed issuance.

use std::time::Duration;

/// Doubling delays from `initial` up to `max`, each shortened by a random fraction of at most
/// `jitter` so that many retries do not line up. With `jitter < 0.5` every delay before the cap
/// is strictly longer than the one before.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    current: Duration,
    attempts: u32,
}

impl Backoff {
    /// Start at `initial`, never exceed `max`; jitter defaults to 0.2.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Self {
            initial,
            max,
            jitter: 0.2,
            current: initial,
            attempts: 0,
        }
    }

    /// Set the jitter fraction (clamped to `0.0..=0.49`).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 0.49);
        self
    }

    /// The delay to wait now; the next one will be twice as long (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = self.current.saturating_mul(2).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        base.mul_f64(1.0 - self.jitter * fastrand::f64())
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Back to `initial` (after a success).
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_strictly_until_the_cap_and_stays_within_bounds() {
        for _ in 0..200 {
            let mut b = Backoff::new(ms(100), ms(3_000)).with_jitter(0.3);
            let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
            let bases = [100, 200, 400, 800, 1600, 3000, 3000, 3000, 3000, 3000];
            for (d, base) in delays.iter().zip(bases) {
                assert!(*d <= ms(base), "{d:?} above base {base}");
                assert!(
                    *d >= ms(base).mul_f64(0.7),
                    "{d:?} below jitter floor of {base}"
                );
            }
            for pair in delays[..5].windows(2) {
                assert!(pair[1] > pair[0], "not growing: {delays:?}");
            }
            assert_eq!(b.attempts(), 10);
        }
    }

    #[test]
    fn jitter_varies_and_reset_restarts() {
        let mut b = Backoff::new(ms(1_000), ms(60_000));
        let firsts: Vec<Duration> = (0..20)
            .map(|_| {
                b.reset();
                b.next_delay()
            })
            .collect();
        assert!(firsts.iter().all(|d| *d <= ms(1_000) && *d >= ms(800)));
        assert!(
            firsts.windows(2).any(|w| w[0] != w[1]),
            "jitter never varied: {firsts:?}"
        );
        b.reset();
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn zero_jitter_is_exact_and_initial_is_capped() {
        let mut b = Backoff::new(ms(10), ms(35)).with_jitter(0.0);
        let got: Vec<Duration> = (0..4).map(|_| b.next_delay()).collect();
        assert_eq!(got, vec![ms(10), ms(20), ms(35), ms(35)]);
        let mut capped = Backoff::new(ms(500), ms(100)).with_jitter(0.0);
        assert_eq!(capped.next_delay(), ms(100));
    }
}
