//! The policy grammar: parsing, validation, canonical JSON, and per-statement matching.

use serde_json::{Map, Value};

use crate::condition::Condition;
use crate::env::Env;
use crate::error::{Loc, PolicyError};
use crate::pattern::{Pattern, Syntax};
use crate::principal::{Principal, PrincipalKind};

/// The current policy language version: policy variables are substituted.
pub const VERSION_2012: &str = "2012-10-17";
/// The old policy language version (also what an absent `Version` means): `${…}` is literal text.
pub const VERSION_2008: &str = "2008-10-17";

/// An IAM policy document: identity policy, bucket policy, role trust policy, session policy or boundary.
///
/// Build one with [`Policy::parse`] or [`Policy::from_value`]; the statements are compiled (wildcards,
/// variables, condition values) once, so evaluation allocates little.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `Version`: `2012-10-17`, `2008-10-17`, or absent (2008 semantics: no policy variables).
    pub version: Option<String>,
    /// `Id`, as written.
    pub id: Option<String>,
    /// The statements, in document order.
    pub statements: Vec<Statement>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Grants the matched actions.
    Allow,
    /// Denies the matched actions; beats any allow.
    Deny,
}

impl Effect {
    /// `"Allow"` or `"Deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// The kind of names in a `Principal` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    /// `"AWS"`: account ids, account root / user / role / assumed-role session ARNs, or `*`.
    Aws,
    /// `"Federated"`: identity provider ARNs (web identity, SAML).
    Federated,
    /// `"Service"`: service principals.
    Service,
    /// `"CanonicalUser"`: S3 canonical user ids.
    CanonicalUser,
}

impl PrincipalType {
    /// The JSON key: `AWS`, `Federated`, `Service`, `CanonicalUser`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Principals {
    /// `"*"` (everyone, including anonymous callers).
    wildcard: bool,
    entries: Vec<(PrincipalType, Vec<String>)>,
    raw: Value,
}

impl Principals {
    /// True for `"*"` or `{"AWS": "*"}` (everyone, anonymous included).
    pub fn is_everyone(&self) -> bool {
        self.wildcard || self.entries.iter().any(|(t, vs)| *t == PrincipalType::Aws && vs.iter().any(|v| v == "*"))
    }

    /// True when the element names the public, for "The meaning of public": `"*"`, a `"*"` of any
    /// principal type (`{"CanonicalUser": "*"}` and `{"Service": "*"}` name anonymous callers too), or any
    /// `Federated` provider (AWS's first example of a public policy: anyone who signs in with it).
    pub(crate) fn reaches_the_public(&self) -> bool {
        self.wildcard
            || self.entries.iter().any(|(t, vs)| *t == PrincipalType::Federated || vs.iter().any(|v| v == "*"))
    }

    /// The names listed, by type (empty for `"*"`).
    pub fn entries(&self) -> &[(PrincipalType, Vec<String>)] {
        &self.entries
    }

    /// The element as written.
    pub fn as_value(&self) -> &Value {
        &self.raw
    }

    fn parse(loc: Loc<'_>, field: &str, v: &Value) -> Result<Principals, PolicyError> {
        if let Value::String(s) = v {
            if s == "*" {
                return Ok(Principals { wildcard: true, entries: Vec::new(), raw: v.clone() });
            }
            return Err(loc.err(field, format!("must be \"*\" or an object such as {{\"AWS\": \"{s}\"}}")));
        }
        let Value::Object(map) = v else {
            return Err(loc.err(field, "must be \"*\" or an object with AWS, Federated, Service or CanonicalUser"));
        };
        if map.is_empty() {
            return Err(loc.err(field, "names no principal"));
        }
        let mut entries = Vec::new();
        for (k, val) in map {
            let t = match k.as_str() {
                "AWS" => PrincipalType::Aws,
                "Federated" => PrincipalType::Federated,
                "Service" => PrincipalType::Service,
                "CanonicalUser" => PrincipalType::CanonicalUser,
                other => {
                    return Err(loc.err(
                        field,
                        format!("unknown principal type \"{other}\"; use AWS, Federated, Service or CanonicalUser"),
                    ));
                }
            };
            let sub = format!("{field}.{k}");
            let names = string_list(loc, &sub, val)?;
            for n in &names {
                if n != "*" && (n.contains('*') || n.contains('?')) {
                    return Err(loc.err(&sub, format!("\"{n}\": a principal is \"*\" or a full name, never a partial wildcard (use a condition on aws:PrincipalArn with ArnLike)")));
                }
                if t == PrincipalType::Aws && n != "*" && !is_account_id(n) && !n.starts_with("arn:") {
                    return Err(loc.err(&sub, format!("\"{n}\" is neither \"*\", a 12-digit account id nor an ARN")));
                }
            }
            entries.push((t, names));
        }
        Ok(Principals { wildcard: false, entries, raw: v.clone() })
    }

    /// Does a `Principal` element name this caller?
    ///
    /// An account (`"000000000000"` or `arn:aws:iam::000000000000:root`) names every principal of that account
    /// in a `Deny` (AWS: denying an account denies all its users), but in an `Allow` it only *delegates* to the
    /// account (AWS: its principals still need an identity policy that allows), so there it grants to the
    /// account root alone.
    pub(crate) fn names(&self, p: &Principal, effect: Effect) -> bool {
        if self.wildcard {
            return true;
        }
        let anon = p.is_anonymous();
        self.entries.iter().any(|(t, vs)| {
            vs.iter().any(|v| match t {
                PrincipalType::Aws => {
                    v == "*"
                        || (!anon
                            && (v == &p.arn
                                || p.aliases.iter().any(|a| a == v)
                                || account_of_root(v).is_some_and(|acc| {
                                    acc == p.account && (effect == Effect::Deny || p.kind == PrincipalKind::Root)
                                })))
                }
                PrincipalType::Federated => p.federated.as_deref().is_some_and(|f| v == "*" || f == v),
                PrincipalType::Service | PrincipalType::CanonicalUser => v == "*" || p.aliases.iter().any(|a| a == v),
            })
        })
    }

    /// Is a name listed literally (for `NotPrincipal`)?
    fn lists(&self, name: &str) -> bool {
        self.wildcard
            || self.entries.iter().any(|(_, vs)| {
                vs.iter().any(|v| v == "*" || v == name || (is_account_id(v) && account_of_root(name) == Some(v)))
            })
    }

    /// Does a `NotPrincipal` element exempt this caller? Only when **every** name the caller goes by is
    /// listed: its ARN, its aliases (the role of a session), its account, its provider (AWS: "you must also
    /// specify the account ARN of the not-denied principal").
    pub(crate) fn exempts(&self, p: &Principal) -> bool {
        if self.wildcard {
            return true;
        }
        if p.is_anonymous() {
            return false;
        }
        let root = format!("arn:aws:iam::{}:root", p.account);
        let account_listed = p.kind == PrincipalKind::Root || p.account.is_empty() || self.lists(&root);
        self.lists(&p.arn)
            && p.aliases.iter().all(|a| self.lists(a))
            && p.federated.as_deref().is_none_or(|f| self.lists(f))
            && account_listed
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:aws:iam::ACCOUNT:root` (or a bare account id) → ACCOUNT.
fn account_of_root(v: &str) -> Option<&str> {
    if is_account_id(v) {
        return Some(v);
    }
    let rest = v.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, account, res) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "iam" && res == "root" && !account.is_empty()).then_some(account)
}

/// An `Action`/`NotAction` or `Resource`/`NotResource` list.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternList {
    /// `NotAction` / `NotResource`.
    negated: bool,
    raw: Vec<String>,
    compiled: Vec<Pattern>,
    any: bool,
}

impl PatternList {
    /// True for `NotAction` / `NotResource`.
    pub fn is_negated(&self) -> bool {
        self.negated
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.raw
    }

    fn matches(&self, text: &str, ascii_ci: bool, env: &Env<'_>) -> bool {
        let hit = self.any || self.compiled.iter().any(|p| p.matches(text, ascii_ci, &|k| env.var(k)));
        hit != self.negated
    }
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, as written.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    principal: Option<(bool, Principals)>,
    action: PatternList,
    resource: Option<PatternList>,
    conditions: Vec<Condition>,
}

impl Statement {
    /// `Principal` (`false`) or `NotPrincipal` (`true`), if present.
    pub fn principal(&self) -> Option<(bool, &Principals)> {
        self.principal.as_ref().map(|(neg, p)| (*neg, p))
    }

    /// `Action` or `NotAction` (see [`PatternList::is_negated`]).
    pub fn action(&self) -> &PatternList {
        &self.action
    }

    /// `Resource` or `NotResource`, if present.
    pub fn resource(&self) -> Option<&PatternList> {
        self.resource.as_ref()
    }

    /// The `Condition` entries (all must hold).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Does this statement apply to the request? `check_principal`: evaluate `Principal`/`NotPrincipal`
    /// (resource policies only). A resource-policy statement with neither applies to nobody if it allows and
    /// to everybody if it denies (fail closed; validation rejects such policies anyway).
    pub(crate) fn applies(&self, action: &str, resource: &str, env: &Env<'_>, check_principal: bool) -> bool {
        if !self.action.matches(action, true, env) {
            return false;
        }
        if let Some(r) = &self.resource
            && !r.matches(resource, false, env)
        {
            return false;
        }
        if check_principal {
            let named = match &self.principal {
                Some((false, p)) => p.names(env.principal, self.effect),
                Some((true, p)) => !p.exempts(env.principal),
                None => self.effect == Effect::Deny,
            };
            if !named {
                return false;
            }
        }
        self.conditions.iter().all(|c| c.evaluate(env))
    }

    /// True when the statement's `Principal` names the caller's own ARN (not its role, account or `*`).
    pub(crate) fn names_exactly(&self, p: &Principal) -> bool {
        match &self.principal {
            Some((false, ps)) => {
                !p.arn.is_empty() && ps.entries.iter().any(|(t, vs)| *t == PrincipalType::Aws && vs.contains(&p.arn))
            }
            _ => false,
        }
    }
}

const STATEMENT_FIELDS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

fn string_list(loc: Loc<'_>, field: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(loc.err(field, "is an empty list"));
            }
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(loc.err(field, format!("must be a string or a list of strings, found {other}"))),
                })
                .collect()
        }
        other => Err(loc.err(field, format!("must be a string or a list of strings, found {other}"))),
    }
}

fn valid_action(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    let Some((service, action)) = a.split_once(':') else { return false };
    !service.is_empty()
        && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !action.is_empty()
        && action.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'?' | b'-' | b'_' | b'.'))
}

fn parse_actions(loc: Loc<'_>, field: &str, v: &Value, negated: bool) -> Result<PatternList, PolicyError> {
    let raw = string_list(loc, field, v)?;
    let mut compiled = Vec::with_capacity(raw.len());
    for a in &raw {
        if !valid_action(a) {
            return Err(loc.err(
                field,
                format!("\"{a}\" is not an action: write service:Action (e.g. s3:GetObject, s3:Get*) or \"*\""),
            ));
        }
        compiled
            .push(Pattern::compile(a, Syntax { wildcards: true, variables: false }).map_err(|m| loc.err(field, m))?);
    }
    let any = compiled.iter().any(Pattern::is_any);
    Ok(PatternList { negated, raw, compiled, any })
}

fn parse_resources(
    loc: Loc<'_>,
    field: &str,
    v: &Value,
    negated: bool,
    variables: bool,
) -> Result<PatternList, PolicyError> {
    let raw = string_list(loc, field, v)?;
    let mut compiled = Vec::with_capacity(raw.len());
    for r in &raw {
        if r != "*" && !(r.starts_with("arn:") && r.matches(':').count() >= 5) {
            return Err(loc.err(
                field,
                format!("\"{r}\" is neither \"*\" nor an ARN (e.g. arn:aws:s3:::bucket or arn:aws:s3:::bucket/*)"),
            ));
        }
        compiled.push(Pattern::compile(r, Syntax { wildcards: true, variables }).map_err(|m| loc.err(field, m))?);
    }
    let any = compiled.iter().any(|p| p.is_any() && !p.has_vars());
    Ok(PatternList { negated, raw, compiled, any })
}

fn label(index: usize, sid: Option<&str>) -> String {
    match sid {
        Some(s) => format!("Statement[{index}] (Sid \"{s}\")"),
        None => format!("Statement[{index}]"),
    }
}

impl Statement {
    fn parse(index: usize, v: &Value, variables: bool) -> Result<Statement, PolicyError> {
        let Value::Object(map) = v else {
            return Err(PolicyError {
                statement: Some(label(index, None)),
                field: String::new(),
                message: "a statement must be a JSON object".into(),
            });
        };
        let sid = match map.get("Sid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(PolicyError {
                    statement: Some(label(index, None)),
                    field: "Sid".into(),
                    message: format!("must be a string, found {other}"),
                });
            }
        };
        let label = label(index, sid.as_deref());
        let loc = Loc { statement: Some(&label) };
        for k in map.keys() {
            if !STATEMENT_FIELDS.contains(&k.as_str()) {
                return Err(
                    loc.err(k, format!("unknown statement field; expected one of {}", STATEMENT_FIELDS.join(", ")))
                );
            }
        }
        let effect = match map.get("Effect") {
            Some(Value::String(s)) if s == "Allow" => Effect::Allow,
            Some(Value::String(s)) if s == "Deny" => Effect::Deny,
            Some(other) => return Err(loc.err("Effect", format!("must be \"Allow\" or \"Deny\", found {other}"))),
            None => return Err(loc.err("Effect", "is missing; add \"Effect\": \"Allow\" or \"Effect\": \"Deny\"")),
        };
        let principal = match (map.get("Principal"), map.get("NotPrincipal")) {
            (Some(_), Some(_)) => {
                return Err(loc.err("NotPrincipal", "a statement has Principal or NotPrincipal, not both"));
            }
            (Some(p), None) => Some((false, Principals::parse(loc, "Principal", p)?)),
            (None, Some(p)) => Some((true, Principals::parse(loc, "NotPrincipal", p)?)),
            (None, None) => None,
        };
        let action = match (map.get("Action"), map.get("NotAction")) {
            (Some(_), Some(_)) => return Err(loc.err("NotAction", "a statement has Action or NotAction, not both")),
            (Some(a), None) => parse_actions(loc, "Action", a, false)?,
            (None, Some(a)) => parse_actions(loc, "NotAction", a, true)?,
            (None, None) => return Err(loc.err("Action", "is missing; a statement needs Action or NotAction")),
        };
        let resource = match (map.get("Resource"), map.get("NotResource")) {
            (Some(_), Some(_)) => {
                return Err(loc.err("NotResource", "a statement has Resource or NotResource, not both"));
            }
            (Some(r), None) => Some(parse_resources(loc, "Resource", r, false, variables)?),
            (None, Some(r)) => Some(parse_resources(loc, "NotResource", r, true, variables)?),
            (None, None) => None,
        };
        let mut conditions = Vec::new();
        match map.get("Condition") {
            None => {}
            Some(Value::Object(ops)) => {
                for (op, keys) in ops {
                    let Value::Object(keys) = keys else {
                        return Err(loc.err(
                            &format!("Condition.{op}"),
                            "must be an object of condition keys to values, e.g. {\"aws:SourceIp\": \"10.0.0.0/8\"}",
                        ));
                    };
                    if keys.is_empty() {
                        return Err(loc.err(&format!("Condition.{op}"), "names no condition key"));
                    }
                    for (key, value) in keys {
                        conditions.push(Condition::parse(loc, op, key, value, variables)?);
                    }
                }
            }
            Some(other) => return Err(loc.err("Condition", format!("must be an object, found {other}"))),
        }
        Ok(Statement { sid, effect, principal, action, resource, conditions })
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(sid) = &self.sid {
            m.insert("Sid".into(), Value::String(sid.clone()));
        }
        m.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        if let Some((neg, p)) = &self.principal {
            m.insert(if *neg { "NotPrincipal" } else { "Principal" }.into(), p.raw.clone());
        }
        let list = |l: &PatternList| match l.raw.as_slice() {
            [one] => Value::String(one.clone()),
            many => Value::Array(many.iter().cloned().map(Value::String).collect()),
        };
        m.insert(if self.action.negated { "NotAction" } else { "Action" }.into(), list(&self.action));
        if let Some(r) = &self.resource {
            m.insert(if r.negated { "NotResource" } else { "Resource" }.into(), list(r));
        }
        if !self.conditions.is_empty() {
            let mut ops = Map::new();
            for c in &self.conditions {
                let entry = ops.entry(c.operator_raw.clone()).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(keys) = entry {
                    keys.insert(c.key_raw.clone(), c.raw.clone());
                }
            }
            m.insert("Condition".into(), Value::Object(ops));
        }
        Value::Object(m)
    }

    /// Is this statement a "public" grant (AWS S3 Block Public Access: "The meaning of public")?
    fn is_public(&self) -> bool {
        if self.effect != Effect::Allow {
            return false;
        }
        let everyone = match &self.principal {
            Some((false, p)) => p.reaches_the_public(),
            // NotPrincipal with Allow grants to everyone not listed, anonymous callers included.
            Some((true, _)) => true,
            None => false,
        };
        // Conditions AND: one genuine restriction keeps the grant from the public.
        everyone && !self.conditions.iter().any(crate::public::restricts_to_fixed_values)
    }
}

impl Policy {
    /// Parses a policy document from JSON text.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError::doc("", format!("the policy is not valid JSON: {e}")))?;
        Policy::from_value(v)
    }

    /// Parses a policy document from a JSON value (the server converts YAML configuration to one).
    pub fn from_value(v: Value) -> Result<Policy, PolicyError> {
        let Value::Object(map) = v else {
            return Err(PolicyError::doc("", "a policy must be a JSON object with Version and Statement"));
        };
        for k in map.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::doc(k, "unknown policy field; expected Version, Id and Statement"));
            }
        }
        let version = match map.get("Version") {
            None => None,
            Some(Value::String(s)) if s == VERSION_2012 || s == VERSION_2008 => Some(s.clone()),
            Some(other) => {
                return Err(PolicyError::doc(
                    "Version",
                    format!("must be \"{VERSION_2012}\" or \"{VERSION_2008}\", found {other}"),
                ));
            }
        };
        let id = match map.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(PolicyError::doc("Id", format!("must be a string, found {other}"))),
        };
        let variables = version.as_deref() == Some(VERSION_2012);
        let statements = match map.get("Statement") {
            None => return Err(PolicyError::doc("Statement", "is missing")),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, s)| Statement::parse(i, s, variables)).collect::<Result<_, _>>()?
            }
            Some(obj @ Value::Object(_)) => vec![Statement::parse(0, obj, variables)?],
            Some(other) => {
                return Err(PolicyError::doc(
                    "Statement",
                    format!("must be an object or a list of objects, found {other}"),
                ));
            }
        };
        Ok(Policy { version, id, statements })
    }

    /// The policy as a JSON value (see [`Policy::to_json`]).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(v) = &self.version {
            m.insert("Version".into(), Value::String(v.clone()));
        }
        if let Some(id) = &self.id {
            m.insert("Id".into(), Value::String(id.clone()));
        }
        m.insert("Statement".into(), Value::Array(self.statements.iter().map(Statement::to_value).collect()));
        Value::Object(m)
    }

    /// Canonical JSON: `Statement` always a list, single-element `Action`/`Resource` lists as strings,
    /// `Principal` and condition values as written. Parses back to an equal policy.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// True when the policy uses policy variables (`Version` 2012-10-17).
    pub fn has_variables(&self) -> bool {
        self.version.as_deref() == Some(VERSION_2012)
    }

    /// AWS "public" for a bucket policy: some `Allow` statement grants to `"*"` / `{"AWS": "*"}` (or uses
    /// `NotPrincipal`) without a condition that pins `aws:SourceIp` (not /0), `aws:SourceArn`,
    /// `aws:SourceVpc(e)`, `aws:SourceAccount`, `aws:SourceOwner`, `aws:PrincipalAccount`, `aws:PrincipalArn`,
    /// `aws:PrincipalOrgID`, `aws:userid`, `s3:DataAccessPointArn`… to fixed (wildcard-free) values.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(Statement::is_public)
    }

    /// Whether the policy could allow an anonymous caller anything: some `Allow` statement whose
    /// `Principal` reaches everyone (`"*"`, a `"*"` of any type, a `Federated` provider) or which uses
    /// `NotPrincipal`, whatever its actions, resources and conditions. When it cannot, an anonymous
    /// request is refused from its headers, before its body is read.
    pub fn may_allow_anonymous(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && match s.principal() {
                    Some((true, _)) => true,
                    Some((false, p)) => p.reaches_the_public(),
                    None => false,
                }
        })
    }

    /// Checks the rules of identity policies (user, role, session policies, boundaries): no `Principal` /
    /// `NotPrincipal`, and `Resource` or `NotResource` in every statement.
    pub fn validate_identity(&self) -> Result<(), PolicyError> {
        for (i, s) in self.statements.iter().enumerate() {
            let l = label(i, s.sid.as_deref());
            let loc = Loc { statement: Some(&l) };
            if let Some((neg, _)) = &s.principal {
                let f = if *neg { "NotPrincipal" } else { "Principal" };
                return Err(
                    loc.err(f, "an identity policy must not name a principal: it applies to whoever it is attached to")
                );
            }
            if s.resource.is_none() {
                return Err(
                    loc.err("Resource", "is missing; an identity policy statement needs Resource or NotResource")
                );
            }
        }
        Ok(())
    }

    /// Checks the rules of resource policies (bucket policies, role trust policies): `Principal` or
    /// `NotPrincipal` in every statement, and `NotPrincipal` only with `Deny` (AWS: "Using it with
    /// Allow is not supported"; it would grant every caller not listed, anonymous ones included).
    pub fn validate_resource(&self) -> Result<(), PolicyError> {
        for (i, s) in self.statements.iter().enumerate() {
            let l = label(i, s.sid.as_deref());
            let loc = Loc { statement: Some(&l) };
            match &s.principal {
                None => {
                    return Err(loc.err(
                        "Principal",
                        "is missing; a resource policy statement must say whom it applies to (\"Principal\": \"*\" or {\"AWS\": …})",
                    ));
                }
                Some((true, _)) if s.effect == Effect::Allow => {
                    return Err(loc.err(
                        "NotPrincipal",
                        "works only with \"Effect\": \"Deny\": an Allow with NotPrincipal would grant every caller not \
                         listed, anonymous ones included; name the callers in Principal, or allow \"*\" under a condition \
                         on aws:PrincipalArn",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Checks what a bucket policy needs beyond [`Policy::validate_resource`]: every `Resource` is `*` or
    /// names `bucket` or objects in it (AWS: "Policy has an invalid resource").
    pub fn validate_bucket_policy(&self, bucket: &str) -> Result<(), PolicyError> {
        self.validate_resource()?;
        let arn = format!("arn:aws:s3:::{bucket}");
        for (i, s) in self.statements.iter().enumerate() {
            let Some(r) = &s.resource else {
                let l = label(i, s.sid.as_deref());
                return Err(
                    Loc { statement: Some(&l) }.err("Resource", "is missing; a bucket policy statement needs Resource")
                );
            };
            for res in &r.raw {
                let ok = res == "*"
                    || res.starts_with("arn:aws:s3:::*")
                    || res
                        .strip_prefix(&arn)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('*'));
                if !ok {
                    let l = label(i, s.sid.as_deref());
                    return Err(Loc { statement: Some(&l) }.err(
                        if r.negated { "NotResource" } else { "Resource" },
                        format!("\"{res}\" is outside bucket \"{bucket}\": use {arn} or {arn}/…"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Policy::from_value(v).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Policy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> PolicyError {
        Policy::parse(json).expect_err("must be rejected")
    }

    #[test]
    fn statement_as_object_or_list() {
        let one = Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#)
            .expect("object statement");
        assert_eq!(one.statements.len(), 1);
        assert_eq!(one.version, None);
        assert!(!one.has_variables());
        let many = Policy::parse(
            r#"{"Version":"2012-10-17","Id":"x","Statement":[
                {"Sid":"a","Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
                {"Effect":"Deny","NotAction":"s3:GetObject","NotResource":"arn:aws:s3:::b/public/*"}]}"#,
        )
        .expect("list");
        assert_eq!(many.statements.len(), 2);
        assert_eq!(many.statements[0].sid.as_deref(), Some("a"));
        assert!(many.statements[1].action().is_negated());
        assert!(many.statements[1].resource().is_some_and(PatternList::is_negated));
    }

    #[test]
    fn errors_name_statement_and_field() {
        let e = err(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
               {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
               {"Sid":"x","Effect":"Allow","Action":"s3:GetObject","Resource":"bucket/*"}]}"#);
        assert_eq!(e.statement.as_deref(), Some("Statement[2] (Sid \"x\")"));
        assert_eq!(e.field, "Resource");
        assert!(e.to_string().starts_with("Statement[2] (Sid \"x\"): field Resource: \"bucket/*\" is neither"), "{e}");

        let e = err(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","NotAction":"s3:PutObject"}]}"#);
        assert_eq!((e.statement.as_deref(), e.field.as_str()), (Some("Statement[0]"), "NotAction"));
        let e = err(r#"{"Statement":[{"Action":"s3:GetObject","Resource":"*"}]}"#);
        assert_eq!(e.field, "Effect");
        let e = err(r#"{"Statement":[{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}]}"#);
        assert_eq!(e.field, "Effect");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]}"#);
        assert_eq!(e.field, "Action");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Action":"s3:Get Object","Resource":"*"}]}"#);
        assert_eq!(e.field, "Action");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#);
        assert_eq!(e.field, "Action");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Conditions":{}}]}"#);
        assert_eq!(e.field, "Conditions");
        let e = err(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLikes":{"a":"b"}}}]}"#,
        );
        assert_eq!(e.field, "Condition.StringLikes");
        assert!(e.message.contains("unknown condition operator"));
        let e = err(
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringLike":{"a":{"b":1}}}}]}"#,
        );
        assert_eq!(e.field, "Condition.StringLike.a");
        let e = err(r#"{"Version":"2012-10-17","Statements":[]}"#);
        assert_eq!((e.statement, e.field.as_str()), (None, "Statements"));
        let e = err(r#"{"Version":"2020-01-01","Statement":[]}"#);
        assert_eq!(e.field, "Version");
        let e = err(r#"{"Version":"2012-10-17"}"#);
        assert_eq!(e.field, "Statement");
        let e = err("{not json");
        assert!(e.to_string().starts_with("the policy is not valid JSON"), "{e}");
        let e =
            err(r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/*"},"Action":"s3:*"}]}"#);
        assert_eq!(e.field, "Principal.AWS");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Principal":{"Human":"x"},"Action":"s3:*"}]}"#);
        assert_eq!(e.field, "Principal");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Principal":"someone","Action":"s3:*"}]}"#);
        assert_eq!(e.field, "Principal");
        let e = err(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${x"}]}"#,
        );
        assert_eq!(e.field, "Resource");
        let e = err(r#"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#);
        assert_eq!(e.field, "Action");
    }

    #[test]
    fn condition_values_may_be_strings_numbers_bools() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{
              "NumericLessThan":{"s3:max-keys":100},"Bool":{"aws:SecureTransport":true},
              "StringEquals":{"s3:prefix":["a",1,false]}}}]}"#,
        )
        .expect("scalars");
        assert_eq!(p.statements[0].conditions().len(), 3);
    }

    #[test]
    fn round_trip_is_stable() {
        let src = r#"{"Version":"2012-10-17","Id":"i","Statement":[
            {"Sid":"s","Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/b"]},
             "Action":["s3:GetObject","s3:PutObject"],"NotResource":"arn:aws:s3:::b/${aws:username}/*",
             "Condition":{"StringLike":{"s3:prefix":["a*","b"]},"ForAnyValue:StringEquals":{"aws:TagKeys":"x"},
                          "NumericLessThan":{"s3:max-keys":10}}},
            {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#;
        let p = Policy::parse(src).expect("parse");
        let json = p.to_json();
        let q = Policy::parse(&json).expect("reparse");
        assert_eq!(p, q);
        assert_eq!(json, q.to_json());
        let via_serde: Policy = serde_json::from_str(&json).expect("serde");
        assert_eq!(via_serde, p);
        assert_eq!(serde_json::to_string(&p).expect("serialize"), json);
        assert!(serde_json::from_str::<Policy>(r#"{"Statement":[{"Effect":"Maybe"}]}"#).is_err());
    }

    #[test]
    fn validation_by_policy_type() {
        let id = Policy::parse(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#)
            .expect("parse");
        assert_eq!(id.validate_identity().expect_err("principal").field, "Principal");
        let id = Policy::parse(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#).expect("parse");
        assert_eq!(id.validate_identity().expect_err("resource").field, "Resource");
        assert_eq!(id.validate_resource().expect_err("principal").field, "Principal");
        let bucket = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
        )
        .expect("parse");
        assert!(bucket.validate_resource().is_ok());
        // NotPrincipal only denies: an Allow with it would grant everyone not listed.
        let not_principal = |effect: &str| {
            Policy::parse(&format!(
                r#"{{"Statement":[{{"Effect":"{effect}","NotPrincipal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}]}}"#
            ))
            .expect("parse")
        };
        assert_eq!(not_principal("Allow").validate_resource().expect_err("allow").field, "NotPrincipal");
        assert_eq!(not_principal("Allow").validate_bucket_policy("b").expect_err("allow").field, "NotPrincipal");
        assert!(not_principal("Deny").validate_bucket_policy("b").is_ok());
        // Hostile spellings: everyone as the exception list, and a repeated Effect whose last (the one
        // evaluated) is Allow.
        let everyone = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","NotPrincipal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#,
        )
        .expect("parse");
        assert_eq!(everyone.validate_bucket_policy("b").expect_err("allow").field, "NotPrincipal");
        let repeated = Policy::parse(
            r#"{"Statement":[{"Effect":"Deny","Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#,
        )
        .expect("parse");
        assert_eq!(repeated.statements[0].effect, Effect::Allow, "the value evaluated");
        assert_eq!(repeated.validate_bucket_policy("b").expect_err("allow").field, "NotPrincipal");
        assert_eq!(bucket.validate_bucket_policy("pics").expect_err("other bucket").field, "Resource");
        assert!(bucket.validate_bucket_policy("other").is_ok());
    }

    fn public(json: &str) -> bool {
        Policy::parse(json).expect("parse").is_public()
    }

    #[test]
    fn the_meaning_of_public() {
        let stmt = |principal: &str, cond: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{cond}}}]}}"#
            )
        };
        assert!(public(&stmt(r#""*""#, "")));
        assert!(public(&stmt(r#"{"AWS":"*"}"#, "")));
        assert!(public(&stmt(r#"{"AWS":["*"]}"#, "")));
        assert!(!public(&stmt(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, "")));
        assert!(!public(&stmt(r#""*""#, r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::/0"]}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#)));
        assert!(!public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}"#)));
        assert!(!public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}"#)));
        assert!(!public(&stmt(
            r#""*""#,
            r#","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:1:t"}}"#
        )));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"StringLike":{"aws:SourceAccount":"*"}}"#)));
        assert!(!public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}"#)));
        assert!(public(&stmt(
            r#""*""#,
            r#","Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"111122223333"}}"#
        )));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"s3:prefix":"x"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#)));
        // Security issue 12, item 5: conditions that anonymous callers satisfy from anywhere.
        assert!(public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"aws:userid":"anonymous"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"StringEqualsIgnoreCase":{"aws:userid":"Anonymous"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"IpAddress":{"aws:SourceIp":"2000::/3"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"StringEqualsIgnoreCase":{"aws:SourceVpc":"vpc-1"}}"#)));
        assert!(public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"aws:SourceVpc":"${aws:username}"}}"#)));
        assert!(public(&stmt(r#"{"CanonicalUser":"*"}"#, "")));
        assert!(!public(&stmt(r#""*""#, r#","Condition":{"StringEquals":{"aws:userid":"alice"}}"#)));
        assert!(!public(r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#));
        assert!(public(
            r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::1:user/x"},"Action":"s3:*","Resource":"*"}]}"#
        ));
        assert!(!public(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#));
    }

    #[test]
    fn principal_matching() {
        let ps = |json: &str| {
            let v: Value = serde_json::from_str(json).expect("json");
            Principals::parse(Loc { statement: None }, "Principal", &v).expect("principal")
        };
        let alice = Principal::user("111122223333", "alice");
        let root = Principal::root("111122223333");
        let session = Principal::assumed_role("111122223333", "r", "s");
        let anon = Principal::anonymous();
        assert!(ps(r#""*""#).names(&anon, Effect::Allow));
        assert!(ps(r#"{"AWS":"*"}"#).names(&anon, Effect::Allow));
        assert!(!ps(r#"{"AWS":"111122223333"}"#).names(&anon, Effect::Deny));
        // An account in an Allow delegates: it grants the root only; in a Deny it covers everyone in it.
        assert!(ps(r#"{"AWS":"111122223333"}"#).names(&root, Effect::Allow));
        assert!(!ps(r#"{"AWS":"111122223333"}"#).names(&alice, Effect::Allow));
        assert!(ps(r#"{"AWS":"111122223333"}"#).names(&alice, Effect::Deny));
        assert!(ps(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#).names(&session, Effect::Deny));
        assert!(ps(r#"{"AWS":"arn:aws:iam::111122223333:role/r"}"#).names(&session, Effect::Allow));
        assert!(
            ps(r#"{"AWS":["arn:aws:iam::1:user/x","arn:aws:sts::111122223333:assumed-role/r/s"]}"#)
                .names(&session, Effect::Allow)
        );
        assert!(!ps(r#"{"AWS":"arn:aws:iam::111122223333:user/bob"}"#).names(&alice, Effect::Allow));
        assert!(!ps(r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/x"}"#).names(&alice, Effect::Allow));
        let web = Principal::web_identity("111122223333", "arn:aws:iam::111122223333:oidc-provider/x", "sub");
        assert!(ps(r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/x"}"#).names(&web, Effect::Allow));
        let mut svc = Principal::root("111122223333");
        svc.aliases.push("logging.s3.amazonaws.com".into());
        assert!(ps(r#"{"Service":["logging.s3.amazonaws.com"]}"#).names(&svc, Effect::Allow));
    }
}
