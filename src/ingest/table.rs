//! Table rows: CSV / TSV and JSON Lines files, one row one text sample.
//!
//! The file is read on its own thread and handed over in batches to the thread that writes
//! them, so parsing and SQLite overlap; memory holds at most two batches, whatever the
//! file's size.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};

use serde_json::{Map, Value};

use super::images::io_reason;
use super::{ImportOptions, Unreadable};
use crate::project::{NewSample, SampleKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableFormat {
    Csv(u8),
    JsonLines,
}

/// The table format a file's name announces; only such files are imported as rows.
pub(crate) fn table_format(path: &Path) -> Option<TableFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(TableFormat::Csv(b',')),
        "tsv" | "tab" => Some(TableFormat::Csv(b'\t')),
        "jsonl" | "ndjson" => Some(TableFormat::JsonLines),
        _ => None,
    }
}

/// A rough count of a table's rows (its lines), for the progress total.
pub(crate) fn estimate_rows(path: &Path, format: TableFormat) -> u64 {
    let Ok(file) = File::open(path) else {
        return 0;
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut lines = 0u64;
    let mut last = b'\n';
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(c) => c,
        };
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk[chunk.len() - 1];
        let n = chunk.len();
        reader.consume(n);
    }
    if last != b'\n' {
        lines += 1;
    }
    match format {
        TableFormat::Csv(_) => lines.saturating_sub(1),
        TableFormat::JsonLines => lines,
    }
}

/// Rows per transaction. Larger than the image batches: every row adds a random key to the
/// content-hash index, and each commit rewrites the index pages it touched, so fewer, larger
/// commits write far less. Two batches in memory stay well under 200 MB.
pub(crate) const TABLE_BATCH: usize = 50_000;

/// What the reader thread hands to the writer: a batch of rows, the rows that could not be
/// imported, and how many rows were read for both.
#[derive(Default)]
pub(crate) struct Chunk {
    pub rows: Vec<NewSample>,
    pub bad: Vec<Unreadable>,
    pub read: u64,
    /// The feature columns in the file's order (CSV; in the first chunk only).
    pub columns: Vec<String>,
}

/// Reads `path` and sends its rows in batches. A problem with the whole file (cannot be
/// opened, no text column) is returned as the reason, before any row is sent.
pub(crate) fn read_table(
    path: &Path,
    shown: &str,
    stored: &str,
    format: TableFormat,
    options: &ImportOptions,
    tx: &SyncSender<Chunk>,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| io_reason(&e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err("is a folder, not a file".into());
    }
    read_rows(file, shown, stored, format, options, tx)
}

/// [`read_table`] on an open reader.
pub(crate) fn read_rows(
    file: impl std::io::Read,
    shown: &str,
    stored: &str,
    format: TableFormat,
    options: &ImportOptions,
    tx: &SyncSender<Chunk>,
) -> Result<(), String> {
    let mut rows = RowSink {
        shown,
        stored,
        tx,
        chunk: Chunk::default(),
        scratch: Vec::new(),
    };
    let result = match format {
        TableFormat::Csv(delimiter) => read_csv(file, delimiter, options, &mut rows),
        TableFormat::JsonLines => read_jsonl(file, options, &mut rows),
    };
    rows.flush();
    result
}

struct RowSink<'a> {
    shown: &'a str,
    stored: &'a str,
    tx: &'a SyncSender<Chunk>,
    chunk: Chunk,
    scratch: Vec<u8>,
}

impl RowSink<'_> {
    fn bad(&mut self, reason: String) {
        self.chunk.read += 1;
        self.chunk.bad.push(Unreadable {
            path: self.shown.to_string(),
            reason,
        });
    }

    fn row(&mut self, row: u64, id: Option<String>, text: String, features: Map<String, Value>) {
        self.chunk.read += 1;
        let hash = row_hash_with(&mut self.scratch, &text, &features);
        let name = id.unwrap_or_else(|| format!("{}#{row}", self.stored));
        self.chunk.rows.push(NewSample {
            kind: SampleKind::Text,
            name,
            path: self.stored.to_string(),
            row: Some(row as i64),
            hash,
            sha256: None,
            bytes: (text.len()) as u64,
            width: None,
            height: None,
            format: None,
            text: Some(text),
            features: Some(features),
        });
        if self.chunk.rows.len() >= TABLE_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk.read > 0 {
            let _ = self.tx.send(std::mem::take(&mut self.chunk));
        }
    }
}

/// BLAKE3 of a canonical form of the row (its text and its features by sorted name, as
/// JSON): identical rows are one sample, whatever their id or position.
pub fn row_hash(text: &str, features: &Map<String, Value>) -> String {
    row_hash_with(&mut Vec::new(), text, features)
}

/// [`row_hash`] serialising into `buf` (reused across rows: one allocation per file, and
/// one hasher call per row instead of one per JSON token).
fn row_hash_with(buf: &mut Vec<u8>, text: &str, features: &Map<String, Value>) -> String {
    buf.clear();
    buf.extend_from_slice(b"keylabel-row-v1\n");
    // `Map` is ordered by key (serde_json without `preserve_order`), and serde_json writes
    // numbers in one shortest form: the serialisation is canonical.
    if serde_json::to_writer(&mut *buf, &(text, features)).is_err() {
        buf.extend_from_slice(text.as_bytes());
    }
    blake3::hash(buf).to_hex().to_string()
}

/// A CSV cell as a typed value: integer, decimal, missing (empty) or string. Numbers with
/// leading zeros (codes such as `007`) stay strings.
pub fn typed_value(cell: &str) -> Value {
    if cell.is_empty() {
        return Value::Null;
    }
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !leading_zero && !digits.is_empty() {
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = cell.parse::<i64>() {
                return Value::from(i);
            }
        } else if digits.bytes().any(|b| b.is_ascii_digit())
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
            && let Ok(f) = cell.parse::<f64>()
            && let Some(n) = serde_json::Number::from_f64(f)
        {
            return Value::Number(n);
        }
    }
    Value::String(cell.to_string())
}

fn read_csv(
    file: impl std::io::Read,
    delimiter: u8,
    options: &ImportOptions,
    rows: &mut RowSink<'_>,
) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let header = reader
        .byte_headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    if header.is_empty() {
        return Err("the file is empty (no header row)".into());
    }
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    let mut seen = std::collections::HashSet::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| format!("the header row is not valid UTF-8 (column {})", i + 1))?;
        let name = name.trim_start_matches('\u{feff}').trim();
        let name = if name.is_empty() {
            format!("column_{}", i + 1)
        } else {
            name.to_string()
        };
        if !seen.insert(name.clone()) {
            return Err(format!("column `{name}` appears twice in the header row"));
        }
        names.push(name);
    }
    let text_col = names
        .iter()
        .position(|n| *n == options.text_column)
        .ok_or_else(|| {
            format!(
                "no column `{}` for the text (columns: {}); choose one with --text-column",
                options.text_column,
                names.join(", ")
            )
        })?;
    let id_col = match &options.id_column {
        None => None,
        Some(id) => Some(names.iter().position(|n| n == id).ok_or_else(|| {
            format!(
                "no column `{id}` for the id (columns: {}); choose one with --id-column",
                names.join(", ")
            )
        })?),
    };

    rows.chunk.columns = names
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != text_col && Some(*i) != id_col)
        .map(|(_, n)| n.clone())
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e
                    .position()
                    .map(|p| format!(" at line {}", p.line()))
                    .unwrap_or_default();
                return Err(format!("cannot read past row {row}{at}: {e}"));
            }
        }
        row += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(row + 1);
        if record.as_slice().len() > super::MAX_ROW_BYTES {
            let too_long = super::row_too_long(record.as_slice().len());
            rows.bad(format!("row {row} (line {line}): {too_long}"));
            continue;
        }
        if record.len() != names.len() {
            // A blank line is no row at all.
            if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
                row -= 1;
                continue;
            }
            rows.bad(format!(
                "row {row} (line {line}): expected {} fields, found {}",
                names.len(),
                record.len()
            ));
            continue;
        }
        let mut text = String::new();
        let mut id = None;
        let mut features = Map::new();
        let mut bad = None;
        for (i, raw) in record.iter().enumerate() {
            let Ok(cell) = std::str::from_utf8(raw) else {
                bad = Some(format!(
                    "row {row} (line {line}): invalid UTF-8 in column `{}`",
                    names[i]
                ));
                break;
            };
            if i == text_col {
                text = cell.to_string();
            } else if Some(i) == id_col {
                // Kept exactly: the id is the sample's name, and a label file names it so.
                id = Some(cell.to_string());
            } else {
                features.insert(names[i].clone(), typed_value(cell));
            }
        }
        if let Some(reason) = bad {
            rows.bad(reason);
            continue;
        }
        if id.as_ref().is_some_and(|i| i.trim().is_empty()) {
            let col = options.id_column.as_deref().unwrap_or_default();
            rows.bad(format!(
                "row {row} (line {line}): empty id in column `{col}`"
            ));
            continue;
        }
        rows.row(row, id, text, features);
    }
    Ok(())
}

fn read_jsonl(
    file: impl std::io::Read,
    options: &ImportOptions,
    rows: &mut RowSink<'_>,
) -> Result<(), String> {
    super::jsonl::for_each_object(
        std::io::BufReader::with_capacity(1 << 20, file),
        |line, object| {
            let mut object = match object {
                Ok(o) => o,
                Err(reason) => {
                    rows.bad(reason);
                    return;
                }
            };
            let text = match object.remove(&options.text_column) {
                Some(Value::String(s)) => s,
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                None | Some(Value::Null) => {
                    rows.bad(format!(
                        "line {line}: no `{}` field for the text",
                        options.text_column
                    ));
                    return;
                }
                Some(_) => {
                    rows.bad(format!(
                        "line {line}: field `{}` is not text",
                        options.text_column
                    ));
                    return;
                }
            };
            let id = match &options.id_column {
                None => None,
                Some(col) => match object.remove(col) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => {
                        rows.bad(format!("line {line}: no usable id in field `{col}`"));
                        return;
                    }
                },
            };
            rows.row(line, id, text, object);
        },
    )
}

/// Runs `read_table` on a scoped thread, feeding `on_chunk` on the caller's thread.
pub(crate) fn stream_table(
    path: &Path,
    shown: &str,
    stored: &str,
    format: TableFormat,
    options: &ImportOptions,
    mut on_chunk: impl FnMut(Chunk) -> anyhow::Result<()>,
) -> anyhow::Result<Result<(), String>> {
    // A rendezvous channel: the reader fills the next batch while the writer stores this one,
    // and waits for the writer rather than piling batches up in memory.
    let (tx, rx) = sync_channel::<Chunk>(0);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_table(path, shown, stored, format, options, &tx));
        let mut outcome = Ok(());
        for chunk in rx.iter() {
            if let Err(e) = on_chunk(chunk) {
                outcome = Err(e);
                break;
            }
        }
        // Dropping the receiver makes the reader's sends fail, so it stops early on error.
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err("the reader thread failed".into()));
        outcome.map(|()| read)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_get_their_types() {
        assert_eq!(typed_value("42"), json!(42));
        assert_eq!(typed_value("-7"), json!(-7));
        assert_eq!(typed_value("3.25"), json!(3.25));
        assert_eq!(typed_value("1e3"), json!(1000.0));
        assert_eq!(typed_value(""), Value::Null);
        assert_eq!(typed_value("007"), json!("007"));
        assert_eq!(typed_value("0.5"), json!(0.5));
        assert_eq!(typed_value("0"), json!(0));
        assert_eq!(typed_value("nan"), json!("nan"));
        assert_eq!(typed_value("inf"), json!("inf"));
        assert_eq!(typed_value("1-2"), json!("1-2"));
        assert_eq!(typed_value("hello"), json!("hello"));
        // Too large for an integer: kept exactly, as a string.
        assert_eq!(
            typed_value("99999999999999999999"),
            json!("99999999999999999999")
        );
    }

    #[test]
    fn row_hash_ignores_feature_order_but_not_content() {
        let mut a = Map::new();
        a.insert("x".into(), json!(1));
        a.insert("y".into(), json!("b"));
        let mut b = Map::new();
        b.insert("y".into(), json!("b"));
        b.insert("x".into(), json!(1));
        assert_eq!(row_hash("t", &a), row_hash("t", &b));
        assert_ne!(row_hash("t", &a), row_hash("u", &a));
        b.insert("x".into(), json!(2));
        assert_ne!(row_hash("t", &a), row_hash("t", &b));
    }
}
