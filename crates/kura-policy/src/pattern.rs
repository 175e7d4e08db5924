//! Wildcard patterns with policy variables, compiled once at parse time.
//!
//! A pattern is a sequence of literal runs, `*` (any run of characters, possibly empty, crossing `:` and
//! `/`), `?` (exactly one character) and policy variables `${key}` / `${key, 'default'}`. A variable's value
//! is always literal: a `*` in a user name never acts as a wildcard. `${*}`, `${?}` and `${$}` are the
//! literal characters `*`, `?` and `$`.

/// One compiled piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(Box<str>),
    Star,
    One,
    /// Index into `Pattern::vars`.
    Var(usize),
}

/// A policy variable inside a pattern.
#[derive(Debug, Clone, PartialEq)]
struct Var {
    /// Lower-cased key (condition keys are case-insensitive).
    key_lc: Box<str>,
    default: Option<Box<str>>,
}

/// What a pattern's text may contain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (otherwise literal).
    pub(crate) wildcards: bool,
    /// `${…}` is a policy variable (Version 2012-10-17 only; otherwise literal).
    pub(crate) variables: bool,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    segs: Vec<Seg>,
    vars: Vec<Var>,
}

fn push_lit(segs: &mut Vec<Seg>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Seg::Lit(prev)) = segs.last_mut() {
        let mut joined = String::with_capacity(prev.len() + s.len());
        joined.push_str(prev);
        joined.push_str(s);
        *prev = joined.into_boxed_str();
    } else {
        segs.push(Seg::Lit(s.into()));
    }
}

/// Parses the inside of `${…}`: `key` or `key, 'default'` (a `''` in the default is one `'`).
fn parse_var(inner: &str) -> Result<(String, Option<String>), String> {
    let (key, default) = match inner.find(',') {
        Some(comma) => (&inner[..comma], Some(inner[comma + 1..].trim())),
        None => (inner, None),
    };
    let key = key.trim();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c == '\'' || c == '$' || c == '{') {
        return Err(format!("invalid policy variable name in \"${{{inner}}}\""));
    }
    let default = match default {
        None => None,
        Some(d) => {
            let body =
                d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).filter(|_| d.len() >= 2).ok_or_else(|| {
                    format!("the default value in \"${{{inner}}}\" must be in single quotes: ${{key, 'default'}}")
                })?;
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        return Err(format!(
                            "a single quote inside the default value of \"${{{inner}}}\" must be doubled"
                        ));
                    }
                }
                out.push(c);
            }
            Some(out)
        }
    };
    Ok((key.to_ascii_lowercase(), default))
}

impl Pattern {
    /// Compiles `raw`. Errors name what is wrong with a variable (unclosed, empty, bad default).
    pub(crate) fn compile(raw: &str, syntax: Syntax) -> Result<Pattern, String> {
        let mut segs = Vec::new();
        let mut vars = Vec::new();
        let mut lit_start = 0;
        let mut i = 0;
        let bytes = raw.as_bytes();
        while i < bytes.len() {
            let b = bytes[i];
            if syntax.variables && b == b'$' && bytes.get(i + 1) == Some(&b'{') {
                push_lit(&mut segs, &raw[lit_start..i]);
                let close = raw[i..].find('}').map(|c| i + c).ok_or_else(|| {
                    format!("unclosed policy variable at \"{}\" (write ${{$}} for a literal '$')", &raw[i..])
                })?;
                let inner = &raw[i + 2..close];
                match inner.trim() {
                    "*" => push_lit(&mut segs, "*"),
                    "?" => push_lit(&mut segs, "?"),
                    "$" => push_lit(&mut segs, "$"),
                    _ => {
                        let (key, default) = parse_var(inner)?;
                        segs.push(Seg::Var(vars.len()));
                        vars.push(Var { key_lc: key.into(), default: default.map(Into::into) });
                    }
                }
                i = close + 1;
                lit_start = i;
            } else if syntax.wildcards && (b == b'*' || b == b'?') {
                push_lit(&mut segs, &raw[lit_start..i]);
                segs.push(if b == b'*' { Seg::Star } else { Seg::One });
                i += 1;
                lit_start = i;
            } else {
                i += 1;
            }
        }
        push_lit(&mut segs, &raw[lit_start..]);
        // `**` is `*`.
        segs.dedup_by(|a, b| *a == Seg::Star && *b == Seg::Star);
        Ok(Pattern { segs, vars })
    }

    /// True when the pattern is exactly `*` (matches everything).
    pub(crate) fn is_any(&self) -> bool {
        matches!(self.segs.as_slice(), [Seg::Star])
    }

    /// True when the pattern has policy variables.
    pub(crate) fn has_vars(&self) -> bool {
        !self.vars.is_empty()
    }

    /// Matches `text`. `lookup` resolves a lower-cased variable key to its single value; a variable with no
    /// value and no default makes the pattern match nothing (AWS). `ascii_ci`: ASCII case-insensitive.
    pub(crate) fn matches<'a>(&'a self, text: &str, ascii_ci: bool, lookup: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        if self.vars.is_empty() {
            return glob(&self.segs, &[], text, ascii_ci);
        }
        match self.resolve(lookup) {
            Some(vals) => glob(&self.segs, &vals, text, ascii_ci),
            None => false,
        }
    }

    /// The values of the variables, in order; `None` when one has neither a value nor a default.
    fn resolve<'a>(&'a self, lookup: &dyn Fn(&str) -> Option<&'a str>) -> Option<Vec<&'a str>> {
        self.vars.iter().map(|v| lookup(&v.key_lc).or(v.default.as_deref())).collect()
    }

    /// The pattern with variables substituted, wildcards kept as `*`/`?` — for case-insensitive exact
    /// comparisons (`StringEqualsIgnoreCase`), which have no wildcards. `None` if a variable has no value.
    pub(crate) fn render<'a>(&'a self, lookup: &dyn Fn(&str) -> Option<&'a str>) -> Option<String> {
        let vals = self.resolve(lookup)?;
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Star => out.push('*'),
                Seg::One => out.push('?'),
                Seg::Var(k) => out.push_str(vals[*k]),
            }
        }
        Some(out)
    }

    /// Splits the pattern at its first five literal `:` into the six parts of an ARN, for `ArnLike`.
    /// `None` when there are fewer than six parts.
    pub(crate) fn split_arn(&self) -> Option<Vec<Pattern>> {
        let mut parts: Vec<Pattern> = vec![Pattern { segs: Vec::new(), vars: Vec::new() }];
        for seg in &self.segs {
            match seg {
                Seg::Lit(l) => {
                    let mut rest: &str = l;
                    while parts.len() < 6 {
                        let Some(c) = rest.find(':') else { break };
                        push_lit(&mut parts.last_mut()?.segs, &rest[..c]);
                        parts.push(Pattern { segs: Vec::new(), vars: Vec::new() });
                        rest = &rest[c + 1..];
                    }
                    push_lit(&mut parts.last_mut()?.segs, rest);
                }
                Seg::Var(k) => {
                    // Each part carries only its own variables.
                    let part = parts.last_mut()?;
                    part.segs.push(Seg::Var(part.vars.len()));
                    part.vars.push(self.vars.get(*k)?.clone());
                }
                other => parts.last_mut()?.segs.push(other.clone()),
            }
        }
        (parts.len() == 6).then_some(parts)
    }
}

fn char_len_at(text: &str, j: usize) -> usize {
    text[j..].chars().next().map_or(1, char::len_utf8)
}

fn lit_at(text: &str, j: usize, lit: &str, ascii_ci: bool) -> bool {
    let Some(t) = text.as_bytes().get(j..j + lit.len()) else { return false };
    if ascii_ci { t.eq_ignore_ascii_case(lit.as_bytes()) } else { t == lit.as_bytes() }
}

/// Wildcard match with one backtracking point (the last `*`): linear for the patterns policies use,
/// O(n·m) at worst, never exponential.
fn glob(segs: &[Seg], vals: &[&str], text: &str, ascii_ci: bool) -> bool {
    let len = text.len();
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(seg) = segs.get(i) {
            match seg {
                Seg::Star => {
                    if i + 1 == segs.len() {
                        return true;
                    }
                    star = Some((i, j));
                    i += 1;
                    continue;
                }
                Seg::One => {
                    if j < len {
                        j += char_len_at(text, j);
                        i += 1;
                        continue;
                    }
                }
                Seg::Lit(l) => {
                    if lit_at(text, j, l, ascii_ci) {
                        j += l.len();
                        i += 1;
                        continue;
                    }
                }
                Seg::Var(k) => {
                    let v = vals.get(*k).copied().unwrap_or("");
                    if lit_at(text, j, v, ascii_ci) {
                        j += v.len();
                        i += 1;
                        continue;
                    }
                }
            }
        } else if j == len {
            return true;
        }
        match star {
            Some((si, sj)) if sj < len => {
                let nj = sj + char_len_at(text, sj);
                star = Some((si, nj));
                i = si + 1;
                j = nj;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WILD: Syntax = Syntax { wildcards: true, variables: true };
    const EXACT: Syntax = Syntax { wildcards: false, variables: true };

    fn m(p: &str, t: &str) -> bool {
        Pattern::compile(p, WILD).expect("pattern").matches(t, false, &|_| None)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "anything/at:all"));
        assert!(m("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y"));
        assert!(!m("arn:aws:s3:::b/*", "arn:aws:s3:::bb/x"));
        assert!(m("arn:aws:s3:::b*", "arn:aws:s3:::bb/x"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a?c", "aéc"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("k8s-default-aws-cli-*", "k8s-default-aws-cli-demo"));
        assert!(!m("k8s-default-aws-cli-*", "k9s-default-aws-cli-demo"));
        assert!(m("a**b", "ab"));
        assert!(!m("", "a"));
        assert!(m("", ""));
    }

    #[test]
    fn case() {
        let p = Pattern::compile("s3:Get*", WILD).expect("pattern");
        assert!(p.matches("S3:GETOBJECT", true, &|_| None));
        assert!(!p.matches("S3:GETOBJECT", false, &|_| None));
    }

    #[test]
    fn variables_are_literal() {
        let p = Pattern::compile("arn:aws:s3:::b/home/${aws:username}/*", WILD).expect("pattern");
        let star = |k: &str| (k == "aws:username").then_some("*");
        assert!(p.matches("arn:aws:s3:::b/home/*/x", false, &star));
        assert!(!p.matches("arn:aws:s3:::b/home/bob/x", false, &star));
        let bob = |k: &str| (k == "aws:username").then_some("bob");
        assert!(p.matches("arn:aws:s3:::b/home/bob/x", false, &bob));
        assert!(!p.matches("arn:aws:s3:::b/home/bob/x", false, &|_| None));
    }

    #[test]
    fn defaults_and_escapes() {
        let p = Pattern::compile("${ aws:username , 'it''s' }-${*}${?}${$}", EXACT).expect("pattern");
        assert!(p.matches("it's-*?$", false, &|_| None));
        let p = Pattern::compile("a${*}b", WILD).expect("pattern");
        assert!(p.matches("a*b", false, &|_| None));
        assert!(!p.matches("axb", false, &|_| None));
        assert!(Pattern::compile("${aws:username", WILD).is_err());
        assert!(Pattern::compile("${}", WILD).is_err());
        assert!(Pattern::compile("${a, nope}", WILD).is_err());
        // Without variable syntax (Version 2008-10-17) it is literal text.
        let p = Pattern::compile("${x}", Syntax { wildcards: true, variables: false }).expect("pattern");
        assert!(p.matches("${x}", false, &|_| None));
    }

    /// The obvious recursive definition of `*`/`?` matching, as the reference.
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => reference(rest, t) || (!t.is_empty() && reference(p, &t[1..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn matcher_agrees_with_reference(p in "[ab/:é*?]{0,10}", t in "[ab/:é]{0,14}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            let compiled = Pattern::compile(&p, Syntax { wildcards: true, variables: false }).expect("pattern");
            proptest::prop_assert_eq!(compiled.matches(&t, false, &|_| None), reference(&pc, &tc), "{} ~ {}", p, t);
        }

        #[test]
        fn instantiated_patterns_match(p in "[ab/:*?]{0,10}", fills in proptest::collection::vec("[ab/:é]{0,4}", 10)) {
            // Replace each wildcard by text it can match: the pattern must match the result.
            let mut text = String::new();
            for (i, c) in p.chars().enumerate() {
                match c {
                    '*' => text.push_str(&fills[i]),
                    '?' => text.push(fills[i].chars().next().unwrap_or('x')),
                    c => text.push(c),
                }
            }
            let compiled = Pattern::compile(&p, Syntax { wildcards: true, variables: false }).expect("pattern");
            proptest::prop_assert!(compiled.matches(&text, false, &|_| None), "{} !~ {}", p, text);
        }

        #[test]
        fn case_insensitive_matching(p in "[aB*?]{0,8}", t in "[AbaB]{0,10}") {
            let compiled = Pattern::compile(&p, Syntax { wildcards: true, variables: false }).expect("pattern");
            let lower = Pattern::compile(&p.to_ascii_lowercase(), Syntax { wildcards: true, variables: false }).expect("pattern");
            proptest::prop_assert_eq!(
                compiled.matches(&t, true, &|_| None),
                lower.matches(&t.to_ascii_lowercase(), false, &|_| None)
            );
        }
    }

    #[test]
    fn arn_split() {
        let p = Pattern::compile("arn:aws:iam::${aws:PrincipalAccount}:role/a:b", WILD).expect("pattern");
        let parts = p.split_arn().expect("six parts");
        assert_eq!(parts.len(), 6);
        assert!(parts[5].matches("role/a:b", false, &|_| None));
        assert!(parts[4].matches("123", false, &|k| (k == "aws:principalaccount").then_some("123")));
        assert!(Pattern::compile("arn:aws:s3", WILD).expect("pattern").split_arn().is_none());
    }
}
