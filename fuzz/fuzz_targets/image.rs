//! An image file as import, validation and the window read it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keylabel::fuzzing::image(data));
