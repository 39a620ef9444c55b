//! A box file for a detect project's `import-labels`: the first byte picks COCO JSON (0
//! mod 3), Pascal VOC XML (1) or a YOLO label file (2).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&kind, rest)) = data.split_first() {
        keylabel::fuzzing::boxes(rest, kind);
    }
});
