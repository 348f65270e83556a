//! Owns the ChaCha20-Poly1305 abstraction used by sessions: in-place seal/open, keyed once
//! per session, nonce = 4 zero bytes || counter LE. Implementations: ring, RustCrypto, and
//! (feature `aws-lc`) aws-lc-rs. Must not pick keys, counters or nonces itself.

use crate::frame::{nonce_bytes, TAG_LEN};

/// Tag verification failed (or the ciphertext is shorter than a tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthError;

/// ChaCha20-Poly1305 keyed once per session direction.
pub trait Aead: Send + Sync + Sized + 'static {
    /// Short name used in benchmarks and reports.
    const NAME: &'static str;
    /// Key the cipher (32-byte key).
    fn new(key: &[u8; 32]) -> Self;
    /// Encrypt `data` in place and return the 16-byte tag.
    fn seal_in_place(&self, counter: u64, aad: &[u8], data: &mut [u8]) -> [u8; TAG_LEN];
    /// Decrypt `ct_and_tag` (ciphertext followed by the 16-byte tag) in place.
    /// On success returns the plaintext length (`ct_and_tag.len() - 16`).
    fn open_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        ct_and_tag: &mut [u8],
    ) -> Result<usize, AuthError>;
}

/// The hot-path default, chosen by `cargo bench -p ringvpn-core --bench aead` (see README).
pub type DefaultAead = RingAead;

/// Implements `Aead` for a crate with ring's AEAD API (`LessSafeKey`, in-place seal/open);
/// ring and aws-lc-rs share it.
macro_rules! ring_api_aead {
    ($(#[$meta:meta])* $name:ident, $krate:ident, $label:literal) => {
        $(#[$meta])*
        pub struct $name($krate::aead::LessSafeKey);

        $(#[$meta])*
        impl Aead for $name {
            const NAME: &'static str = $label;

            fn new(key: &[u8; 32]) -> Self {
                use $krate::aead::{LessSafeKey, UnboundKey, CHACHA20_POLY1305};
                // A 32-byte key is always valid for ChaCha20-Poly1305; only a wrong length fails.
                match UnboundKey::new(&CHACHA20_POLY1305, key) {
                    Ok(k) => $name(LessSafeKey::new(k)),
                    Err(_) => unreachable!("ChaCha20-Poly1305 takes any 32-byte key"),
                }
            }

            #[inline]
            fn seal_in_place(&self, counter: u64, aad: &[u8], data: &mut [u8]) -> [u8; TAG_LEN] {
                use $krate::aead::{Aad, Nonce};
                let nonce = Nonce::assume_unique_for_key(nonce_bytes(counter));
                let mut out = [0u8; TAG_LEN];
                // Sealing only fails when the input exceeds the cipher's maximum (256 GiB).
                if let Ok(tag) = self
                    .0
                    .seal_in_place_separate_tag(nonce, Aad::from(aad), data)
                {
                    out.copy_from_slice(tag.as_ref());
                }
                out
            }

            #[inline]
            fn open_in_place(
                &self,
                counter: u64,
                aad: &[u8],
                ct_and_tag: &mut [u8],
            ) -> Result<usize, AuthError> {
                use $krate::aead::{Aad, Nonce};
                let nonce = Nonce::assume_unique_for_key(nonce_bytes(counter));
                self.0
                    .open_in_place(nonce, Aad::from(aad), ct_and_tag)
                    .map(|p| p.len())
                    .map_err(|_| AuthError)
            }
        }
    };
}

ring_api_aead!(
    /// ring 0.17 `LessSafeKey`.
    RingAead, ring, "ring"
);

/// RustCrypto `chacha20poly1305` 0.10.
pub struct RustCryptoAead(chacha20poly1305::ChaCha20Poly1305);

impl Aead for RustCryptoAead {
    const NAME: &'static str = "rustcrypto";

    fn new(key: &[u8; 32]) -> Self {
        use chacha20poly1305::{Key, KeyInit};
        RustCryptoAead(chacha20poly1305::ChaCha20Poly1305::new(Key::from_slice(
            key,
        )))
    }

    #[inline]
    fn seal_in_place(&self, counter: u64, aad: &[u8], data: &mut [u8]) -> [u8; TAG_LEN] {
        use chacha20poly1305::{AeadInPlace, Nonce};
        let n = nonce_bytes(counter);
        let mut out = [0u8; TAG_LEN];
        if let Ok(tag) = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(&n), aad, data)
        {
            out.copy_from_slice(&tag);
        }
        out
    }

    #[inline]
    fn open_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        ct_and_tag: &mut [u8],
    ) -> Result<usize, AuthError> {
        use chacha20poly1305::{AeadInPlace, Nonce, Tag};
        let Some(ct_len) = ct_and_tag.len().checked_sub(TAG_LEN) else {
            return Err(AuthError);
        };
        let (ct, tag) = ct_and_tag.split_at_mut(ct_len);
        let n = nonce_bytes(counter);
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(&n), aad, ct, Tag::from_slice(tag))
            .map(|()| ct_len)
            .map_err(|_| AuthError)
    }
}

ring_api_aead!(
    /// aws-lc-rs `LessSafeKey` (feature `aws-lc`).
    #[cfg(feature = "aws-lc")]
    AwsLcAead, aws_lc_rs, "aws-lc-rs"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<A: Aead>() {
        let a = A::new(&[7u8; 32]);
        let mut buf = b"hello ringvpn".to_vec();
        let tag = a.seal_in_place(5, b"hdr", &mut buf);
        assert_ne!(&buf[..], b"hello ringvpn");
        buf.extend_from_slice(&tag);
        let mut bad = buf.clone();
        assert_eq!(a.open_in_place(5, b"hdr", &mut buf), Ok(13));
        assert_eq!(&buf[..13], b"hello ringvpn");
        assert_eq!(a.open_in_place(6, b"hdr", &mut bad.clone()), Err(AuthError));
        assert_eq!(a.open_in_place(5, b"hdX", &mut bad.clone()), Err(AuthError));
        assert_eq!(a.open_in_place(5, b"hdr", &mut bad[..10]), Err(AuthError));
        assert_eq!(a.open_in_place(5, b"hdr", &mut []), Err(AuthError));
    }

    #[test]
    fn ring_round_trip() {
        round_trip::<RingAead>();
    }

    #[test]
    fn rustcrypto_round_trip() {
        round_trip::<RustCryptoAead>();
    }

    #[cfg(feature = "aws-lc")]
    #[test]
    fn awslc_round_trip() {
        round_trip::<AwsLcAead>();
    }

    #[test]
    fn implementations_agree() {
        let key = [0x5au8; 32];
        let (r, c) = (RingAead::new(&key), RustCryptoAead::new(&key));
        for len in [0usize, 1, 63, 64, 65, 1400] {
            let mut a: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut b = a.clone();
            let ta = r.seal_in_place(99, b"aad", &mut a);
            let tb = c.seal_in_place(99, b"aad", &mut b);
            assert_eq!((a.clone(), ta), (b, tb), "len {len}");
            a.extend_from_slice(&ta);
            assert_eq!(c.open_in_place(99, b"aad", &mut a), Ok(len));
        }
    }
}
