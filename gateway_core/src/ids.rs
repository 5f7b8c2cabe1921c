//! Request ids in AWS's shapes, cheaply: a random per-process prefix (seeded by the caller, once per
//! worker process) and an atomic counter. REST sends a UUID (`x-amzn-RequestId`) and a short id ending
//! in `=` (`x-amz-apigw-id`); HTTP APIs send the short one as `apigw-requestid`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct RequestIds {
    uuid_prefix: String,
    short_prefix: String,
    count: AtomicU64,
}

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl RequestIds {
    /// `seed`: at least 16 random bytes.
    pub fn new(seed: &[u8]) -> Self {
        let byte = |i: usize| seed.get(i).copied().unwrap_or(0);
        let mut uuid_prefix = String::with_capacity(24);
        for i in 0..4 {
            let _ = write!(uuid_prefix, "{:02x}", byte(i));
        }
        let _ = write!(uuid_prefix, "-{:02x}{:02x}-4{:x}{:02x}-", byte(4), byte(5), byte(6) & 15, byte(7));
        // RFC 4122 variant: the first hex digit of the fourth group is 8, 9, a or b.
        let _ = write!(uuid_prefix, "{:x}{:x}{:02x}-", 8 + (byte(8) & 3), byte(9) & 15, byte(10));
        let short_prefix = (11..18).map(|i| char::from(ALPHABET[usize::from(byte(i)) % 62])).collect();
        let start = u64::from(byte(0)) << 12 | u64::from(byte(1)) << 4;
        Self { uuid_prefix, short_prefix, count: AtomicU64::new(start) }
    }

    /// `(request id, extended request id)` for one request.
    pub fn next(&self) -> (String, String) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut id = String::with_capacity(36);
        id.push_str(&self.uuid_prefix);
        let _ = write!(id, "{:012x}", count & 0xFFFF_FFFF_FFFF);
        let mut short = String::with_capacity(16);
        short.push_str(&self.short_prefix);
        let _ = write!(short, "{:08X}=", count & 0xFFFF_FFFF);
        (id, short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_unique() {
        let ids = RequestIds::new(&[0xAB; 16]);
        let (a, short_a) = ids.next();
        let (b, short_b) = ids.next();
        assert_ne!(a, b);
        assert_ne!(short_a, short_b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(groups[2].starts_with('4'));
        assert!("89ab".contains(&groups[3][..1]));
        assert_eq!(short_a.len(), 16);
        assert!(short_a.ends_with('='));
    }
}
