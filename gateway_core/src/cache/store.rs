//! Where entries live: a slab of slots addressed by `u32`, an index from key hash to slot, and two
//! intrusive queues (doubly linked through the slots) that the eviction policies move slots along.
//!
//! The index maps a 64-bit key hash to the first slot with that hash; slots whose keys share a
//! hash (a true 64-bit collision: rare, but possible and maybe provoked) are chained through
//! `next_same_hash`. A lookup walks that chain comparing full key bytes, so it only ever returns
//! the slot of an equal key.
//!
//! Links are indexes, not pointers: no `unsafe`, and a slot's neighbours are found in the same
//! `Vec`. A freed slot's index goes to a free list and is reused by the next insert.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::entry::CachedResponse;

/// "No slot" in link fields.
const NONE: u32 = u32::MAX;

/// The two queues. LRU uses only `Main`; S3-FIFO admits into `Small` and promotes into `Main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueueId {
    Small = 0,
    Main = 1,
}

/// One cached response and its bookkeeping.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) key: Box<[u8]>,
    pub(super) hash: u64,
    pub(super) response: Arc<CachedResponse>,
    pub(super) inserted_at: u64,
    /// First microsecond at which the entry is no longer fresh.
    pub(super) expires_at: u64,
    /// Bytes charged against the capacity (see [`super::entry_size`]).
    pub(super) charged: usize,
    pub(super) queue: QueueId,
    /// S3-FIFO's access counter, 0 to 3 (unused by LRU).
    pub(super) freq: u8,
    /// Next slot whose key has the same hash, or [`NONE`].
    next_same_hash: u32,
    /// Neighbour towards the head (newer), or [`NONE`].
    newer: u32,
    /// Neighbour towards the tail (older), or [`NONE`].
    older: u32,
}

impl Slot {
    pub(super) fn new(
        key: Box<[u8]>,
        hash: u64,
        response: Arc<CachedResponse>,
        inserted_at: u64,
        expires_at: u64,
        charged: usize,
    ) -> Self {
        Self {
            key,
            hash,
            response,
            inserted_at,
            expires_at,
            charged,
            queue: QueueId::Main,
            freq: 0,
            next_same_hash: NONE,
            newer: NONE,
            older: NONE,
        }
    }
}

/// A queue's ends and totals. New slots enter at the head; the tail is the oldest.
#[derive(Debug, Clone, Copy)]
pub(super) struct Queue {
    head: u32,
    tail: u32,
    pub(super) len: usize,
    pub(super) bytes: usize,
}

impl Queue {
    const EMPTY: Self = Self { head: NONE, tail: NONE, len: 0, bytes: 0 };
}

#[derive(Debug)]
pub(super) struct Store {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: FxHashMap<u64, u32>,
    queues: [Queue; 2],
}

impl Store {
    pub(super) fn new() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), index: FxHashMap::default(), queues: [Queue::EMPTY; 2] }
    }

    /// The slot holding exactly `key`, if any.
    #[inline]
    pub(super) fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let mut at = *self.index.get(&hash)?;
        loop {
            let slot = self.get(at);
            if *slot.key == *key {
                return Some(at);
            }
            at = slot.next_same_hash;
            if at == NONE {
                return None;
            }
        }
    }

    #[inline]
    pub(super) fn get(&self, at: u32) -> &Slot {
        self.slots[at as usize].as_ref().expect("a linked slot is occupied")
    }

    #[inline]
    pub(super) fn get_mut(&mut self, at: u32) -> &mut Slot {
        self.slots[at as usize].as_mut().expect("a linked slot is occupied")
    }

    pub(super) fn queue(&self, queue: QueueId) -> &Queue {
        &self.queues[queue as usize]
    }

    /// The oldest slot of `queue`.
    pub(super) fn oldest(&self, queue: QueueId) -> Option<u32> {
        let tail = self.queue(queue).tail;
        (tail != NONE).then_some(tail)
    }

    /// Entries in both queues.
    pub(super) fn len(&self) -> usize {
        self.queues[0].len + self.queues[1].len
    }

    /// Bytes charged by all entries.
    pub(super) fn bytes(&self) -> usize {
        self.queues[0].bytes + self.queues[1].bytes
    }

    /// Stores `slot` (whose key must not be stored yet) at the head of `queue`.
    pub(super) fn insert(&mut self, mut slot: Slot, queue: QueueId) -> u32 {
        let at = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            u32::try_from(self.slots.len() - 1).ok().filter(|&at| at != NONE).expect("under 4 billion entries")
        });
        slot.next_same_hash = self.index.insert(slot.hash, at).unwrap_or(NONE);
        self.slots[at as usize] = Some(slot);
        self.push_head(at, queue);
        at
    }

    /// Takes slot `at` out of its queue, the index and the slab.
    pub(super) fn remove(&mut self, at: u32) -> Slot {
        self.unlink(at);
        let slot = self.slots[at as usize].take().expect("a linked slot is occupied");
        self.free.push(at);
        let head = self.index.get_mut(&slot.hash).expect("a stored hash is indexed");
        if *head == at {
            if slot.next_same_hash == NONE {
                self.index.remove(&slot.hash);
            } else {
                *head = slot.next_same_hash;
            }
        } else {
            let mut before = *head;
            loop {
                let next = self.get(before).next_same_hash;
                if next == at {
                    break;
                }
                before = next;
            }
            self.get_mut(before).next_same_hash = slot.next_same_hash;
        }
        slot
    }

    /// Moves slot `at` to the head of `queue` (from wherever it is, `queue` included).
    pub(super) fn move_to_head(&mut self, at: u32, queue: QueueId) {
        self.unlink(at);
        self.push_head(at, queue);
    }

    /// Drops every entry and frees the memory.
    pub(super) fn clear(&mut self) {
        *self = Self::new();
    }

    fn push_head(&mut self, at: u32, queue: QueueId) {
        let old_head = self.queues[queue as usize].head;
        let slot = self.get_mut(at);
        slot.queue = queue;
        slot.newer = NONE;
        slot.older = old_head;
        let charged = slot.charged;
        if old_head == NONE {
            self.queues[queue as usize].tail = at;
        } else {
            self.get_mut(old_head).newer = at;
        }
        let totals = &mut self.queues[queue as usize];
        totals.head = at;
        totals.len += 1;
        totals.bytes += charged;
    }

    fn unlink(&mut self, at: u32) {
        let Slot { newer, older, queue, charged, .. } = *self.get(at);
        if newer == NONE {
            self.queues[queue as usize].head = older;
        } else {
            self.get_mut(newer).older = older;
        }
        if older == NONE {
            self.queues[queue as usize].tail = newer;
        } else {
            self.get_mut(older).newer = newer;
        }
        let totals = &mut self.queues[queue as usize];
        totals.len -= 1;
        totals.bytes -= charged;
    }
}
