//! `schema.pbtxt`: a tensorflow_metadata `Schema` in protobuf text format, as
//! `ImportSchemaGen` and TensorFlow Data Validation read it.
//!
//! A feature present in every record with one value gets `presence { min_fraction: 1.0 }`
//! and `shape { dim { size: 1 } }` (what TFDV infers for such data); one that is sometimes
//! absent gets `presence { min_count: 1 }` and `value_count { min: 1 max: 1 }`; multi-label
//! features get `value_count { min: 1 max: K }`, a detect image's box features
//! `value_count { min: 0 max: B }` (B the most boxes on one image; an image may have none).
//! Class names and image formats are named string domains; the label index has
//! `int_domain { min: 0 max: K-1 }`, a box's label-map id `int_domain { min: 1 max: K }`,
//! normalised box edges `float_domain { min: 0.0 max: 1.0 }`.

use std::fmt::Write;

use super::features::{Domain, Layout};

/// The schema text for `layout` over `records` exported records.
pub fn schema_pbtxt(layout: &Layout, records: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# tensorflow_metadata Schema (text format) written by keylabel {}.",
        env!("CARGO_PKG_VERSION")
    );
    let mut domains: Vec<(&str, &[String])> = Vec::new();
    for f in &layout.features {
        if f.present == 0 {
            continue;
        }
        let always = f.present == records;
        s.push_str("feature {\n");
        let _ = writeln!(s, "  name: {}", quote(&f.key));
        let _ = writeln!(s, "  type: {}", f.ty.schema_name());
        match &f.domain {
            Some(Domain::Strings { name, values }) => {
                let _ = writeln!(s, "  domain: {}", quote(name));
                if !domains.iter().any(|(n, _)| n == name) {
                    domains.push((name, values));
                }
            }
            Some(Domain::IntRange { min, max }) => {
                let _ = writeln!(s, "  int_domain {{\n    min: {min}\n    max: {max}\n  }}");
            }
            Some(Domain::FloatRange { min, max }) => {
                let _ = writeln!(s, "  float_domain {{\n    min: {min:?}");
                if let Some(max) = max {
                    let _ = writeln!(s, "    max: {max:?}");
                }
                s.push_str("  }\n");
            }
            None => {}
        }
        if always {
            s.push_str("  presence {\n    min_fraction: 1.0\n    min_count: 1\n  }\n");
        } else {
            s.push_str("  presence {\n    min_count: 1\n  }\n");
        }
        match f.max_values {
            Some(max) => {
                let min = f.min_values;
                let _ = writeln!(s, "  value_count {{\n    min: {min}\n    max: {max}\n  }}");
            }
            None if always => s.push_str("  shape {\n    dim {\n      size: 1\n    }\n  }\n"),
            None => s.push_str("  value_count {\n    min: 1\n    max: 1\n  }\n"),
        }
        s.push_str("}\n");
    }
    for (name, values) in domains {
        s.push_str("string_domain {\n");
        let _ = writeln!(s, "  name: {}", quote(name));
        for v in values {
            let _ = writeln!(s, "  value: {}", quote(v));
        }
        s.push_str("}\n");
    }
    s
}

/// `label_map.pbtxt` of a detect export: a `StringIntLabelMap` in protobuf text format, as
/// the TensorFlow Object Detection API's `label_map_util` reads it; ids from 1 in label-map
/// order (0 is the API's background class).
pub fn label_map_pbtxt(label_map: &[String]) -> String {
    let mut s = String::new();
    for (i, name) in label_map.iter().enumerate() {
        let _ = writeln!(s, "item {{\n  id: {}\n  name: {}\n}}", i + 1, quote(name));
    }
    s
}

/// A protobuf text-format string literal: printable ASCII as is, everything else as octal
/// escapes of its UTF-8 bytes (the form protobuf's own `CEscape` writes).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for &b in text.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_text_format_needs() {
        assert_eq!(quote("cat"), "\"cat\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("é"), "\"\\303\\251\"");
    }
}
