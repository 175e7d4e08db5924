//! Browser POST uploads: the policy document (s3s's `PostPolicy`, base64 as in the form's `policy`
//! field, or JSON) and kura's `${filename}` substitution in the start of the multipart body.
//!
//! Input: either a policy (base64 or JSON) or the start of a `multipart/form-data` body; every input is
//! tried as each.

use kura_server::http::post_upload::{file_name, with_key_substituted};
use s3s::post_policy::PostPolicy;

/// Parses the input as a POST policy (base64, then JSON), finds the `file` part's name in it as a
/// multipart body and substitutes it into the `key` field. Checks that a substitution changes the
/// body by exactly the difference between the name and `${filename}`.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for policy in [PostPolicy::from_base64(text.trim()), PostPolicy::from_json(text)].into_iter().flatten() {
            let _ = policy.content_length_range();
            let _ = format!("{policy:?}");
        }
    }
    if let Some(name) = file_name(data) {
        let out = with_key_substituted(data.to_vec(), &name);
        if out.len() != data.len() {
            assert_eq!(
                out.len() + "${filename}".len(),
                data.len() + name.len(),
                "substitution changed the length wrongly"
            );
        }
    }
    let _ = with_key_substituted(data.to_vec(), "a.txt");
}
