//! The bodies of kura's fuzz targets, as plain functions: `fuzz_targets/*.rs` call them under
//! libFuzzer, and `tests/corpus.rs` replays the committed corpus through them in an ordinary test.
//!
//! Each `run` takes arbitrary bytes and must never panic: the code under test returns errors for bad
//! input. A few targets also assert properties that hold for every input (stated on each `run`).

pub mod config_yaml;
pub mod gate;
pub mod policy_json;
pub mod post_policy;
pub mod sigv4_parse;
pub mod tokens;
pub mod xml_bodies;

/// A target's name (its `fuzz_targets/NAME.rs` binary and `corpus/NAME/` directory) and body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("sigv4_parse", sigv4_parse::run),
    ("gate", gate::run),
    ("post_policy", post_policy::run),
    ("policy_json", policy_json::run),
    ("config_yaml", config_yaml::run),
    ("xml_bodies", xml_bodies::run),
    ("tokens", tokens::run),
];
