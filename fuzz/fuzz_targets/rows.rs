//! Sample rows of a CSV file (first byte even) or a JSON Lines file (odd).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&kind, rest)) = data.split_first() {
        keylabel::fuzzing::table(rest, kind % 2 == 1);
    }
});
