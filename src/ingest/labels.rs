//! `import-labels`: labels or model suggestions from a CSV or JSON Lines file.
//!
//! The file is checked as a whole before anything is written: one unknown sample or class
//! refuses it, naming the first bad rows, so a typo never leaves half a file imported.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::images::io_reason;
use crate::project::{ClassId, EventKind, NewEvent, Project, Result, Source, TaskKind};

/// Bad rows named in a refusal.
const SHOWN_BAD_ROWS: usize = 5;

/// What `import-labels` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LabelsReport {
    /// Data rows in the file.
    pub rows: u64,
    /// Events written (labels, or suggestions with `as_suggestions`).
    pub recorded: u64,
    /// Rows equal to the annotator's current label (or the current suggestion): not
    /// written again.
    pub unchanged: u64,
    /// Distinct samples the written events are about.
    pub samples: u64,
    pub as_suggestions: bool,
}

/// One row as read, before it is checked against the project.
struct RawRow {
    /// Row number (CSV data row) or line number (JSON Lines), for messages.
    at: String,
    sample: Option<String>,
    labels: Vec<String>,
    annotator: Option<String>,
    score: Option<Result<f64, String>>,
}

/// Reads labels from `file` (CSV, TSV or JSON Lines) and records them: as `Label` events
/// from source `imported`, or with `as_suggestions` as `Suggest` events from source
/// `model`. `annotator` is used for rows without their own `annotator`.
pub fn import_labels(
    project: &mut Project,
    file: &Path,
    annotator: &str,
    as_suggestions: bool,
) -> Result<LabelsReport> {
    let shown = file.display();
    let (rows, mut bad) =
        read_rows(file).map_err(|reason| anyhow::anyhow!("`{shown}`: {reason}"))?;

    let classes: HashMap<String, ClassId> = project
        .classes()?
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect();
    let single = project.task() == TaskKind::SingleLabel;
    let mut events = Vec::with_capacity(rows.len());
    let mut unchanged = 0u64;
    // What each row gave a sample for an annotator: a file that gives one sample two
    // different labels (perhaps under its two names, a duplicate found at import) is
    // refused rather than settled by row order.
    let mut given: HashMap<(crate::project::SampleId, String), (String, String, Vec<ClassId>)> =
        HashMap::new();
    for row in &rows {
        let at = &row.at;
        let Some(name) = row.sample.as_deref().filter(|s| !s.trim().is_empty()) else {
            bad.push(format!("{at}: no sample"));
            continue;
        };
        // The name exactly as written; spaces around it only when no sample has them.
        let found = match find(project, name)? {
            Some(s) => Some(s),
            None if name.trim() != name => find(project, name.trim())?,
            None => None,
        };
        let Some(sample) = found else {
            bad.push(format!("{at}: unknown sample `{name}`"));
            continue;
        };
        if row.labels.is_empty() {
            bad.push(format!("{at}: no label"));
            continue;
        }
        let mut ids = BTreeSet::new();
        let mut unknown = None;
        for l in &row.labels {
            match classes.get(l) {
                Some(id) => {
                    ids.insert(*id);
                }
                None => {
                    unknown = Some(l);
                    break;
                }
            }
        }
        if let Some(l) = unknown {
            bad.push(format!("{at}: unknown class `{l}`"));
            continue;
        }
        if single && ids.len() > 1 {
            bad.push(format!(
                "{at}: {} classes (`{}`) in a single-label project",
                ids.len(),
                row.labels.join("|")
            ));
            continue;
        }
        let score = match &row.score {
            None => None,
            Some(Ok(s)) => Some(*s),
            Some(Err(raw)) => {
                bad.push(format!("{at}: score `{raw}` is not a number"));
                continue;
            }
        };
        let who = row
            .annotator
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .unwrap_or(annotator);
        let labels: Vec<ClassId> = ids.into_iter().collect();
        match given.get(&(sample.id, who.to_string())) {
            Some((_, _, earlier)) if *earlier == labels => {
                unchanged += 1;
                continue;
            }
            Some((earlier_at, earlier_name, _)) => {
                bad.push(if earlier_name == name {
                    format!("{at}: `{name}` again, with another label than {earlier_at}")
                } else {
                    format!(
                        "{at}: `{name}` holds the same content as `{earlier_name}` \
                         ({earlier_at}) but gets another label"
                    )
                });
                continue;
            }
            None => {
                given.insert(
                    (sample.id, who.to_string()),
                    (at.clone(), name.to_string(), labels.clone()),
                );
            }
        }
        let same = if as_suggestions {
            project.suggestion(sample.id)? == Some((labels.clone(), score))
        } else {
            project.decision_of(sample.id, who)?.is_some_and(|d| {
                d.status == crate::project::SampleStatus::Labeled && d.labels == labels
            })
        };
        if same {
            unchanged += 1;
            continue;
        }
        let (kind, source) = if as_suggestions {
            (EventKind::Suggest, Source::Model)
        } else {
            (EventKind::Label, Source::Imported)
        };
        events.push(NewEvent {
            labels,
            score,
            source,
            ..NewEvent::new(sample.id, who, kind)
        });
    }

    if !bad.is_empty() {
        return Err(refusal(file, &bad, ("row", "rows")));
    }

    let samples: BTreeSet<_> = events.iter().map(|e| e.sample).collect();
    // One transaction: the whole file or nothing.
    project.record_all(&events)?;
    Ok(LabelsReport {
        rows: rows.len() as u64,
        recorded: events.len() as u64,
        unchanged,
        samples: samples.len() as u64,
        as_suggestions,
    })
}

/// The error refusing a whole labels file for its bad entries, naming the first few.
/// `unit` is what one bad entry is, singular and plural (`row`, `rows`).
pub(super) fn refusal(file: &Path, bad: &[String], unit: (&str, &str)) -> anyhow::Error {
    let shown: Vec<&str> = bad
        .iter()
        .take(SHOWN_BAD_ROWS)
        .map(String::as_str)
        .collect();
    let more = bad.len().saturating_sub(SHOWN_BAD_ROWS);
    anyhow::anyhow!(
        "`{}` refused, nothing was written: {} bad {}: {}{}",
        file.display(),
        bad.len(),
        if bad.len() == 1 { unit.0 } else { unit.1 },
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
}

/// A sample by name, else by path: as given (relative to the current folder), or relative
/// to the project file's folder as the labels file's paths usually are.
pub(super) fn find(project: &Project, name: &str) -> Result<Option<crate::project::Sample>> {
    if let Some(s) = project.find_sample(name)? {
        return Ok(Some(s));
    }
    let stored = project.stored_path(&project.root().join(name));
    if stored == name {
        return Ok(None);
    }
    project.find_sample(&stored)
}

/// Parses a labels file's bytes as CSV or JSON Lines: the rows read and the messages for
/// rows that could not be parsed (for fuzzing the reader).
pub(crate) fn parse(bytes: &[u8], jsonl: bool) -> Result<(usize, Vec<String>), String> {
    let (rows, bad) = if jsonl {
        read_jsonl(bytes)?
    } else {
        read_csv(bytes, b',')?
    };
    Ok((rows.len(), bad))
}

/// Reads every row; a row that cannot be parsed at all is returned as a bad-row message.
fn read_rows(file: &Path) -> Result<(Vec<RawRow>, Vec<String>), String> {
    // Opened and read once: the file may be a pipe (`import-labels <(…)`).
    let f = File::open(file).map_err(|e| io_reason(&e))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err("is a folder, not a file".into());
    }
    let mut f = BufReader::with_capacity(1 << 20, f);
    let jsonl = match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jsonl" | "ndjson") => true,
        Some("csv" | "tsv" | "tab") => false,
        // Any other name: JSON Lines when the first character that is not white space is
        // `{` (looked at in the buffer; the white space before it is skipped).
        _ => loop {
            let buf = f.fill_buf().map_err(|e| io_reason(&e))?;
            let Some(&b) = buf.first() else {
                break false;
            };
            if b.is_ascii_whitespace() {
                f.consume(1);
            } else {
                break b == b'{';
            }
        },
    };
    if jsonl {
        read_jsonl(f)
    } else {
        let tsv = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
        read_csv(f, if tsv { b'\t' } else { b',' })
    }
}

fn split_labels(s: &str) -> Vec<String> {
    s.split('|')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_score(s: &str) -> Option<Result<f64, String>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| s.to_string()),
    )
}

fn read_csv(f: impl BufRead, delimiter: u8) -> Result<(Vec<RawRow>, Vec<String>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(f);
    let header = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let col = |n: &str| names.iter().position(|h| h == n);
    let (Some(sample_col), Some(label_col)) = (col("sample"), col("label")) else {
        return Err(format!(
            "needs the columns `sample` and `label` (found: {})",
            names.join(", ")
        ));
    };
    let (annotator_col, score_col) = (col("annotator"), col("score"));
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                n += 1;
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        bad.push(format!("row {n}: invalid UTF-8"));
                        continue;
                    }
                    _ => return Err(format!("cannot read past row {}: {e}", n - 1)),
                }
            }
        }
        n += 1;
        if record.as_slice().len() > super::MAX_ROW_BYTES {
            bad.push(format!(
                "row {n}: {}",
                super::row_too_long(record.as_slice().len())
            ));
            continue;
        }
        if record.len() == 1 && record.get(0).is_some_and(str::is_empty) {
            n -= 1;
            continue;
        }
        if record.len() != names.len() {
            bad.push(format!(
                "row {n}: expected {} fields, found {}",
                names.len(),
                record.len()
            ));
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::to_string);
        rows.push(RawRow {
            at: format!("row {n}"),
            sample: get(Some(sample_col)),
            labels: record.get(label_col).map(split_labels).unwrap_or_default(),
            annotator: get(annotator_col),
            score: score_col.and_then(|i| record.get(i)).and_then(parse_score),
        });
    }
    Ok((rows, bad))
}

fn read_jsonl(f: impl BufRead) -> Result<(Vec<RawRow>, Vec<String>), String> {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    super::jsonl::for_each_object(f, |line, object| {
        let object = match object {
            Ok(o) => o,
            Err(reason) => {
                bad.push(reason);
                return;
            }
        };
        let at = format!("line {line}");
        let string = |k: &str| match object.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let labels = match object.get("label") {
            Some(Value::String(s)) => split_labels(s),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                })
                .filter(|s| !s.is_empty())
                .collect(),
            Some(Value::Number(n)) => vec![n.to_string()],
            _ => Vec::new(),
        };
        let score = match object.get("score") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64().map(Ok),
            Some(Value::String(s)) => parse_score(s),
            Some(other) => Some(Err(other.to_string())),
        };
        rows.push(RawRow {
            sample: string("sample"),
            labels,
            annotator: string("annotator"),
            score,
            at,
        });
    })?;
    Ok((rows, bad))
}
