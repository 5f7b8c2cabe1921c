//! HTTP methods as AWS API Gateway knows them: seven concrete ones and `ANY`, which stands for
//! exactly those seven. Request methods are matched case-sensitively (`get` is not `GET`), and a
//! method outside the seven (`TRACE`, `CONNECT`, a custom one) matches no route at all, not even
//! `ANY` or `$default`.

/// One of the seven methods a route can answer. The discriminant is the method's bit in a
/// [`MethodSet`] and its column in a node's route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Method {
    Get = 0,
    Post = 1,
    Put = 2,
    Patch = 3,
    Delete = 4,
    Head = 5,
    Options = 6,
}

impl Method {
    /// How many concrete methods there are (the width of a route table row).
    pub(crate) const COUNT: usize = 7;

    /// All of them, in index order: what `ANY` stands for.
    pub(crate) const ALL: [Self; Self::COUNT] =
        [Self::Get, Self::Post, Self::Put, Self::Patch, Self::Delete, Self::Head, Self::Options];

    /// Parses a request method. Case-sensitive: HTTP method names are, and AWS does not fold them.
    #[inline]
    pub(crate) fn parse(method: &str) -> Option<Self> {
        // Matching on bytes lets the compiler switch on the length first.
        match method.as_bytes() {
            b"GET" => Some(Self::Get),
            b"POST" => Some(Self::Post),
            b"PUT" => Some(Self::Put),
            b"PATCH" => Some(Self::Patch),
            b"DELETE" => Some(Self::Delete),
            b"HEAD" => Some(Self::Head),
            b"OPTIONS" => Some(Self::Options),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
        }
    }
}

/// The method of a route in the definition: one concrete method, or `ANY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteMethod {
    One(Method),
    Any,
}

impl RouteMethod {
    /// Parses the method of a route as written in the definition (uppercase, as AWS spells it).
    pub(crate) fn parse(method: &str) -> Option<Self> {
        if method == "ANY" {
            Some(Self::Any)
        } else {
            Method::parse(method).map(Self::One)
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::One(method) => method.as_str(),
            Self::Any => "ANY",
        }
    }
}

/// A set of concrete methods, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MethodSet(u8);

impl MethodSet {
    pub(crate) const EMPTY: Self = Self(0);
    /// What `ANY` expands to.
    pub(crate) const ALL: Self = Self((1 << Method::COUNT) - 1);

    #[inline]
    pub(crate) fn contains(self, method: Method) -> bool {
        self.0 & (1 << method.index()) != 0
    }

    pub(crate) fn insert(&mut self, method: Method) {
        self.0 |= 1 << method.index();
    }

    pub(crate) fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_indexes_are_dense() {
        for (i, method) in Method::ALL.into_iter().enumerate() {
            assert_eq!(Method::parse(method.as_str()), Some(method));
            assert_eq!(method.index(), i);
        }
    }

    #[test]
    fn request_methods_are_case_sensitive_and_closed() {
        for other in ["get", "Get", "TRACE", "CONNECT", "PROPFIND", "ANY", "", "GET "] {
            assert_eq!(Method::parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn any_is_a_route_method_only() {
        assert_eq!(RouteMethod::parse("ANY"), Some(RouteMethod::Any));
        assert_eq!(RouteMethod::parse("GET"), Some(RouteMethod::One(Method::Get)));
        assert_eq!(RouteMethod::parse("any"), None);
        assert_eq!(RouteMethod::Any.as_str(), "ANY");
    }

    #[test]
    fn all_holds_exactly_the_seven() {
        let mut set = MethodSet::EMPTY;
        assert!(set.is_empty());
        for method in Method::ALL {
            assert!(MethodSet::ALL.contains(method));
            assert!(!set.contains(method));
            set.insert(method);
        }
        assert_eq!(set, MethodSet::ALL);
        assert_eq!(MethodSet::EMPTY.union(MethodSet::ALL), MethodSet::ALL);
    }
}
