//! A labels file for `import-labels`: CSV (first byte even) or JSON Lines (odd).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&kind, rest)) = data.split_first() {
        keylabel::fuzzing::labels(rest, kind % 2 == 1);
    }
});
