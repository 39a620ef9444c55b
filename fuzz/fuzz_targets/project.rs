//! A project file: opened, checked and validated.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keylabel::fuzzing::project_file(data));
