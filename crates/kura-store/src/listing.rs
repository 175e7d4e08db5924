//! The one listing algorithm (prefix, delimiter grouping, marker, page size), shared by every back end.
//!
//! A back end supplies a [`KeyCursor`] over its entries in key order; [`list_page`] walks it, groups keys
//! into common prefixes and seeks past every key under a common prefix instead of visiting them, so a
//! page costs `O(max · log n)` however many keys a common prefix hides.

use crate::StoreResult;

/// An ordered cursor over `(key, item)` entries. Several entries may share a key (uploads of one key);
/// they come in the back end's order.
pub(crate) trait KeyCursor {
    /// What an entry carries besides its key (kept undecoded until emitted, where that matters).
    type Item;
    /// Positions the cursor before the first entry whose key is `>= key`.
    fn seek(&mut self, key: &str) -> StoreResult<()>;
    /// The next entry, or `None` at the end.
    fn next_entry(&mut self) -> StoreResult<Option<(String, Self::Item)>>;
}

/// One emitted entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listed<T> {
    /// An entry (object or upload) and its key.
    Item(String, T),
    /// A common prefix.
    Prefix(String),
}

/// The result of [`list_page`].
#[derive(Debug)]
pub(crate) struct Listing<T> {
    /// Entries in order.
    pub entries: Vec<Listed<T>>,
    /// Whether at least one more entry follows.
    pub is_truncated: bool,
}

/// Parameters of [`list_page`].
pub(crate) struct PageSpec<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Group by this (empty = no grouping).
    pub delimiter: Option<&'a str>,
    /// Only keys (and common prefixes) greater than this; see `include_at_marker`.
    pub marker: Option<&'a str>,
    /// At most this many entries.
    pub max: usize,
}

/// The smallest string greater than every string that starts with `prefix`, or `None` if there is
/// none (every char of `prefix` is `char::MAX`).
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut code = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&code) {
            code = 0xE000;
        }
        if let Some(next) = char::from_u32(code) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Lists one page. Entries whose key equals the marker are included only when `include_at_marker`
/// accepts them (objects: never; uploads: those after the upload-id marker).
pub(crate) fn list_page<C: KeyCursor>(
    cursor: &mut C,
    spec: &PageSpec<'_>,
    mut include_at_marker: impl FnMut(&C::Item) -> bool,
) -> StoreResult<Listing<C::Item>> {
    let mut out = Listing { entries: Vec::new(), is_truncated: false };
    if spec.max == 0 {
        return Ok(out);
    }
    let prefix = spec.prefix;
    let delimiter = spec.delimiter.filter(|d| !d.is_empty());
    let start = match spec.marker {
        Some(marker) if marker > prefix => marker,
        _ => prefix,
    };
    cursor.seek(start)?;
    while let Some((key, item)) = cursor.next_entry()? {
        if !key.starts_with(prefix) {
            // Keys are ordered and every key with the prefix is >= start >= prefix: none follows.
            break;
        }
        let common = delimiter.and_then(|d| key[prefix.len()..].find(d).map(|at| prefix.len() + at + d.len()));
        if let Some(end) = common {
            let cp = &key[..end];
            let skip = spec.marker.is_some_and(|m| cp <= m);
            if !skip {
                if out.entries.len() == spec.max {
                    out.is_truncated = true;
                    break;
                }
                out.entries.push(Listed::Prefix(cp.to_owned()));
            }
            match prefix_successor(cp) {
                Some(next) => cursor.seek(&next)?,
                None => break,
            }
            continue;
        }
        if let Some(marker) = spec.marker {
            let key_str: &str = &key;
            if key_str < marker || (key_str == marker && !include_at_marker(&item)) {
                continue;
            }
        }
        if out.entries.len() == spec.max {
            out.is_truncated = true;
            break;
        }
        out.entries.push(Listed::Item(key, item));
    }
    Ok(out)
}

/// A cursor over a sorted slice, for tests and simple back ends.
#[cfg(test)]
pub(crate) struct SliceCursor<'a> {
    keys: &'a [String],
    pos: usize,
}

#[cfg(test)]
impl<'a> SliceCursor<'a> {
    pub(crate) fn new(keys: &'a [String]) -> Self {
        Self { keys, pos: 0 }
    }
}

#[cfg(test)]
impl KeyCursor for SliceCursor<'_> {
    type Item = ();
    fn seek(&mut self, key: &str) -> StoreResult<()> {
        self.pos = self.keys.partition_point(|k| k.as_str() < key);
        Ok(())
    }
    fn next_entry(&mut self) -> StoreResult<Option<(String, ())>> {
        let next = self.keys.get(self.pos).map(|k| (k.clone(), ()));
        self.pos += 1;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(l: &Listing<()>) -> Vec<String> {
        l.entries
            .iter()
            .map(|e| match e {
                Listed::Item(k, ()) => k.clone(),
                Listed::Prefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_successor("").as_deref(), None);
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
    }

    #[test]
    fn groups_and_seeks() {
        let keys: Vec<String> = ["a", "b/1", "b/2", "b/3", "c", "d/x/y"].iter().map(|s| s.to_string()).collect();
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: None, max: 10 };
        let page = list_page(&mut SliceCursor::new(&keys), &spec, |_| false).unwrap();
        assert_eq!(names(&page), ["a", "P:b/", "c", "P:d/"]);
        assert!(!page.is_truncated);
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: Some("b/"), max: 2 };
        let page = list_page(&mut SliceCursor::new(&keys), &spec, |_| false).unwrap();
        assert_eq!(names(&page), ["c", "P:d/"]);
        assert!(!page.is_truncated);
        let spec = PageSpec { prefix: "", delimiter: Some("/"), marker: None, max: 2 };
        let page = list_page(&mut SliceCursor::new(&keys), &spec, |_| false).unwrap();
        assert_eq!(names(&page), ["a", "P:b/"]);
        assert!(page.is_truncated);
        let spec = PageSpec { prefix: "b/", delimiter: None, marker: Some("b/1"), max: 0 };
        let page = list_page(&mut SliceCursor::new(&keys), &spec, |_| false).unwrap();
        assert!(page.entries.is_empty() && !page.is_truncated);
    }
}
