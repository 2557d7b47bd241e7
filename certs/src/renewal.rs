//! When to renew a certificate.

/// Unix second at which a certificate valid from `not_before` to `not_after` is due: two thirds
/// through its lifetime (Let's Encrypt's own advice; 60 of 90 days).
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    not_before.saturating_add(lifetime / 3 * 2 + (lifetime % 3) * 2 / 3)
}

/// True once `now` (unix seconds) has passed two thirds of the certificate's lifetime.
pub fn due(not_before: i64, not_after: i64, now: i64) -> bool {
    now >= renew_at(not_before, not_after)
}

/// True when the CA's ACME Renewal Info window (unix seconds, `start..end`) says to renew now.
/// RFC 9773 asks for a random point inside the window; `pick` in `[0, 1)` chooses it so callers
/// can keep one stable choice per certificate.
pub fn due_in_window(start: i64, end: i64, pick: f64, now: i64) -> bool {
    let span = end.saturating_sub(start).max(0) as f64;
    let at = start.saturating_add((span * pick.clamp(0.0, 1.0)) as i64);
    now >= at
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn ninety_day_certificate_is_due_after_sixty_days() {
        let nb = 1_700_000_000;
        let na = nb + 90 * DAY;
        assert_eq!(renew_at(nb, na), nb + 60 * DAY);
        assert!(!due(nb, na, nb));
        assert!(!due(nb, na, nb + 60 * DAY - 1));
        assert!(due(nb, na, nb + 60 * DAY));
        assert!(due(nb, na, na + DAY), "expired is due");
    }

    #[test]
    fn odd_lifetimes_and_bad_input() {
        assert_eq!(renew_at(0, 10), 6);
        assert_eq!(renew_at(0, 3), 2);
        // A certificate whose end precedes its start is due at once.
        assert!(due(100, 50, 100));
        assert!(!due(i64::MAX - 10, i64::MAX, 0));
    }

    #[test]
    fn renewal_info_window() {
        assert!(!due_in_window(100, 200, 0.5, 149));
        assert!(due_in_window(100, 200, 0.5, 150));
        assert!(due_in_window(100, 200, 7.0, 200), "pick clamps to the end");
        assert!(due_in_window(100, 50, 0.5, 100), "empty window means start");
    }
}
