//! Fuzz target `post_policy`: see [`kura_fuzz::post_policy`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::post_policy::run(data));
