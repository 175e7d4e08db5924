//! The attack suite: each file replays one class of attack from the security review (issue 12) against a
//! real `kura server` and asserts the exact refusal and that nothing changed. Keep it growing: every
//! hole found becomes a test here before it is fixed.

mod admin_escalation;
mod bodies;
mod condition_keys;
mod connections;
mod copy_source;
mod differential;
mod digests;
mod host_names;
mod implied_actions;
mod keys;
mod kms_digests;
mod post_forms;
mod presign_expiry;
mod reload;
mod request_time;
mod sigv2;
mod tickets;
mod unsigned_headers;
mod versions;
