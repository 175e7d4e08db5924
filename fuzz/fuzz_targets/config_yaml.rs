//! Fuzz target `config_yaml`: see [`kura_fuzz::config_yaml`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kura_fuzz::config_yaml::run(data));
