//! The one error type of the crate: a policy document that does not parse or validate.

use std::fmt;

/// A policy document was rejected. Names the statement (by index and Sid) and the field at fault, so that a
/// user can find and fix it: `Statement[2] (Sid "x"): field Resource: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The statement at fault, as `Statement[3]` or `Statement[3] (Sid "x")`; `None` for document-level errors.
    pub statement: Option<String>,
    /// The field at fault, e.g. `Action`, `Condition.StringLike`, `Version`; empty when the text is not JSON.
    pub field: String,
    /// What is wrong, and what would be accepted.
    pub message: String,
}

impl PolicyError {
    pub(crate) fn doc(field: &str, message: impl Into<String>) -> Self {
        PolicyError { statement: None, field: field.to_owned(), message: message.into() }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.statement {
            write!(f, "{s}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field {}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Where in a document an error is: the statement label and a field path, used while parsing.
#[derive(Clone, Copy)]
pub(crate) struct Loc<'a> {
    pub(crate) statement: Option<&'a str>,
}

impl Loc<'_> {
    pub(crate) fn err(&self, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError { statement: self.statement.map(str::to_owned), field: field.to_owned(), message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_statement_and_field() {
        let e = PolicyError {
            statement: Some("Statement[2] (Sid \"x\")".into()),
            field: "Resource".into(),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "Statement[2] (Sid \"x\"): field Resource: bad");
        assert_eq!(PolicyError::doc("Version", "nope").to_string(), "field Version: nope");
        assert_eq!(PolicyError::doc("", "not JSON").to_string(), "not JSON");
    }
}
