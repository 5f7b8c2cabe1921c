//! Captured path parameters: `(name, value)` pairs in path order, kept inline for the common case
//! so that a lookup does not allocate.

use std::fmt;

/// How many parameters fit without a heap allocation. Real APIs rarely have more than three
/// variables in one path; the fifth spills into a `Vec`.
const INLINE: usize = 4;

type Pair<'r, 'p> = (&'r str, &'p str);

/// The path parameters of a [`super::RouteMatch`]. Names borrow from the router, values from the
/// request path (still percent-encoded, as AWS passes them on).
///
/// Iterate with `for (name, value) in &params`, or look one up with [`Params::get`].
#[derive(Clone)]
pub struct Params<'r, 'p> {
    len: usize,
    inline: [Pair<'r, 'p>; INLINE],
    /// Empty until the first push past [`INLINE`]; from then on it holds every pair and
    /// `inline` is stale. (An empty `Vec` does not allocate.)
    spill: Vec<Pair<'r, 'p>>,
}

impl<'r, 'p> Params<'r, 'p> {
    pub(crate) const fn new() -> Self {
        Self { len: 0, inline: [("", ""); INLINE], spill: Vec::new() }
    }

    #[inline]
    pub(crate) fn push(&mut self, name: &'r str, value: &'p str) {
        if !self.spill.is_empty() {
            self.spill.push((name, value));
        } else if self.len < INLINE {
            self.inline[self.len] = (name, value);
        } else {
            self.spill.reserve(INLINE * 2);
            self.spill.extend_from_slice(&self.inline);
            self.spill.push((name, value));
        }
        self.len += 1;
    }

    /// Drops the last pair; the trie calls it when it backtracks out of a variable.
    #[inline]
    pub(crate) fn pop(&mut self) {
        // With nothing spilled this pops nothing, and `len` alone shrinks the inline part.
        self.spill.pop();
        self.len -= 1;
    }

    /// The pairs, in path order.
    #[inline]
    pub fn as_slice(&self) -> &[Pair<'r, 'p>] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Pair<'r, 'p>> {
        self.as_slice().iter()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of the parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, value)| *value)
    }
}

impl Default for Params<'_, '_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, 'r, 'p> IntoIterator for &'a Params<'r, 'p> {
    type Item = &'a Pair<'r, 'p>;
    type IntoIter = std::slice::Iter<'a, Pair<'r, 'p>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Params<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Params<'_, '_> {}

impl fmt::Debug for Params<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(name, value)| (name, value))).finish()
    }
}

impl<'r, 'p> FromIterator<Pair<'r, 'p>> for Params<'r, 'p> {
    fn from_iter<I: IntoIterator<Item = Pair<'r, 'p>>>(iter: I) -> Self {
        let mut params = Self::new();
        for (name, value) in iter {
            params.push(name, value);
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

    #[test]
    fn push_and_pop_across_the_inline_boundary() {
        let mut params = Params::new();
        let mut model: Vec<(&str, &str)> = Vec::new();
        // Grow past the inline capacity, shrink below it, grow again: the slice follows a Vec.
        let script = [true, true, true, true, true, true, false, false, false, false, true, true, true, false];
        for push in script {
            if push {
                let name = NAMES[model.len()];
                params.push(name, "v");
                model.push((name, "v"));
            } else {
                params.pop();
                model.pop();
            }
            assert_eq!(params.as_slice(), model.as_slice());
            assert_eq!(params.len(), model.len());
        }
    }

    #[test]
    fn lookup_iteration_and_equality() {
        let params: Params<'_, '_> = [("id", "1"), ("proxy", "a/b")].into_iter().collect();
        assert_eq!(params.get("proxy"), Some("a/b"));
        assert_eq!(params.get("nope"), None);
        let pairs: Vec<_> = (&params).into_iter().copied().collect();
        assert_eq!(pairs, [("id", "1"), ("proxy", "a/b")]);
        assert_eq!(format!("{params:?}"), r#"{"id": "1", "proxy": "a/b"}"#);
        assert_ne!(params, Params::default());
        assert!(Params::default().is_empty());
    }
}
