//! `cargo fuzz run user_data`: [`reimage_fuzz::user_data`] under libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reimage_fuzz::user_data(data));
