//! Fuzz target `gate`: see [`kura_fuzz::gate`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::gate::run(data));
