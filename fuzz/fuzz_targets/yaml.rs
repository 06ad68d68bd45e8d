//! `cargo fuzz run yaml`: [`reimage_fuzz::yaml`] under libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reimage_fuzz::yaml(data));
