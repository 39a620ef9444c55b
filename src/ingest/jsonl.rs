//! Reading JSON Lines: one object per line, for sample rows and for imported labels.

use std::io::BufRead;

use serde_json::{Map, Value};

use super::images::io_reason;

/// One line read with a bound on its length.
enum Line {
    End,
    /// The line is in the buffer.
    Read,
    /// The line was longer than the bound: this many bytes were passed over, not kept.
    TooLong(usize),
}

/// Reads up to and including the next `\n` into `buf`, keeping at most `limit` bytes: the
/// rest of a longer line is read past without being stored, so memory stays bounded
/// whatever the file holds.
fn read_line_bounded(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Line> {
    let mut total = 0usize;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(match total {
                0 => Line::End,
                n if n > limit => Line::TooLong(n),
                _ => Line::Read,
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if total + take <= limit {
            buf.extend_from_slice(&chunk[..take]);
        } else {
            buf.clear();
        }
        total += take;
        reader.consume(take);
        if done {
            return Ok(if total > limit {
                Line::TooLong(total)
            } else {
                Line::Read
            });
        }
    }
}

/// Calls `each(line, object)` for every line of `file` that holds a JSON object, and
/// `each(line, Err(reason))` for every line that does not (invalid UTF-8, invalid JSON, a
/// value that is not an object, longer than [`super::MAX_ROW_BYTES`]). Blank lines are
/// skipped; a byte-order mark opening the file is ignored. Line numbers count from 1.
/// Fails only when the file cannot be read on.
pub(super) fn for_each_object(
    mut reader: impl BufRead,
    mut each: impl FnMut(u64, Result<Map<String, Value>, String>),
) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let read = read_line_bounded(&mut reader, &mut buf, super::MAX_ROW_BYTES)
            .map_err(|e| format!("cannot read past line {line}: {}", io_reason(&e)))?;
        line += 1;
        match read {
            Line::End => return Ok(()),
            Line::TooLong(n) => {
                each(
                    line,
                    Err(format!("line {line}: {}", super::row_too_long(n))),
                );
                continue;
            }
            Line::Read => {}
        }
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
