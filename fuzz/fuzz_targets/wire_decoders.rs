//! `cargo fuzz run wire_decoders`: [`reimage_fuzz::wire_decoders`] under libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reimage_fuzz::wire_decoders(data));
