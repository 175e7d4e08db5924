//! Fuzz target `policy_json`: see [`kura_fuzz::policy_json`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::policy_json::run(data));
