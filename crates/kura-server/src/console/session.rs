//! Console sessions: sign-in exchanges an access key and secret key for a session record in the
//! metadata store (`console-session/<id>`: the access key, times, the CSRF token and a keyed tag of the
//! secret it was opened with, never the secret) and an HttpOnly cookie holding the record's id sealed
//! with the session keyring, so sign-out works on every replica and a cookie cannot be made or edited.
//! Every call re-reads the record and the principal: a session whose user was deleted, disabled or
//! given another secret ends at its next call.

use crate::base::caller::Caller;
use crate::base::credentials::Secret;
use crate::iam::IamState;
use crate::identity::session::Keyring;
use kura_store::MetaStore;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::ConsoleError;

/// The cookie's name.
pub const COOKIE: &str = "kura-console";
/// Record kind of sessions (id = the session id).
pub const RECORD: &str = "console-session";
/// How long a session lives (the cookie's Max-Age).
pub const LIFETIME_SECS: u64 = 3600;
/// Live sessions one access key may hold; signing in once more ends the oldest.
pub const MAX_PER_KEY: usize = 20;
/// The header that must repeat the session's CSRF token.
pub const CSRF_HEADER: &str = "x-kura-csrf";
/// Length of session ids and CSRF tokens (base32 characters: 130 bits).
const ID_LEN: usize = 26;
const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Tag domains (a cookie's tag can never stand for a secret's).
const COOKIE_DOMAIN: &str = "kura-console-cookie";
const SECRET_DOMAIN: &str = "kura-console-secret";

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The access key that signed in (root's or a user's).
    pub access_key: String,
    /// When (Unix seconds).
    pub created: u64,
    /// When it ends (Unix seconds).
    pub expires: u64,
    /// The CSRF token every call must repeat in `X-Kura-Csrf`.
    pub csrf: String,
    /// [`Keyring::tag`] of the secret key at sign-in: a changed key ends the session.
    pub secret_tag: String,
}

/// An open session: its record and who it acts as now.
pub struct Session {
    /// The record's id.
    pub id: String,
    /// The record.
    pub record: SessionRecord,
    /// Root or the user.
    pub caller: Caller,
    /// The principal's current secret (what the console signs with).
    pub secret: Secret,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("access_key", &self.record.access_key).finish_non_exhaustive()
    }
}

/// The sign-in body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The access key id.
    pub access_key_id: String,
    /// The secret key (this type has no `Debug`: it is never printed).
    pub secret_access_key: String,
}

fn random_id() -> String {
    let mut rng = rand::rng();
    (0..ID_LEN).map(|_| ID_CHARS[rng.random_range(0..ID_CHARS.len())] as char).collect()
}

fn is_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| ID_CHARS.contains(&b))
}

/// Equality of two secrets in time independent of where they differ (digests of equal length are
/// compared in constant time).
fn same_secret(a: &str, b: &str) -> bool {
    let da = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, a.as_bytes());
    let db = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(da.as_ref(), db.as_ref()).is_ok()
}

/// The caller and current secret of a long-term access key (root or an enabled user).
fn principal(state: &IamState, access_key: &str) -> Option<(Caller, Secret)> {
    if access_key == state.root.access_key {
        return Some((Caller::Root { access_key: access_key.to_owned() }, state.root.secret_key.clone()));
    }
    let user = state.user(access_key).filter(|u| u.enabled)?;
    Some((Caller::User { access_key: access_key.to_owned() }, user.secret.clone()))
}

/// Checks a sign-in: a temporary or ticket key is refused as such; an unknown key and a wrong secret
/// are the same refusal, and cost the same time.
pub fn verify(state: &IamState, input: &SignIn) -> Result<(Caller, Secret), ConsoleError> {
    let key = input.access_key_id.as_str();
    if Keyring::is_temporary(key) || Keyring::is_ticket(key) {
        return Err(ConsoleError::NotLongTermKey);
    }
    match principal(state, key) {
        Some((caller, secret)) if same_secret(secret.expose(), &input.secret_access_key) => Ok((caller, secret)),
        Some(_) => Err(ConsoleError::WrongKeys),
        None => {
            // The same work as a known key, so timing does not tell which keys exist.
            let _ = same_secret("kura-console-no-such-key", &input.secret_access_key);
            Err(ConsoleError::WrongKeys)
        }
    }
}

/// Stores a new session for `caller` (whose current secret is `secret`) and returns it with its
/// cookie value; ends the oldest sessions of the key beyond [`MAX_PER_KEY`] and deletes expired
/// records met on the way.
pub async fn open_new(
    meta: &dyn MetaStore,
    keyring: &Keyring,
    (caller, secret): (Caller, Secret),
    now: u64,
) -> Result<(Session, String), ConsoleError> {
    let access_key = caller.access_key().unwrap_or_default().to_owned();
    let mut live: Vec<(u64, String)> = Vec::new();
    for (id, bytes) in meta.list_records(RECORD).await? {
        match serde_json::from_slice::<SessionRecord>(&bytes) {
            Ok(r) if r.expires > now => {
                if r.access_key == access_key {
                    live.push((r.created, id));
                }
            }
            _ => {
                meta.delete_record(RECORD, &id).await?;
            }
        }
    }
    live.sort();
    let excess = (live.len() + 1).saturating_sub(MAX_PER_KEY);
    for (_, id) in live.iter().take(excess) {
        meta.delete_record(RECORD, id).await?;
    }
    let record = SessionRecord {
        access_key,
        created: now,
        expires: now + LIFETIME_SECS,
        csrf: random_id(),
        secret_tag: keyring.tag(SECRET_DOMAIN, secret.expose().as_bytes()),
    };
    let id = random_id();
    let bytes = serde_json::to_vec(&record).map_err(|e| ConsoleError::InvalidRequest(e.to_string()))?;
    meta.put_record(RECORD, &id, bytes).await?;
    let cookie = format!("{id}.{}", keyring.tag(COOKIE_DOMAIN, id.as_bytes()));
    Ok((Session { id, record, caller, secret }, cookie))
}

/// The session id a cookie value seals, if it is ours and unedited.
pub fn unseal(keyring: &Keyring, cookie: &str) -> Option<String> {
    let (id, tag) = cookie.split_once('.')?;
    (is_id(id) && keyring.check_tag(COOKIE_DOMAIN, id.as_bytes(), tag)).then(|| id.to_owned())
}

/// The value of the one `kura-console` cookie of a request (`Err`: several, which a page of a sibling
/// domain can plant; the console then trusts none).
pub fn cookie_of(headers: &http::HeaderMap) -> Result<Option<&str>, ConsoleError> {
    let mut found = None;
    for header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else { continue };
            if name.trim() == COOKIE {
                if found.is_some() {
                    return Err(ConsoleError::NotSignedIn(
                        "more than one kura-console cookie was sent: clear this site's cookies and sign in again",
                    ));
                }
                found = Some(value.trim());
            }
        }
    }
    Ok(found)
}

/// The session of a request's cookie, as it stands now: `NotSignedIn` without a cookie, with one that
/// is not ours, when the record is gone or expired, or when its principal no longer exists with the
/// same secret (the record is then deleted).
pub async fn current(
    meta: &dyn MetaStore,
    state: &IamState,
    headers: &http::HeaderMap,
    now: u64,
) -> Result<Session, ConsoleError> {
    let not_signed_in = || ConsoleError::NotSignedIn("sign in first: this request has no console session");
    let cookie = cookie_of(headers)?.filter(|c| !c.is_empty()).ok_or_else(not_signed_in)?;
    let keyring = &state.identity.keyring;
    let id = unseal(keyring, cookie).ok_or_else(not_signed_in)?;
    let bytes = meta.get_record(RECORD, &id).await?.ok_or_else(not_signed_in)?;
    let Ok(record) = serde_json::from_slice::<SessionRecord>(&bytes) else {
        meta.delete_record(RECORD, &id).await?;
        return Err(not_signed_in());
    };
    if record.expires <= now {
        meta.delete_record(RECORD, &id).await?;
        return Err(ConsoleError::NotSignedIn("the console session has expired: sign in again"));
    }
    match principal(state, &record.access_key) {
        Some((caller, secret)) if keyring.check_tag(SECRET_DOMAIN, secret.expose().as_bytes(), &record.secret_tag) => {
            Ok(Session { id, record, caller, secret })
        }
        _ => {
            meta.delete_record(RECORD, &id).await?;
            Err(ConsoleError::NotSignedIn(
                "the console session ended: its access key was removed, disabled or given another secret",
            ))
        }
    }
}

/// Whether the request repeats the session's CSRF token (constant time).
pub fn check_csrf(session: &Session, headers: &http::HeaderMap) -> Result<(), ConsoleError> {
    let mut values = headers.get_all(CSRF_HEADER).iter();
    let (Some(sent), None) = (values.next(), values.next()) else { return Err(ConsoleError::InvalidCsrfToken) };
    let expected = session.record.csrf.as_bytes();
    if sent.as_bytes().len() == expected.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), expected).is_ok()
    {
        Ok(())
    } else {
        Err(ConsoleError::InvalidCsrfToken)
    }
}

/// Ends a session (sign-out).
pub async fn end(meta: &dyn MetaStore, id: &str) -> Result<(), ConsoleError> {
    meta.delete_record(RECORD, id).await?;
    Ok(())
}

/// Deletes expired (and unreadable) session records; returns how many.
///
/// # Errors
/// The metadata store's.
pub async fn sweep_expired(meta: &dyn MetaStore, now: u64) -> kura_store::StoreResult<usize> {
    let mut removed = 0;
    for (id, bytes) in meta.list_records(RECORD).await? {
        let live = serde_json::from_slice::<SessionRecord>(&bytes).is_ok_and(|r| r.expires > now);
        if !live {
            meta.delete_record(RECORD, &id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The `Set-Cookie` value of a new session (`secure`: the page was served over HTTPS).
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path={}; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECS}{secure}", super::PREFIX)
}

/// The `Set-Cookie` value that clears the cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0{secure}", super::PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_unseal_only_when_ours_and_unedited() {
        let ring = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        let id = random_id();
        let cookie = format!("{id}.{}", ring.tag(COOKIE_DOMAIN, id.as_bytes()));
        assert_eq!(unseal(&ring, &cookie), Some(id.clone()));
        let other = random_id();
        let forged = cookie.replacen(&id, &other, 1);
        assert_eq!(unseal(&ring, &forged), None, "another id under the same tag");
        // A secret's tag is no cookie, even for the same bytes.
        assert_eq!(unseal(&ring, &format!("{id}.{}", ring.tag(SECRET_DOMAIN, id.as_bytes()))), None);
        assert_eq!(unseal(&ring, "garbage"), None);
        assert_eq!(unseal(&ring, &format!("../x.{}", ring.tag(COOKIE_DOMAIN, b"../x"))), None, "not an id");
        let foreign = Keyring::parse(&Keyring::new_key_line()).expect("ring");
        assert_eq!(unseal(&foreign, &cookie), None);
    }

    #[test]
    fn one_cookie_is_read_and_two_are_refused() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, "a=1; kura-console=abc; b=2".parse().expect("header"));
        assert_eq!(cookie_of(&headers).expect("one"), Some("abc"));
        headers.append(http::header::COOKIE, "kura-console=def".parse().expect("header"));
        assert!(cookie_of(&headers).is_err());
        assert_eq!(cookie_of(&http::HeaderMap::new()).expect("none"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("v", true);
        assert_eq!(c, "kura-console=v; Path=/kura/console; HttpOnly; SameSite=Strict; Max-Age=3600; Secure");
        assert_eq!(clear_cookie(false), "kura-console=; Path=/kura/console; HttpOnly; SameSite=Strict; Max-Age=0");
    }
}
