//! The one account kura has, and the ARNs of the principals in it.

/// The account id kura reports in every ARN (there is one account per kura).
pub const ACCOUNT: &str = "000000000000";

/// `arn:aws:sts::000000000000:assumed-role/ROLE/SESSION`.
pub fn assumed_role_arn(role: &str, session: &str) -> String {
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}")
}

/// `arn:aws:iam::000000000000:role/NAME`.
pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// `AROA` + 17 characters derived from the role name (stable across replicas and restarts).
pub fn role_id(name: &str) -> String {
    use sha2::Digest as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = sha2::Sha256::digest(name.as_bytes());
    let tail: String = digest.iter().take(17).map(|b| CHARS[usize::from(b % 32)] as char).collect();
    format!("AROA{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_are_stable_and_aws_shaped() {
        assert_eq!(role_id("ci"), role_id("ci"));
        assert_ne!(role_id("ci"), role_id("cd"));
        assert_eq!(role_id("ci").len(), 21);
        assert!(role_id("ci").starts_with("AROA"));
    }
}
