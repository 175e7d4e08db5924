//! Fuzz target `sigv4_parse`: see [`kura_fuzz::sigv4_parse`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::sigv4_parse::run(data));
