//! The request context: condition keys and policy variables for one request.

use std::borrow::Cow;
use std::collections::HashMap;

/// The values of condition keys and policy variables for one request (the AWS "request context").
///
/// Keys are case-insensitive, as in AWS (`aws:SourceIp` = `AWS:sourceip`); values are case-sensitive and
/// multi-valued (`s3:RequestObjectTagKeys`, `aws:TagKeys`…). A key that is absent and a key with no values
/// are the same thing to conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

fn lower(key: &str) -> Cow<'_, str> {
    if key.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(key.to_ascii_lowercase()) } else { Cow::Borrowed(key) }
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value to `key` (keeps the values already there).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.values.entry(lower(key).into_owned()).or_default().push(value.into());
    }

    /// Adds several values to `key` (keeps the values already there).
    pub fn insert_many<I, V>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.values.entry(lower(key).into_owned()).or_default().extend(values.into_iter().map(Into::into));
    }

    /// Replaces the values of `key` by one value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(lower(key).into_owned(), vec![value.into()]);
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.values.remove(lower(key).as_ref());
    }

    /// The values of `key` (case-insensitive); `None` when absent.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.get_lc(&lower(key))
    }

    /// Lookup by an already lower-cased key (the evaluator's hot path).
    pub(crate) fn get_lc(&self, key_lc: &str) -> Option<&[String]> {
        self.values.get(key_lc).map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    /// Every key (lower-cased) and its values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_values_multi() {
        let mut c = Context::new();
        c.insert("aws:SourceIp", "10.0.0.1");
        c.insert_many("s3:RequestObjectTagKeys", ["a", "b"]);
        c.insert("S3:requestobjecttagkeys", "c");
        assert_eq!(c.get("AWS:SOURCEIP"), Some(&["10.0.0.1".to_owned()][..]));
        assert_eq!(c.get("s3:RequestObjectTagKeys").map(<[String]>::len), Some(3));
        c.set("s3:RequestObjectTagKeys", "z");
        assert_eq!(c.get("s3:requestobjecttagkeys"), Some(&["z".to_owned()][..]));
        c.remove("AWS:sourceIP");
        assert_eq!(c.get("aws:sourceip"), None);
        c.insert_many("empty", Vec::<String>::new());
        assert_eq!(c.get("empty"), None);
    }
}
