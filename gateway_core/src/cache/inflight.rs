//! Single flight: which keys have a fetch in progress, so that a burst of misses for one key sends
//! one request upstream instead of one per miss.
//!
//! The first miss [`begin`](InFlight::begin)s and is told to lead (with a token); later misses for
//! the same key are told to follow, and wait (in Python) for the leader's result. The leader ends
//! the flight with [`complete`](InFlight::complete) after inserting the response, or
//! [`fail`](InFlight::fail) when the fetch failed; followers then retry, and the first of them
//! leads a new fetch. A leader that never reports (a cancelled task) must not block the key for
//! ever: its flight lapses after the lease given to [`InFlight::new`], and the next miss takes
//! over with a new token. The old leader's late report is then ignored: tokens do not match.

use std::time::Duration;

use rustc_hash::FxHashMap;

use super::key::CacheKey;

/// Proof of leadership for one flight; pass it back to [`InFlight::complete`] or
/// [`InFlight::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlightToken(u64);

/// What [`InFlight::begin`] tells a miss to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flight {
    /// No fetch in progress: this caller fetches, then reports with the token.
    Lead(FlightToken),
    /// A fetch is in progress: wait for it (or serve a stale entry).
    Follow,
}

#[derive(Debug)]
struct Fetch {
    token: FlightToken,
    started_at: u64,
}

/// The keys with a fetch in progress. Times are microseconds on the cache's clock.
#[derive(Debug)]
pub struct InFlight {
    fetches: FxHashMap<CacheKey, Fetch>,
    lease_micros: u64,
    next_token: u64,
    /// Sweep lapsed flights when the map reaches this size (doubles with the live count).
    sweep_at: usize,
}

/// Below this many flights, lapsed ones are only replaced, not swept.
const MIN_SWEEP_AT: usize = 64;

impl InFlight {
    /// Tracks flights that lapse `lease` after they begin (e.g. the integration timeout plus a
    /// margin).
    pub fn new(lease: Duration) -> Self {
        Self {
            fetches: FxHashMap::default(),
            lease_micros: u64::try_from(lease.as_micros()).unwrap_or(u64::MAX),
            next_token: 0,
            sweep_at: MIN_SWEEP_AT,
        }
    }

    /// Starts a fetch of `key`, or joins the one in progress.
    pub fn begin(&mut self, key: &CacheKey, now: u64) -> Flight {
        if let Some(fetch) = self.fetches.get_mut(key) {
            if now < fetch.started_at.saturating_add(self.lease_micros) {
                return Flight::Follow;
            }
            // The leader lapsed: this caller takes over.
            self.next_token += 1;
            *fetch = Fetch { token: FlightToken(self.next_token), started_at: now };
            return Flight::Lead(fetch.token);
        }
        if self.fetches.len() >= self.sweep_at {
            self.sweep(now);
            self.sweep_at = (self.fetches.len() * 2).max(MIN_SWEEP_AT);
        }
        self.next_token += 1;
        let token = FlightToken(self.next_token);
        self.fetches.insert(key.clone(), Fetch { token, started_at: now });
        Flight::Lead(token)
    }

    /// The leader fetched (and cached) the response: the flight ends. `false` when `token` no
    /// longer leads this key (the flight lapsed and another caller took over); nothing changes then.
    pub fn complete(&mut self, key: &CacheKey, token: FlightToken) -> bool {
        self.end(key, token)
    }

    /// The leader's fetch failed: the flight ends and the next miss leads a new one. `false`, and
    /// no change, when `token` no longer leads this key.
    pub fn fail(&mut self, key: &CacheKey, token: FlightToken) -> bool {
        self.end(key, token)
    }

    /// Whether a fetch of `key` is in progress (begun and not lapsed).
    pub fn is_in_flight(&self, key: &CacheKey, now: u64) -> bool {
        self.fetches.get(key).is_some_and(|fetch| now < fetch.started_at.saturating_add(self.lease_micros))
    }

    /// Flights tracked, lapsed ones not yet swept included.
    pub fn len(&self) -> usize {
        self.fetches.len()
    }

    /// No flight tracked.
    pub fn is_empty(&self) -> bool {
        self.fetches.is_empty()
    }

    /// Forgets flights whose lease has run out.
    pub fn sweep(&mut self, now: u64) {
        let lease = self.lease_micros;
        self.fetches.retain(|_, fetch| now < fetch.started_at.saturating_add(lease));
    }

    fn end(&mut self, key: &CacheKey, token: FlightToken) -> bool {
        match self.fetches.get(key) {
            Some(fetch) if fetch.token == token => {
                self.fetches.remove(key);
                true
            }
            _ => false,
        }
    }
}
