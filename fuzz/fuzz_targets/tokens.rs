//! Fuzz target `tokens`: see [`kura_fuzz::tokens`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::tokens::run(data));
