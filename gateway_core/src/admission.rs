//! Admission of a routed request: the API key check and the throttle levels, in AWS's order (reference §6).
//!
//! 1. A route that requires an API key (`apiKeyRequired`, from the definition's `api_key` security) takes
//!    the `x-api-key` header. Its SHA-256 is looked up in the stage's [`KeyTable`], which holds only the
//!    keys that are enabled *and* in a usage plan covering this stage: a key that is missing, unknown,
//!    disabled or not in such a plan gets the same `403 Forbidden` (`INVALID_API_KEY`), as on AWS.
//! 2. The throttle levels, each a token bucket in the node's shared [`Throttle`]:
//!    usage plan per key and method, usage plan per key, the stage's limit for the route, the
//!    gateway-wide limit. Usage-plan buckets are keyed by plan and key, not by stage: AWS applies a plan's
//!    limits per key across all the stages of the plan. AWS applies a stage's default limit to each
//!    method separately, so the stage level is one bucket per route, with the route's method setting or
//!    else the stage default.
//!
//! With a shared store (Redis) the throttle is [`ThrottleMode::Deferred`]: the engine still checks the key
//! but hands the levels back to the caller, which takes tokens from the shared buckets (and falls back to
//! [`Admission::throttle_locally`] when the store is down and the policy is to fail open).

use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::spec::RouteId;
use crate::throttle::{Clock, Limit, MonotonicClock, Throttle};

/// A key's SHA-256.
pub type KeyHash = [u8; 32];

/// What an admitted API key brings: who it is and its usage plan's limits for this stage.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPlan {
    /// The key's number in the node (for bucket keys, and for Python to find the key's id and quota).
    pub key_slot: u64,
    /// The usage plan's number in the node.
    pub plan_slot: u64,
    /// The plan's throttle (`throttle {rateLimit, burstLimit}`), per key.
    pub throttle: Option<Limit>,
    /// The plan's per-method throttles for this stage (`apiStages[].throttle`), by route.
    pub method_limits: Vec<(RouteId, Limit)>,
}

/// The keys a stage accepts: enabled, and in a usage plan that covers the stage.
#[derive(Debug, Default)]
pub struct KeyTable {
    by_hash: FxHashMap<KeyHash, KeyPlan>,
}

impl KeyTable {
    pub fn new(entries: impl IntoIterator<Item = (KeyHash, KeyPlan)>) -> Self {
        Self { by_hash: entries.into_iter().collect() }
    }

    /// The plan of the key whose value is `value`, if the stage accepts it.
    pub fn find(&self, value: &str) -> Option<&KeyPlan> {
        if self.by_hash.is_empty() {
            return None;
        }
        let hash: KeyHash = Sha256::digest(value.as_bytes()).into();
        self.by_hash.get(&hash)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// Where the throttle levels are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleMode {
    /// In the node's shared buckets, inside [`Admission::admit`].
    Local,
    /// By the caller, in a store shared by nodes: `admit` returns the levels.
    Deferred,
    /// Not at all.
    Off,
}

/// The admission settings of one stage.
#[derive(Debug, Clone)]
pub struct AdmissionSpec {
    /// Distinguishes this stage's buckets from other stages' in the node's table.
    pub stage_id: u64,
    /// The gateway-wide limit (AWS's account level), one bucket for the whole node.
    pub gateway_limit: Option<Limit>,
    /// Per route: the stage's limit (its method setting, or the stage default), one bucket per route.
    pub route_limits: Vec<Option<Limit>>,
    /// Per route: whether the route requires an API key.
    pub api_key_required: Vec<bool>,
}

/// A key that passed the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmittedKey {
    pub key_slot: u64,
    pub plan_slot: u64,
}

/// The outcome of [`Admission::admit`].
#[derive(Debug, Clone, PartialEq)]
pub enum Admit {
    /// Go on. `deferred` holds the throttle levels when the caller checks them ([`ThrottleMode::Deferred`]).
    Admitted { key: Option<AdmittedKey>, deferred: Vec<(u64, Limit)> },
    /// `403 Forbidden`: the route requires a key and this one is missing, unknown, disabled or not in a plan.
    InvalidApiKey,
    /// `429 Too Many Requests` at this level (0 = the first level checked).
    Throttled,
}

/// Bucket kinds, mixed into bucket keys so that levels never share a bucket.
const LEVEL_PLAN_METHOD: u64 = 1;
const LEVEL_PLAN: u64 = 2;
const LEVEL_STAGE_ROUTE: u64 = 3;
const LEVEL_GATEWAY: u64 = 4;

/// The key and throttle checks of one stage.
#[derive(Debug)]
pub struct Admission {
    spec: AdmissionSpec,
    throttle: Option<Arc<Throttle>>,
    mode: ThrottleMode,
    keys: RwLock<Arc<KeyTable>>,
}

impl Admission {
    pub fn new(spec: AdmissionSpec, throttle: Option<Arc<Throttle>>, mode: ThrottleMode) -> Self {
        let mode = if throttle.is_none() && mode == ThrottleMode::Local { ThrottleMode::Off } else { mode };
        Self { spec, throttle, mode, keys: RwLock::new(Arc::new(KeyTable::default())) }
    }

    /// Replaces the accepted keys (a key created, disabled or moved to another plan takes effect at once).
    pub fn set_keys(&self, keys: KeyTable) {
        *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
    }

    pub fn key_count(&self) -> usize {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether any route of the stage has something to check (the engine skips the call otherwise).
    pub fn is_active(&self) -> bool {
        self.mode != ThrottleMode::Off || self.spec.api_key_required.iter().any(|&required| required)
    }

    /// Checks the key (when the route requires one) and the throttle levels of one request.
    pub fn admit(&self, route: RouteId, api_key: Option<&str>) -> Admit {
        let index = route as usize;
        let mut levels: [(u64, Limit); 4] = [(0, Limit::new(0.0, 0)); 4];
        let mut count = 0;
        let mut key = None;
        if self.spec.api_key_required.get(index).copied().unwrap_or(false) {
            let table = Arc::clone(&self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner));
            let Some(plan) = api_key.and_then(|value| table.find(value)) else {
                return Admit::InvalidApiKey;
            };
            key = Some(AdmittedKey { key_slot: plan.key_slot, plan_slot: plan.plan_slot });
            if let Some(&(_, limit)) = plan.method_limits.iter().find(|(id, _)| *id == route) {
                let bucket =
                    bucket_key(&[LEVEL_PLAN_METHOD, plan.plan_slot, plan.key_slot, self.spec.stage_id, route.into()]);
                levels[count] = (bucket, limit);
                count += 1;
            }
            if let Some(limit) = plan.throttle {
                levels[count] = (bucket_key(&[LEVEL_PLAN, plan.plan_slot, plan.key_slot]), limit);
                count += 1;
            }
        }
        if let Some(Some(limit)) = self.spec.route_limits.get(index) {
            levels[count] = (bucket_key(&[LEVEL_STAGE_ROUTE, self.spec.stage_id, route.into()]), *limit);
            count += 1;
        }
        if let Some(limit) = self.spec.gateway_limit {
            levels[count] = (bucket_key(&[LEVEL_GATEWAY]), limit);
            count += 1;
        }
        match self.mode {
            ThrottleMode::Off => Admit::Admitted { key, deferred: Vec::new() },
            ThrottleMode::Deferred => Admit::Admitted { key, deferred: levels[..count].to_vec() },
            ThrottleMode::Local => match self.throttle_locally(&levels[..count]) {
                Ok(()) => Admit::Admitted { key, deferred: Vec::new() },
                Err(_) => Admit::Throttled,
            },
        }
    }

    /// Takes one token at each level from the node's own buckets; `Err(level)` when one is empty.
    pub fn throttle_locally(&self, levels: &[(u64, Limit)]) -> Result<(), usize> {
        match &self.throttle {
            Some(throttle) => throttle.check(levels, MonotonicClock.now_nanos()),
            None => Ok(()),
        }
    }
}

/// A non-zero 64-bit bucket key from its parts (splitmix64 finalizer over the parts in turn).
fn bucket_key(parts: &[u64]) -> u64 {
    let mut hash: u64 = 0x9e37_79b9_7f4a_7c15;
    for &part in parts {
        hash ^= part;
        hash = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hash ^= hash >> 31;
    }
    hash.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::OnTableFull;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123";

    fn hash(value: &str) -> KeyHash {
        Sha256::digest(value.as_bytes()).into()
    }

    fn admission(spec: AdmissionSpec) -> Admission {
        let throttle = Arc::new(Throttle::new(1024, OnTableFull::Admit).unwrap());
        Admission::new(spec, Some(throttle), ThrottleMode::Local)
    }

    fn spec(required: bool, route_limit: Option<Limit>) -> AdmissionSpec {
        AdmissionSpec {
            stage_id: 7,
            gateway_limit: None,
            route_limits: vec![route_limit],
            api_key_required: vec![required],
        }
    }

    #[test]
    fn a_route_that_requires_a_key_refuses_missing_and_unknown_keys() {
        let admission = admission(spec(true, None));
        assert_eq!(admission.admit(0, None), Admit::InvalidApiKey);
        admission.set_keys(KeyTable::new([(
            hash(KEY),
            KeyPlan { key_slot: 3, plan_slot: 1, throttle: None, method_limits: vec![] },
        )]));
        assert_eq!(admission.admit(0, Some("nope")), Admit::InvalidApiKey);
        let key = Some(AdmittedKey { key_slot: 3, plan_slot: 1 });
        assert_eq!(admission.admit(0, Some(KEY)), Admit::Admitted { key, deferred: vec![] });
    }

    #[test]
    fn levels_in_aws_order_and_a_throttled_request_costs_the_earlier_levels_nothing() {
        let admission = admission(spec(true, Some(Limit::new(0.0, 3))));
        let plan = KeyPlan {
            key_slot: 0,
            plan_slot: 0,
            throttle: Some(Limit::new(0.0, 5)),
            method_limits: vec![(0, Limit::new(0.0, 2))],
        };
        admission.set_keys(KeyTable::new([(hash(KEY), plan)]));
        // The plan's method limit (2) throttles first.
        assert!(matches!(admission.admit(0, Some(KEY)), Admit::Admitted { .. }));
        assert!(matches!(admission.admit(0, Some(KEY)), Admit::Admitted { .. }));
        assert_eq!(admission.admit(0, Some(KEY)), Admit::Throttled);
    }

    #[test]
    fn deferred_mode_returns_the_levels() {
        let mut spec = spec(false, Some(Limit::new(5.0, 5)));
        spec.gateway_limit = Some(Limit::GATEWAY_DEFAULT);
        let admission = Admission::new(spec, None, ThrottleMode::Deferred);
        let Admit::Admitted { key: None, deferred } = admission.admit(0, None) else { panic!() };
        assert_eq!(deferred.len(), 2);
        assert_eq!(deferred[0].1, Limit::new(5.0, 5));
        assert_eq!(deferred[1].1, Limit::GATEWAY_DEFAULT);
        assert_ne!(deferred[0].0, deferred[1].0);
    }

    #[test]
    fn bucket_keys_differ_by_every_part() {
        let keys = [
            bucket_key(&[LEVEL_STAGE_ROUTE, 1, 2]),
            bucket_key(&[LEVEL_STAGE_ROUTE, 2, 1]),
            bucket_key(&[LEVEL_STAGE_ROUTE, 1, 3]),
            bucket_key(&[LEVEL_PLAN, 1, 2]),
            bucket_key(&[LEVEL_GATEWAY]),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert_ne!(*a, 0);
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
