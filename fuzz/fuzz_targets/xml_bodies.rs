//! Fuzz target `xml_bodies`: see [`kura_fuzz::xml_bodies`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::xml_bodies::run(data));
