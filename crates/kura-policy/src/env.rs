//! What the evaluator knows about one request besides action and resource: the context and the caller.

use crate::{Context, Principal};

/// The values of one condition key: from the context (possibly several), or derived from the principal.
#[derive(Clone, Copy)]
pub(crate) enum Vals<'a> {
    Many(&'a [String]),
    One(&'a str),
}

impl<'a> Vals<'a> {
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a str> {
        let (many, one): (&'a [String], Option<&'a str>) = match self {
            Vals::Many(m) => (m, None),
            Vals::One(o) => (&[], Some(o)),
        };
        many.iter().map(String::as_str).chain(one)
    }
}

/// Looks up condition keys and policy variables for one request.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) context: &'a Context,
    pub(crate) principal: &'a Principal,
}

impl<'a> Env<'a> {
    /// The values of a lower-cased key: the context first, then what the principal implies.
    pub(crate) fn values(&self, key_lc: &str) -> Option<Vals<'a>> {
        match self.context.get_lc(key_lc) {
            Some(v) => Some(Vals::Many(v)),
            None => self.principal.key_lc(key_lc).map(Vals::One),
        }
    }

    /// The value of a policy variable: only single-valued keys substitute (AWS: a multi-valued key cannot be
    /// a variable); a key with several values is treated as having no value.
    pub(crate) fn var(&self, key_lc: &str) -> Option<&'a str> {
        match self.values(key_lc)? {
            Vals::Many([one]) => Some(one.as_str()),
            Vals::Many(_) => None,
            Vals::One(one) => Some(one),
        }
    }
}
