//! The route trie: one node per resource, children by path part, routes in a side table.
//!
//! Lookup walks the request path segment by segment. At each node it tries the static child
//! named by the segment, then the `{param}` child, then the `{greedy+}` child, and backtracks to
//! the next alternative when a subtree has no route for the request method. That is AWS's
//! "most specific first" order, decided from the left, and it visits each node at most once
//! (a node always sits at the same segment index), so a lookup costs O(path depth) in practice
//! and O(nodes) at the very worst, never more.

use rustc_hash::FxHashMap;

use super::methods::{Method, MethodSet, RouteMethod};
use super::params::Params;
use super::template::Part;
use crate::spec::RouteId;

/// "No node" / "no route" in the `u32` index fields.
const NONE: u32 = u32::MAX;

/// Up to this many static children are kept in a small vector and scanned; more go in a hash
/// map. Measured (benches/router.rs, `static_fan_out`): a scan of up to four siblings is as fast
/// as or slightly faster than hashing the segment; at eight same-length siblings it is ~60% slower.
const FEW_STATICS: usize = 4;

#[derive(Debug)]
pub(crate) struct Trie {
    /// `nodes[0]` is the root resource `/`.
    nodes: Vec<Node>,
    /// One row per node that has routes: the route for each concrete method, `ANY` already folded
    /// in, so a lookup is one load. Indexed by [`Node::slot`].
    table: Vec<[RouteId; Method::COUNT]>,
    ignore_trailing_slash: bool,
}

#[derive(Debug)]
struct Node {
    statics: Statics,
    /// The `{name}` child, or [`NONE`].
    param: u32,
    /// The `{name+}` child, or [`NONE`]. At most one of `param` and `greedy` is set.
    greedy: u32,
    /// The methods this resource answers (with `ANY` expanded to all seven).
    methods: MethodSet,
    /// The methods answered anywhere in this subtree: a walk does not enter a subtree that
    /// cannot answer the request's method, which prunes most backtracking.
    subtree: MethodSet,
    /// Row in [`Trie::table`], or [`NONE`] when `methods` is empty.
    slot: u32,
    /// The variable's name for `{name}` and `{name+}` nodes, empty for static ones.
    name: Box<str>,
}

#[derive(Debug)]
enum Statics {
    Few(Box<[(Box<str>, u32)]>),
    Many(FxHashMap<Box<str>, u32>),
}

impl Statics {
    #[inline]
    fn get(&self, segment: &str) -> Option<u32> {
        match self {
            Self::Few(children) => children.iter().find(|(text, _)| **text == *segment).map(|&(_, id)| id),
            Self::Many(children) => children.get(segment).copied(),
        }
    }
}

impl Node {
    #[inline]
    fn route(&self, method: Method, table: &[[RouteId; Method::COUNT]]) -> Option<RouteId> {
        if self.methods.contains(method) {
            Some(table[self.slot as usize][method.index()])
        } else {
            None
        }
    }
}

impl Trie {
    /// Finds the route for a request, pushing the captured variables into `params`. `path` must
    /// start with `/`. On `None`, `params` is left as it was.
    #[inline]
    pub(crate) fn lookup<'r, 'p>(
        &'r self,
        method: Method,
        path: &'p str,
        params: &mut Params<'r, 'p>,
    ) -> Option<RouteId> {
        debug_assert!(path.starts_with('/'));
        // In strict mode `pos > len` means "no segments left"; the bare `/` has none.
        let start = if !self.ignore_trailing_slash && path.len() == 1 { 2 } else { 1 };
        self.walk(0, method, path, start, params)
    }

    /// The next segment at or after `pos`, as `(start, end)` byte offsets into `path`.
    #[inline]
    fn segment(&self, path: &str, pos: usize) -> Option<(usize, usize)> {
        let bytes = path.as_bytes();
        let start = if self.ignore_trailing_slash {
            // Empty segments (`//`, a trailing `/`) do not count.
            let skipped = bytes.get(pos..)?.iter().position(|&b| b != b'/')?;
            pos + skipped
        } else if pos > bytes.len() {
            return None;
        } else {
            pos
        };
        // Segments are short: a plain scan beats `memchr`'s setup here (measured, ~8% per lookup).
        let end = bytes[start..].iter().position(|&b| b == b'/').map_or(bytes.len(), |i| start + i);
        Some((start, end))
    }

    fn walk<'r, 'p>(
        &'r self,
        id: u32,
        method: Method,
        path: &'p str,
        pos: usize,
        params: &mut Params<'r, 'p>,
    ) -> Option<RouteId> {
        let node = &self.nodes[id as usize];
        if !node.subtree.contains(method) {
            return None;
        }
        let Some((start, end)) = self.segment(path, pos) else {
            return node.route(method, &self.table);
        };
        let text = &path[start..end];
        if let Some(child) = node.statics.get(text) {
            if let found @ Some(_) = self.walk(child, method, path, end + 1, params) {
                return found;
            }
        }
        if text.is_empty() {
            // Only in strict mode: an empty segment (`//`, trailing `/`) is matched by the empty
            // static part of a template with a trailing slash, never by a variable.
            return None;
        }
        if node.param != NONE {
            let child = &self.nodes[node.param as usize];
            params.push(&child.name, text);
            if let found @ Some(_) = self.walk(node.param, method, path, end + 1, params) {
                return found;
            }
            params.pop();
        }
        if node.greedy != NONE {
            let child = &self.nodes[node.greedy as usize];
            if let Some(route) = child.route(method, &self.table) {
                // The value is the raw rest of the path, inner `//` included. When trailing
                // slashes are ignored, they are not part of the value either.
                let rest = &path[start..];
                let value = if self.ignore_trailing_slash { rest.trim_end_matches('/') } else { rest };
                params.push(&child.name, value);
                return Some(route);
            }
        }
        None
    }
}

/// Why a route could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The parent already has a different variable child, named as written (`{id}`).
    VariableSibling(String),
    /// Route `other` already has this method on this resource.
    Duplicate { other: RouteId },
}

/// The trie under construction: hash maps everywhere, frozen into a [`Trie`] by
/// [`TrieBuilder::finish`].
#[derive(Debug)]
pub(crate) struct TrieBuilder {
    nodes: Vec<BuildNode>,
    ignore_trailing_slash: bool,
}

#[derive(Debug, Default)]
struct BuildNode {
    statics: FxHashMap<Box<str>, u32>,
    param: Option<u32>,
    greedy: Option<u32>,
    name: Box<str>,
    /// Routes by concrete method; `None` where there is none.
    explicit: [Option<RouteId>; Method::COUNT],
    any: Option<RouteId>,
}

impl BuildNode {
    fn variable(name: &str) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    /// The methods this resource answers, `ANY` expanded.
    fn methods(&self) -> MethodSet {
        let mut methods = if self.any.is_some() { MethodSet::ALL } else { MethodSet::EMPTY };
        for (method, route) in Method::ALL.into_iter().zip(self.explicit) {
            if route.is_some() {
                methods.insert(method);
            }
        }
        methods
    }
}

impl TrieBuilder {
    pub(crate) fn new(ignore_trailing_slash: bool) -> Self {
        Self { nodes: vec![BuildNode::default()], ignore_trailing_slash }
    }

    /// Adds one route, creating the resources along its path.
    pub(crate) fn insert(
        &mut self,
        route: RouteId,
        parts: &[Part<'_>],
        method: RouteMethod,
    ) -> Result<(), InsertError> {
        let mut id = 0;
        for &part in parts {
            id = match part {
                Part::Static(text) => self.static_child(id, text),
                Part::Param(_) | Part::Greedy(_) => self.variable_child(id, part)?,
            };
        }
        let node = &mut self.nodes[id as usize];
        let slot = match method {
            RouteMethod::One(method) => &mut node.explicit[method.index()],
            RouteMethod::Any => &mut node.any,
        };
        if let Some(other) = *slot {
            return Err(InsertError::Duplicate { other });
        }
        *slot = Some(route);
        Ok(())
    }

    fn static_child(&mut self, parent: u32, text: &str) -> u32 {
        if let Some(&child) = self.nodes[parent as usize].statics.get(text) {
            return child;
        }
        let child = self.nodes.len() as u32;
        self.nodes.push(BuildNode::default());
        self.nodes[parent as usize].statics.insert(text.into(), child);
        child
    }

    fn variable_child(&mut self, parent: u32, part: Part<'_>) -> Result<u32, InsertError> {
        let (name, greedy) = match part {
            Part::Param(name) => (name, false),
            Part::Greedy(name) => (name, true),
            Part::Static(_) => unreachable!("variable_child is only called for variables"),
        };
        let node = &self.nodes[parent as usize];
        let existing = match (node.param, node.greedy) {
            (Some(child), _) => Some((child, Part::Param(&self.nodes[child as usize].name))),
            (_, Some(child)) => Some((child, Part::Greedy(&self.nodes[child as usize].name))),
            (None, None) => None,
        };
        if let Some((child, sibling)) = existing {
            return if sibling == part { Ok(child) } else { Err(InsertError::VariableSibling(sibling.to_string())) };
        }
        let child = self.nodes.len() as u32;
        self.nodes.push(BuildNode::variable(name));
        let node = &mut self.nodes[parent as usize];
        if greedy {
            node.greedy = Some(child);
        } else {
            node.param = Some(child);
        }
        Ok(child)
    }

    /// Freezes the trie: small static child sets become vectors, and each resource's routes a
    /// resolved table row.
    pub(crate) fn finish(self) -> Trie {
        let mut table = Vec::new();
        // Children always come after their parent, so one backwards pass sees every child first.
        let mut subtree: Vec<MethodSet> = self.nodes.iter().map(BuildNode::methods).collect();
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let children = node.statics.values().copied().chain(node.param).chain(node.greedy);
            subtree[i] = children.fold(subtree[i], |set, child| set.union(subtree[child as usize]));
        }
        let nodes = self
            .nodes
            .into_iter()
            .zip(subtree)
            .map(|(node, subtree)| {
                let methods = node.methods();
                let mut row = [node.any.unwrap_or(NONE); Method::COUNT];
                for (column, route) in row.iter_mut().zip(node.explicit) {
                    if let Some(route) = route {
                        *column = route;
                    }
                }
                let slot = if methods.is_empty() {
                    NONE
                } else {
                    table.push(row);
                    (table.len() - 1) as u32
                };
                let statics = if node.statics.len() <= FEW_STATICS {
                    Statics::Few(node.statics.into_iter().collect())
                } else {
                    let mut map = node.statics;
                    map.shrink_to_fit();
                    Statics::Many(map)
                };
                Node {
                    statics,
                    param: node.param.unwrap_or(NONE),
                    greedy: node.greedy.unwrap_or(NONE),
                    methods,
                    subtree,
                    slot,
                    name: node.name,
                }
            })
            .collect();
        Trie { nodes, table, ignore_trailing_slash: self.ignore_trailing_slash }
    }
}
