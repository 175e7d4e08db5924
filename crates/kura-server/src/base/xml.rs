//! XML text: the five predefined entities, both ways, for the documents kura writes by hand (STS
//! answers, error documents) and the few it reads back.

/// Escapes text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`]: the five predefined entities, in one pass (so `&amp;lt;` is `&lt;`); anything
/// else is kept as it is.
pub fn unescape(text: &str) -> String {
    const ENTITIES: [(&str, char); 5] =
        [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>'), ("&quot;", '"'), ("&apos;", '\'')];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match ENTITIES.iter().find(|(entity, _)| rest.starts_with(entity)) {
            Some((entity, c)) => {
                out.push(*c);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_goes_through_escape_and_back() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        for text in ["a<b>&\"c'", "&amp;lt; is not <", "&unknown; & &", ""] {
            assert_eq!(unescape(&escape(text)), text);
        }
        assert_eq!(unescape("&amp;lt;"), "&lt;", "one pass");
        assert_eq!(unescape("&nbsp;&#60;"), "&nbsp;&#60;", "only the predefined entities");
    }
}
