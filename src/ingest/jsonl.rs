//! Reading JSON Lines: one object per line, for sample rows and for imported labels.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::images::io_reason;

/// Calls `each(line, object)` for every line of `file` that holds a JSON object, and
/// `each(line, Err(reason))` for every line that does not (invalid UTF-8, invalid JSON, a
/// value that is not an object). Blank lines are skipped; a byte-order mark opening the
/// file is ignored. Line numbers count from 1. Fails only when the file cannot be read on.
pub(super) fn for_each_object(
    mut reader: impl BufRead,
    mut each: impl FnMut(u64, Result<Map<String, Value>, String>),
) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("cannot read past line {line}: {}", io_reason(&e)))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let bytes = if line == 1 {
            buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf)
        } else {
            &buf[..]
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            each(line, Err(format!("line {line}: invalid UTF-8")));
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => each(line, Ok(object)),
            Ok(_) => each(line, Err(format!("line {line}: not a JSON object"))),
            Err(e) => each(line, Err(format!("line {line}: invalid JSON: {e}"))),
        }
    }
}
