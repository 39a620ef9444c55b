//! Importing samples: image files (folders are walked, images recognised by content) and
//! rows of CSV / JSON Lines files, plus labels and model suggestions from a file (classes
//! from CSV / JSON Lines, boxes from COCO, Pascal VOC or YOLO).
//!
//! The contract every front end relies on: an unreadable file or row is reported with its
//! path and the reason and skipped, and the import goes on; the same bytes imported twice
//! are one sample; importing again adds nothing. Images are probed and hashed in parallel
//! and written in batched transactions, so a large folder is bounded by the disk.

pub mod detections;
pub mod images;
mod jsonl;
pub(crate) mod labels;
pub(crate) mod table;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::progress::Progress;
use serde::Serialize;

use crate::project::{
    ClassId, EventKind, InsertOutcome, NewEvent, NewSample, Project, Result, SampleId, Source,
};

pub use detections::{BoxFormat, import_boxes};
pub use labels::{LabelsReport, import_labels};
pub use table::{row_hash, typed_value};

/// Samples written per transaction.
pub(crate) const BATCH: usize = 10_000;

/// The most bytes one table row (a CSV record or a JSON line) may hold, in sample files and
/// in label files. A longer row is reported and skipped: no annotator reads a 50 MB text,
/// and the window would stall laying it out.
pub const MAX_ROW_BYTES: usize = 16 << 20;

/// Why a row of `len` bytes is refused (see [`MAX_ROW_BYTES`]).
pub(crate) fn row_too_long(len: usize) -> String {
    format!(
        "{:.1} MiB, more than the {} MiB a row may hold",
        len as f64 / f64::from(1 << 20),
        MAX_ROW_BYTES >> 20
    )
}

/// How an import reads its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// The column (CSV) or field (JSON Lines) holding the text shown to the annotator.
    pub text_column: String,
    /// The column whose value is a row's sample name; else `<file>#<row>`.
    pub id_column: Option<String>,
    /// An image whose parent folder is named like an active class gets that class as an
    /// imported label.
    pub labels_from_folders: bool,
    /// Who the imported labels are recorded for.
    pub annotator: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            text_column: "text".into(),
            id_column: None,
            labels_from_folders: false,
            annotator: crate::annotator_name(None),
        }
    }
}

/// A file or row that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// What an import did. `import --json` prints exactly this.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// New samples.
    pub added: u64,
    /// Samples whose name was already in the project with the same content (re-import).
    pub already_present: u64,
    /// Files or rows whose content is already in the project under another name.
    pub duplicates: u64,
    /// Entries of the folders passed over on purpose, not listed one by one: hidden files
    /// and folders (names starting with a dot, a folder counted once), team replicas' file
    /// caches (a folder counted once) and files that are no image (by content, without an
    /// image extension).
    pub skipped: u64,
    pub unreadable: Vec<Unreadable>,
    /// The import was cancelled: the batches committed before stay (the counts above),
    /// importing the same files again adds the rest. (Only the window cancels imports.)
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// An image file found on the command line or in a folder.
struct Candidate {
    path: PathBuf,
    /// Named on the command line (always reported when it is not an image).
    explicit: bool,
}

/// Imports image files, folders (walked recursively; their images are recognised by
/// content) and CSV / TSV / JSON Lines files (rows; only when named explicitly).
///
/// `progress` counts files and rows (the row total is estimated from line counts) and is
/// told from any thread. Errors are returned only for failures of the
/// project file itself; everything wrong with the inputs is in the report.
pub fn import(
    project: &mut Project,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    if project.hub_link()?.is_some() {
        // A team project's samples are added on its hub, which hands out their ids.
        return crate::hub::samples::import(project, paths, options, progress);
    }
    let mut report = ImportReport::default();
    let own = OwnFiles::of(project);
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut tables: Vec<(PathBuf, table::TableFormat)> = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => report.unreadable.push(Unreadable {
                path: path.display().to_string(),
                reason: images::io_reason(&e),
            }),
            Ok(m) if m.is_dir() => walk(path, &own, &mut candidates, &mut report),
            Ok(_) if own.contains(path) => report.unreadable.push(Unreadable {
                path: path.display().to_string(),
                reason: "this is the project file itself".into(),
            }),
            Ok(m) if !m.is_file() => report.unreadable.push(Unreadable {
                path: path.display().to_string(),
                reason: crate::media::special_file(m.file_type())
                    .unwrap_or("not a regular file: not read")
                    .into(),
            }),
            Ok(_) => match table::table_format(path) {
                Some(_) if project.task().is_detect() => report.unreadable.push(Unreadable {
                    path: path.display().to_string(),
                    reason: "a table's rows cannot hold boxes: this detect project labels \
                             images (a classification project takes the table)"
                        .into(),
                }),
                Some(format) => tables.push((path.clone(), format)),
                None => candidates.push(Candidate {
                    path: path.clone(),
                    explicit: true,
                }),
            },
        }
    }

    // A file named twice (itself and through its folder) is one candidate.
    let mut seen = HashSet::with_capacity(candidates.len());
    let candidates: Vec<(Candidate, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let stored = project.stored_path(&c.path);
            seen.insert(stored.clone()).then_some((c, stored))
        })
        .collect();

    let rows: u64 = tables
        .iter()
        .map(|(p, f)| table::estimate_rows(p, *f))
        .sum();
    let total = candidates.len() as u64 + rows;
    progress.start("Importing", total);
    import_images(project, &candidates, options, &mut report, progress)?;
    for (path, format) in &tables {
        if report.cancelled {
            break;
        }
        import_table(project, path, *format, options, &mut report, progress)?;
    }
    progress.finish();
    Ok(report)
}

/// The project file and its SQLite companions, never imported.
struct OwnFiles {
    names: Vec<std::ffi::OsString>,
    paths: Vec<PathBuf>,
}

impl OwnFiles {
    fn of(project: &Project) -> OwnFiles {
        let main = project.path().to_path_buf();
        let mut paths = vec![main.clone()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = main.as_os_str().to_owned();
            p.push(suffix);
            paths.push(PathBuf::from(p));
        }
        let names = paths
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_owned()))
            .collect();
        OwnFiles { names, paths }
    }

    fn contains(&self, path: &Path) -> bool {
        // Compare names first: the absolute path is only needed for a likely match.
        let Some(name) = path.file_name() else {
            return false;
        };
        if !self.names.iter().any(|n| n == name) {
            return false;
        }
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let canon = std::fs::canonicalize(path).unwrap_or(abs.clone());
        self.paths
            .iter()
            .any(|p| *p == abs || std::fs::canonicalize(p).is_ok_and(|c| c == canon))
    }
}

/// Collects the files under `root` in name order, skipping hidden files and folders (such
/// as `.git`), the project's own files, and the file caches of team replicas (a replica's
/// copies of the hub's files, named by content hash, are no new samples).
fn walk(root: &Path, own: &OwnFiles, out: &mut Vec<Candidate>, report: &mut ImportReport) {
    let mut hidden = 0u64;
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let keep = e.depth() == 0
                || !(e.file_name().to_string_lossy().starts_with('.')
                    || e.file_type().is_dir() && crate::hub::files::is_cache_folder(e.path()));
            hidden += u64::from(!keep);
            keep
        });
    for entry in &mut walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if !own.contains(e.path()) {
                    out.push(Candidate {
                        path: e.into_path(),
                        explicit: false,
                    });
                }
            }
            Ok(e) => {
                if let Some(reason) = crate::media::special_file(e.file_type()) {
                    report.unreadable.push(Unreadable {
                        path: e.path().display().to_string(),
                        reason: reason.into(),
                    });
                }
            }
            Err(e) => {
                let path = e.path().unwrap_or(root).display().to_string();
                let reason = if e.loop_ancestor().is_some() {
                    "a symbolic link loops back to a parent folder".to_string()
                } else if let Some(io) = e.io_error() {
                    images::io_reason(io)
                } else {
                    e.to_string()
                };
                report.unreadable.push(Unreadable { path, reason });
            }
        }
    }
    drop(walker);
    report.skipped += hidden;
}

fn import_images(
    project: &mut Project,
    candidates: &[(Candidate, String)],
    options: &ImportOptions,
    report: &mut ImportReport,
    progress: &dyn Progress,
) -> Result<()> {
    let classes: HashMap<String, ClassId> = if options.labels_from_folders {
        project
            .active_classes()?
            .into_iter()
            .map(|c| (c.name, c.id))
            .collect()
    } else {
        HashMap::new()
    };
    for chunk in candidates.chunks(BATCH) {
        if progress.cancelled() {
            report.cancelled = true;
            return Ok(());
        }
        let probed: Vec<_> = chunk
            .par_iter()
            .map(|(c, _)| {
                let r = images::probe_detailed(&c.path);
                progress.advance(1);
                r
            })
            .collect();
        let mut batch = Vec::with_capacity(chunk.len());
        let mut shown = Vec::with_capacity(chunk.len());
        let mut folder_class = Vec::with_capacity(chunk.len());
        let mut learned = Vec::with_capacity(chunk.len());
        for ((c, stored), probe) in chunk.iter().zip(probed) {
            match probe {
                Ok(info) => {
                    learned.push(info.known);
                    batch.push(NewSample {
                        sha256: Some(info.sha256),
                        ..NewSample::image(
                            stored.clone(),
                            info.hash,
                            info.bytes,
                            Some((info.width, info.height)),
                            Some(info.format_name.to_string()),
                        )
                    });
                    shown.push(c.path.display().to_string());
                    folder_class.push(
                        c.path
                            .parent()
                            .and_then(Path::file_name)
                            .and_then(|n| n.to_str())
                            .and_then(|n| classes.get(n).copied()),
                    );
                }
                Err(f) => {
                    let silent = !c.explicit
                        && !images::has_image_extension(&c.path)
                        && f.kind != images::FailKind::Other;
                    if silent {
                        report.skipped += 1;
                    } else {
                        report.unreadable.push(Unreadable {
                            path: c.path.display().to_string(),
                            reason: f.reason,
                        });
                    }
                }
            }
        }
        let outcomes = project.insert_samples(&batch)?;
        remember_files(project, &outcomes, &batch, learned)?;
        let mut labels = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let id = match tally(project, report, outcome, &batch[i], &shown[i], "")? {
                Some(id) => id,
                None => continue,
            };
            if let Some(class) = folder_class[i]
                && !project.has_imported_label(id)?
            {
                labels.push(NewEvent {
                    labels: vec![class],
                    source: Source::Imported,
                    ..NewEvent::new(id, &options.annotator, EventKind::Label)
                });
            }
        }
        if !labels.is_empty() {
            project.record_all(&labels)?;
        }
    }
    Ok(())
}

/// Stores what the probes learned about the files of newly added samples (see
/// [`images::ImageInfo::known`]), so that the first validation need not read them again.
fn remember_files(
    project: &Project,
    outcomes: &[InsertOutcome],
    batch: &[NewSample],
    learned: Vec<crate::validate::files::Known>,
) -> Result<()> {
    let rows = outcomes
        .iter()
        .zip(batch)
        .zip(learned)
        .filter_map(|((outcome, sample), known)| match *outcome {
            InsertOutcome::Added(id) => Some((id, sample.hash.clone(), known)),
            _ => None,
        })
        .collect();
    crate::validate::files::remember_imported(project, rows)
}

/// Counts one insert outcome (`row_unit` names a table's rows in messages: `row`, `line`). Returns the sample id when the sample is in the project with
/// this content (added or already present), `None` for a duplicate or a conflict.
fn tally(
    project: &Project,
    report: &mut ImportReport,
    outcome: InsertOutcome,
    sample: &NewSample,
    shown: &str,
    row_unit: &str,
) -> Result<Option<SampleId>> {
    Ok(match outcome {
        InsertOutcome::Added(id) => {
            report.added += 1;
            Some(id)
        }
        InsertOutcome::Duplicate(_) => {
            report.duplicates += 1;
            None
        }
        InsertOutcome::AlreadyPresent(id) => {
            let same = project.hash_of(id)? == sample.hash;
            if same {
                report.already_present += 1;
                Some(id)
            } else {
                // The name is taken by other content: the file changed since it was
                // imported, or a table repeats an id. The project keeps what it has.
                report.unreadable.push(Unreadable {
                    path: shown.to_string(),
                    reason: name_taken(sample.row, &sample.name, row_unit),
                });
                None
            }
        }
    })
}

/// Why a sample named `name` (a table's `row`, else an image) is not imported when the
/// project holds other content under that name.
pub(crate) fn name_taken(row: Option<i64>, name: &str, row_unit: &str) -> String {
    match row {
        Some(row) => format!(
            "{row_unit} {row}: the name `{name}` is already taken by a sample with other \
             content (a repeated id, or the row changed since its import); not imported"
        ),
        None => "changed since it was imported (its content hash differs); the project keeps \
                 the imported sample"
            .to_string(),
    }
}

fn import_table(
    project: &mut Project,
    path: &Path,
    format: table::TableFormat,
    options: &ImportOptions,
    report: &mut ImportReport,
    progress: &dyn Progress,
) -> Result<()> {
    /// Stops the reader when the import is cancelled between batches.
    #[derive(Debug, thiserror::Error)]
    #[error("the import was cancelled")]
    struct Cancelled;
    let shown = path.display().to_string();
    let stored = project.stored_path(path);
    let mut schema_saved = false;
    // A power cut during a table import may lose only its last batches, which importing
    // again restores (see `Project::set_bulk_writes`).
    project.set_bulk_writes(true)?;
    let read = table::stream_table(path, &shown, &stored, format, options, |chunk| {
        if progress.cancelled() {
            report.cancelled = true;
            return Err(Cancelled.into());
        }
        report.unreadable.extend(chunk.bad);
        if !chunk.rows.is_empty() {
            if !schema_saved {
                // The export names the text feature after the column it came from; the
                // window shows the other columns in the file's order (kept across files:
                // a later file's new columns come after).
                let mut columns = project.feature_columns()?;
                let mut known: HashSet<String> = columns.iter().cloned().collect();
                for c in &chunk.columns {
                    if known.insert(c.clone()) {
                        columns.push(c.clone());
                    }
                }
                project.set_setting_value(
                    "table_schema",
                    &serde_json::json!({
                        "text_column": options.text_column,
                        "id_column": options.id_column,
                        "columns": columns,
                    }),
                )?;
                schema_saved = true;
            }
            let outcomes = project.insert_samples(&chunk.rows)?;
            let unit = match format {
                table::TableFormat::JsonLines => "line",
                table::TableFormat::Csv(_) => "row",
            };
            for (sample, outcome) in chunk.rows.iter().zip(outcomes) {
                tally(project, report, outcome, sample, &shown, unit)?;
            }
        }
        progress.advance(chunk.read);
        Ok(())
    });
    project.set_bulk_writes(false)?;
    let read = match read {
        Err(e) if e.is::<Cancelled>() => return Ok(()),
        other => other?,
    };
    if let Err(reason) = read {
        report.unreadable.push(Unreadable {
            path: shown,
            reason,
        });
    }
    Ok(())
}
