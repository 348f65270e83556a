//! Owns WireGuard's protocol limits (wireguard-go's `constants.go`): message and time limits of
//! a session, handshake retry timing, keepalive, and the replay window size. The binding exports
//! them to TypeScript (times in milliseconds). Must not hold logic or depend on other modules.

use std::time::Duration;

/// Sent messages after which the session's owner starts a new handshake.
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
/// Sent messages after which a session refuses to seal (2^64 - 2^13 - 1): counters never wrap.
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);
/// Age at which the initiator of a session starts a new handshake.
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
/// Age at which a session refuses to seal and open.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
/// How long an unanswered initiation waits before it is resent.
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound of the random jitter added to REKEY_TIMEOUT (0..=333 ms).
pub const REKEY_TIMEOUT_JITTER_MAX: Duration = Duration::from_millis(333);
/// How long a handshake attempt is retried before it is abandoned.
pub const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);
/// A peer that received data and sent nothing for this long sends a keepalive.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Age at which a cookie secret is replaced (reserved: nothing sends cookies yet).
pub const COOKIE_REFRESH_TIME: Duration = Duration::from_secs(120);

/// Bits in the replay bitmap ring (RFC 6479): 64 words of 64 bits.
pub const REPLAY_RING_BITS: u64 = 4096;
/// Counters this far behind the newest one are still accepted (one word is kept as slack).
pub const REPLAY_WINDOW_SIZE: u64 = REPLAY_RING_BITS - 64;

// The relations the rest of the code relies on, checked at compile time.
const _: () = {
    assert!(REKEY_AFTER_MESSAGES < REJECT_AFTER_MESSAGES);
    assert!(REKEY_AFTER_TIME.as_millis() < REJECT_AFTER_TIME.as_millis());
    // A responder keeps a session until the initiator's rekey had time to finish.
    assert!(
        REKEY_AFTER_TIME.as_millis() + KEEPALIVE_TIMEOUT.as_millis() + REKEY_TIMEOUT.as_millis()
            < REJECT_AFTER_TIME.as_millis()
    );
    assert!(REPLAY_RING_BITS.is_power_of_two() && REPLAY_RING_BITS >= 128);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_values() {
        assert_eq!(
            u128::from(REJECT_AFTER_MESSAGES),
            (1u128 << 64) - (1 << 13) - 1
        );
        assert_eq!(REKEY_AFTER_MESSAGES, 1 << 60);
        assert_eq!(
            [
                REKEY_AFTER_TIME,
                REJECT_AFTER_TIME,
                REKEY_TIMEOUT,
                REKEY_ATTEMPT_TIME,
                KEEPALIVE_TIMEOUT
            ]
            .map(|d| d.as_secs()),
            [120, 180, 5, 90, 10]
        );
        assert_eq!(REPLAY_WINDOW_SIZE, 4032);
    }
}
