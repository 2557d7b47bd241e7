//! RFC 3339 UTC timestamps with milliseconds, formatted into a stack buffer (no allocation).

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) const LEN: usize = 24;

/// Formats `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC); times before 1970 clamp to the epoch.
pub(crate) fn format(time: SystemTime, buf: &mut [u8; LEN]) -> &str {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let year = year.clamp(0, 9999) as u64;
    put(&mut buf[0..4], year);
    buf[4] = b'-';
    put(&mut buf[5..7], month);
    buf[7] = b'-';
    put(&mut buf[8..10], day);
    buf[10] = b'T';
    put(&mut buf[11..13], h);
    buf[13] = b':';
    put(&mut buf[14..16], m);
    buf[16] = b':';
    put(&mut buf[17..19], s);
    buf[19] = b'.';
    put(&mut buf[20..23], u64::from(millis));
    buf[23] = b'Z';
    // Only ASCII digits and separators were written.
    std::str::from_utf8(buf).unwrap_or("1970-01-01T00:00:00.000Z")
}

/// Writes `n` as zero-padded decimal filling `out`.
fn put(out: &mut [u8], mut n: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> String {
        let mut buf = [0u8; LEN];
        format(
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis),
            &mut buf,
        )
        .to_owned()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
        // Leap day and end of a leap year.
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_735_689_599, 999), "2024-12-31T23:59:59.999Z");
    }
}
