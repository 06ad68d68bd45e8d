//! `cargo fuzz run emulator_request`: [`reimage_fuzz::emulator_request`] under libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reimage_fuzz::emulator_request(data));
