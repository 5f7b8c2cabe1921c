//! Request ids in AWS's shapes, cheaply: a random per-process prefix (seeded by the caller, once per
//! worker process) and an atomic counter. REST sends a UUID (`x-amzn-RequestId`) and a short id ending
//! in `=` (`x-amz-apigw-id`); HTTP APIs send the short one as `apigw-requestid`.
//!
//! Ids are written into fixed arrays with a digit table (no formatting machinery, no allocation): they are
//! made for every request, cache hits included.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct RequestIds {
    /// `xxxxxxxx-xxxx-4xxx-yxxx-`: the UUID's random part; the counter fills the last 12 digits.
    uuid_prefix: [u8; UUID_PREFIX_LEN],
    /// Seven random letters and digits; the counter fills 8 more, then `=`.
    short_prefix: [u8; SHORT_PREFIX_LEN],
    count: AtomicU64,
}

/// One request's ids, as ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    request_id: [u8; REQUEST_ID_LEN],
    extended_id: [u8; EXTENDED_ID_LEN],
}

impl Ids {
    /// The UUID (`$context.requestId`).
    pub fn request_id(&self) -> &str {
        std::str::from_utf8(&self.request_id).unwrap_or_default()
    }

    /// The short id ending in `=` (`$context.extendedRequestId`).
    pub fn extended_id(&self) -> &str {
        std::str::from_utf8(&self.extended_id).unwrap_or_default()
    }
}

pub const REQUEST_ID_LEN: usize = 36;
pub const EXTENDED_ID_LEN: usize = 16;
const UUID_PREFIX_LEN: usize = 24;
const SHORT_PREFIX_LEN: usize = 7;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `value`'s lowest hex digits, as many as `out` holds, most significant first.
fn write_hex(out: &mut [u8], mut value: u64, digits: &[u8; 16]) {
    for slot in out.iter_mut().rev() {
        *slot = digits[(value & 15) as usize];
        value >>= 4;
    }
}

impl RequestIds {
    /// `seed`: at least 16 random bytes.
    pub fn new(seed: &[u8]) -> Self {
        let byte = |i: usize| u64::from(seed.get(i).copied().unwrap_or(0));
        let mut uuid_prefix = *b"00000000-0000-4000-8000-";
        write_hex(&mut uuid_prefix[0..8], byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3), LOWER_HEX);
        write_hex(&mut uuid_prefix[9..13], byte(4) << 8 | byte(5), LOWER_HEX);
        write_hex(&mut uuid_prefix[15..18], (byte(6) & 15) << 8 | byte(7), LOWER_HEX); // after the version 4
                                                                                       // RFC 4122 variant: the first hex digit of the fourth group is 8, 9, a or b.
        write_hex(&mut uuid_prefix[19..23], (8 + (byte(8) & 3)) << 12 | (byte(9) & 15) << 8 | byte(10), LOWER_HEX);
        let mut short_prefix = [0; SHORT_PREFIX_LEN];
        for (i, slot) in short_prefix.iter_mut().enumerate() {
            *slot = ALPHABET[(byte(11 + i) % 62) as usize];
        }
        let start = byte(0) << 12 | byte(1) << 4;
        Self { uuid_prefix, short_prefix, count: AtomicU64::new(start) }
    }

    /// The ids of one request.
    pub fn next_ids(&self) -> Ids {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut request_id = [0; REQUEST_ID_LEN];
        request_id[..UUID_PREFIX_LEN].copy_from_slice(&self.uuid_prefix);
        write_hex(&mut request_id[UUID_PREFIX_LEN..], count, LOWER_HEX);
        let mut extended_id = [b'='; EXTENDED_ID_LEN];
        extended_id[..SHORT_PREFIX_LEN].copy_from_slice(&self.short_prefix);
        write_hex(&mut extended_id[SHORT_PREFIX_LEN..EXTENDED_ID_LEN - 1], count, UPPER_HEX);
        Ids { request_id, extended_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_unique() {
        let ids = RequestIds::new(&[0xAB; 16]);
        let (first, second) = (ids.next_ids(), ids.next_ids());
        let (a, short_a) = (first.request_id(), first.extended_id());
        let (b, short_b) = (second.request_id(), second.extended_id());
        assert_ne!(a, b);
        assert_ne!(short_a, short_b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(groups[2].starts_with('4'));
        assert!("89ab".contains(&groups[3][..1]));
        assert!(a.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(short_a.len(), 16);
        assert!(short_a.ends_with('='));
        assert!(short_a[..15].bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn the_seed_and_the_counter_fill_their_places() {
        let seed: Vec<u8> = (1..=18).collect();
        let ids = RequestIds::new(&seed);
        // count starts at byte(0) << 12 | byte(1) << 4 = 0x1020, and the first id takes the next one.
        let first = ids.next_ids();
        assert_eq!(first.request_id(), "01020304-0506-4708-9a0b-000000001021");
        assert_eq!(first.extended_id(), "MNOPQRS00001021=");
        assert_eq!(ids.next_ids().request_id(), "01020304-0506-4708-9a0b-000000001022");
    }
}
