//! Exporting a validated dataset: TFRecord of `tf.train.Example` (plain or GZIP), CSV and
//! JSON Lines, always with `schema.pbtxt` and `manifest.json`.
//!
//! The contract:
//! - validation passes before anything appears at the target: the data files are written
//!   into a hidden temporary folder while it runs, and removed when it finds an error;
//! - a sample's split depends only on its content hash and the seed ([`split_of`]);
//! - records are written in sample-name order, so the same project state and seed give
//!   byte-identical data files;
//! - everything is written into a temporary folder beside the target and renamed into
//!   place when complete: an error, a cancel or a kill never leaves a half-written dataset;
//! - image bytes are streamed (read, checked against the imported content hash, written),
//!   a small batch at a time.

pub mod dataset;
mod disk;
pub mod example;
pub mod features;
pub mod manifest;
pub mod schema;
pub mod sink;
pub mod split;
pub mod tfrecord;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use rayon::prelude::*;
use serde::Serialize;

pub use features::{Layout, image_keys, row_keys};
pub use manifest::{Manifest, SplitSummary};
pub use sink::FileEntry;
pub use split::{DEFAULT_SPLITS, parse_splits, split_of};

use crate::progress::Progress;
use crate::project::{ClassId, Project, Sample, SampleId, SampleKind, SampleStatus};
use crate::validate::{self, Report};

/// At most how many samples, and how many bytes of files, are read and encoded in parallel
/// before being written in order. Two batches are in memory at once (one being written,
/// the next being read), so memory stays near `2 × BATCH_BYTES` whatever the image sizes.
const BATCH: usize = 256;
const BATCH_BYTES: u64 = 48 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    TfRecord,
    Csv,
    Jsonl,
    /// Detect projects: COCO `annotations.json` and the images, per split.
    Coco,
    /// Detect projects: Pascal VOC XML per image and the images, per split.
    Voc,
    /// Detect projects: YOLO `.txt` per image, the images and `data.yaml`.
    Yolo,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::TfRecord => "tfrecord",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Coco => "coco",
            Format::Voc => "voc",
            Format::Yolo => "yolo",
        }
    }

    /// A folder of images with their annotations (COCO, VOC, YOLO), not records.
    pub fn is_folder(self) -> bool {
        matches!(self, Format::Coco | Format::Voc | Format::Yolo)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    pub format: Format,
    /// The dataset folder to create.
    pub out: PathBuf,
    /// Split names and weights, e.g. from [`parse_splits`].
    pub splits: Vec<(String, u32)>,
    pub seed: u64,
    /// GZIP-compress TFRecord files (`.tfrecord.gz`).
    pub gzip: bool,
    /// TFRecord files per split.
    pub shards: u32,
    /// Leave unlabeled and skipped samples out (validation then only warns about them).
    pub only_labeled: bool,
    /// Replace an existing `out` (only one that holds a keylabel export).
    pub force: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub splits: BTreeMap<String, SplitSummary>,
    pub files: Vec<FileEntry>,
    pub report: Report,
    /// Why the export's class distribution could not be recorded in the project (a
    /// read-only project, a full disk). The dataset is complete all the same; the next
    /// `LABEL_DRIFT` check compares with the export before.
    pub not_recorded: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Validation found errors; nothing was written.
    #[error("validation found {} error(s); nothing was written", .0.errors().count())]
    Invalid(Report),
    /// The cancel flag was raised; nothing was left behind.
    #[error("the export was cancelled; nothing was written")]
    Cancelled,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// One sample to write, in output order.
struct Planned {
    id: SampleId,
    split: usize,
    /// Label-map indices of the classes (of a detect image: of its boxes).
    labels: Vec<u32>,
    /// A detect image's boxes, clipped to the image.
    boxes: Vec<features::ExportBox>,
    /// The image's file name in a folder format's `images/`.
    file_name: Option<String>,
    /// The file's size at import (what reading it costs in memory).
    bytes: u64,
}

/// Consecutive runs of `plan` of at most [`BATCH`] samples and [`BATCH_BYTES`] bytes (a
/// single larger sample makes a batch of its own).
fn batches(plan: &[Planned]) -> impl Iterator<Item = &[Planned]> {
    let mut rest = plan;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0u64;
        let mut n = 0;
        while n < rest.len() && n < BATCH && (n == 0 || bytes + rest[n].bytes <= BATCH_BYTES) {
            bytes += rest[n].bytes;
            n += 1;
        }
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        Some(batch)
    })
}

/// Validates the project and writes the dataset described by `options`.
///
/// `progress` sees validation's passes, then one pass over the records ("Exporting", shown
/// from where the writing is when validation ends); a cancel is honoured between records
/// and before the dataset is put in place. On success the class distribution is stored in
/// the project setting `last_export` (read by the `LABEL_DRIFT` check of the next
/// validation).
pub fn export(
    project: &mut Project,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportSummary, ExportError> {
    check_options(options)?;
    let detect = project.task().is_detect();
    if options.format.is_folder() && !detect {
        return Err(anyhow!(
            "--format {} is a detection dataset of boxes; this is a classification project \
             (export it as tfrecord, csv or jsonl)",
            options.format.as_str()
        )
        .into());
    }
    let target = Target::check(&options.out, options.force)?;
    let checks = validate::Options {
        only_labeled: options.only_labeled,
        splits: options.splits.len(),
        ..validate::Options::default()
    };
    let refused = |e: anyhow::Error| {
        if progress.cancelled() {
            ExportError::Cancelled
        } else {
            ExportError::Other(e)
        }
    };
    // The dataset is written into its temporary folder, from a second connection to the
    // project, while validation runs: an export waits for the longer of the two, not for
    // both. What is written stays hidden until validation has passed, and is removed when
    // it fails. One runs after the other where no second connection can be opened, and on
    // a replica whose files come from its hub: validation fetches them.
    let beside = match crate::hub::files::cache_folder(project)? {
        Some(_) => None,
        None => Project::open_read_only(project.path()).ok(),
    };
    let (report, data) = match beside {
        Some(twin) => {
            let writing = &Behind::new(progress);
            let (validated, data) = std::thread::scope(|s| {
                let writer = std::thread::Builder::new()
                    .name(WRITER_THREAD.into())
                    .spawn_scoped(s, move || write_data(&twin, options, target, None, writing))
                    .context("could not start the export's writing thread")?;
                let validated = validate::validate_for_export(project, &checks, progress);
                if validated.as_ref().is_ok_and(|(r, _)| r.ok) {
                    writing.show();
                } else {
                    writing.stop();
                }
                let data = writer
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("the export's writing thread failed").into()));
                Ok::<_, ExportError>((validated, data))
            })?;
            let (report, _) = validated.map_err(refused)?;
            if !report.ok {
                return Err(ExportError::Invalid(report));
            }
            (report, data?)
        }
        None => {
            let (report, final_boxes) =
                validate::validate_for_export(project, &checks, progress).map_err(refused)?;
            if !report.ok {
                return Err(ExportError::Invalid(report));
            }
            let data = write_data(project, options, target, final_boxes, progress)?;
            (report, data)
        }
    };
    finish(project, options, data, report, progress)
}

/// The name of the thread that writes the data files while validation runs.
pub const WRITER_THREAD: &str = "export writer";

/// The data files written into the temporary folder, and what the manifest says of them.
struct Data {
    staging: Staging,
    files: Vec<FileEntry>,
    splits: BTreeMap<String, SplitSummary>,
    label_map: Vec<String>,
    layout: Layout,
    total: u64,
}

/// Plans the export and writes its data files into a temporary folder for `target`.
/// `final_boxes` are a detect project's, when the caller has them (validation's).
fn write_data(
    project: &Project,
    options: &ExportOptions,
    target: Target,
    final_boxes: Option<validate::FinalBoxes>,
    progress: &dyn Progress,
) -> Result<Data, ExportError> {
    let detect = project.task().is_detect();
    let (label_map, class_index) = label_map(project)?;
    let (plan, stats, splits) = plan(project, options, &label_map, &class_index, final_boxes)?;
    if plan.is_empty() {
        return Err(anyhow!(
            "nothing to export: the project has no labeled sample that is not excluded"
        )
        .into());
    }
    let text_column = project
        .setting_value("table_schema")?
        .and_then(|v| v.get("text_column")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "text".into());
    let layout = Layout::new(
        options.format,
        &stats,
        &label_map,
        project.task(),
        &text_column,
    );

    let staging = target.stage()?;
    let mut sinks = options
        .splits
        .iter()
        .map(|(name, _)| {
            if options.format.is_folder() {
                return dataset::FolderSink::create(&staging.tmp, name, options.format, &label_map)
                    .map(|s| sink::SplitSink::Folder(Box::new(s)));
            }
            sink::SplitSink::create(
                &staging.tmp,
                name,
                options.format,
                options.gzip,
                options.shards,
                &layout,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // While one batch is written in order (with the output hashes), the next one is read,
    // checked and encoded on the other cores.
    let total = plan.len() as u64;
    progress.start("Exporting", total);
    let read_bytes = (options.format == Format::TfRecord || options.format.is_folder())
        && layout.kind == SampleKind::Image;
    let mut ready: Vec<(usize, sink::Prepared)> = Vec::new();
    for batch in batches(&plan) {
        if progress.cancelled() {
            return Err(ExportError::Cancelled);
        }
        let ids: Vec<SampleId> = batch.iter().map(|p| p.id).collect();
        let found = project.samples_by_ids(&ids)?;
        if found.len() != batch.len() {
            return Err(anyhow!("samples were deleted from the project during the export").into());
        }
        let samples: Vec<_> = found
            .into_iter()
            .map(|s| {
                let file = read_bytes.then(|| project.resolve(&s.path));
                (s, file)
            })
            .collect();
        let produce = || {
            batch
                .par_iter()
                .zip(samples.into_par_iter())
                .map(|(p, (sample, file))| {
                    if let (Some(name), Some(file)) = (&p.file_name, &file) {
                        let bytes = read_checked(file, &sample)?;
                        let image = dataset::prepare(
                            options.format,
                            &sample,
                            file.clone(),
                            bytes,
                            name,
                            &p.boxes,
                            &label_map,
                        );
                        return Ok((p.split, sink::Prepared::Image(Box::new(image))));
                    }
                    let encoded = file.map(|f| read_checked(&f, &sample)).transpose()?;
                    let target = if detect {
                        features::Target::Boxes(&p.boxes)
                    } else {
                        features::Target::Classes(&p.labels)
                    };
                    let record = layout.record(&sample, target, &label_map, encoded);
                    Ok((p.split, sink::prepare(options.format, &layout, record)?))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let previous = std::mem::take(&mut ready);
        let (written, produced) =
            rayon::join(|| write_batch(&mut sinks, previous, progress), produce);
        written?;
        ready = produced?;
    }
    write_batch(&mut sinks, ready, progress)?;
    progress.finish();

    let mut files = Vec::new();
    for s in sinks {
        files.extend(s.finish()?);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let splits = options
        .splits
        .iter()
        .map(|(n, _)| n.clone())
        .zip(splits)
        .collect();
    Ok(Data {
        staging,
        files,
        splits,
        label_map,
        layout,
        total,
    })
}

/// Writes the schema and the manifest beside validated data files, puts the dataset in
/// place, and records its class distribution in the project.
fn finish(
    project: &mut Project,
    options: &ExportOptions,
    data: Data,
    report: Report,
    progress: &dyn Progress,
) -> Result<ExportSummary, ExportError> {
    let Data {
        staging,
        files,
        splits: summaries,
        label_map,
        layout,
        total,
    } = data;
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let manifest = Manifest {
        format: options.format.as_str().into(),
        seed: options.seed,
        splits: summaries.clone(),
        label_map: label_map.clone(),
        features: layout.roles.clone(),
        files: files.clone(),
        validation: report.clone(),
        keylabel_version: env!("CARGO_PKG_VERSION").into(),
        created_at: created_at.clone(),
    };
    if options.format.is_folder() {
        if options.format == Format::Yolo {
            let names: Vec<String> = options.splits.iter().map(|(n, _)| n.clone()).collect();
            staging.write_file(
                "data.yaml",
                dataset::data_yaml(&names, &label_map).as_bytes(),
            )?;
        }
    } else {
        staging.write_file(
            "schema.pbtxt",
            schema::schema_pbtxt(&layout, total).as_bytes(),
        )?;
    }
    if project.task().is_detect() {
        staging.write_file(
            "label_map.pbtxt",
            schema::label_map_pbtxt(&label_map).as_bytes(),
        )?;
    }
    let mut manifest_json =
        serde_json::to_vec_pretty(&manifest).context("could not serialise the manifest")?;
    manifest_json.push(b'\n');
    staging.write_file("manifest.json", &manifest_json)?;
    if progress.cancelled() {
        return Err(ExportError::Cancelled);
    }
    let out = staging.commit()?;

    let mut classes_total: BTreeMap<String, u64> = BTreeMap::new();
    for s in summaries.values() {
        for (c, n) in &s.classes {
            *classes_total.entry(c.clone()).or_default() += n;
        }
    }
    // The dataset is in place: from here on, nothing makes the export a failure.
    let recorded = if project.is_read_only() {
        Err(anyhow!(
            "the project was opened read-only: its file, folder or disk cannot be written, or \
             the disk is full"
        ))
    } else {
        project.set_setting_value(
            "last_export",
            &serde_json::json!({"classes": classes_total, "total": total, "created_at": created_at}),
        )
    };
    Ok(ExportSummary {
        out,
        splits: summaries,
        files,
        report,
        not_recorded: recorded.err().map(|e| {
            format!(
                "the dataset is complete, but its class distribution could not be recorded \
                 in the project ({e:#}): the next validation's LABEL_DRIFT check compares \
                 with the export before"
            )
        }),
    })
}

/// The progress of the data files' writing while validation runs beside it: a cancel
/// reaches it at once, but its pass is shown only once validation has passed (the two
/// would otherwise take turns on one bar), and [`Behind::stop`] stops it.
struct Behind<'a> {
    shown: &'a dyn Progress,
    stopped: std::sync::atomic::AtomicBool,
    state: std::sync::Mutex<Held>,
}

/// What [`Behind`] holds back: the pass begun (its name and total) and how far it went.
#[derive(Default)]
struct Held {
    showing: bool,
    pass: Option<(String, u64)>,
    done: u64,
    finished: bool,
}

impl<'a> Behind<'a> {
    fn new(shown: &'a dyn Progress) -> Behind<'a> {
        Behind {
            shown,
            stopped: std::sync::atomic::AtomicBool::new(false),
            state: std::sync::Mutex::new(Held::default()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Validation passed: the pass is shown from where it is.
    fn show(&self) {
        let mut held = self.held();
        held.showing = true;
        if let Some((what, total)) = held.pass.take() {
            self.shown.start(&what, total);
            self.shown.advance(held.done);
            if held.finished {
                self.shown.finish();
            }
        }
    }

    /// Validation failed: the writing stops at its next check.
    fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Progress for Behind<'_> {
    fn start(&self, what: &str, total: u64) {
        let mut held = self.held();
        if held.showing {
            self.shown.start(what, total);
        } else {
            *held = Held {
                pass: Some((what.to_string(), total)),
                ..Held::default()
            };
        }
    }

    fn advance(&self, n: u64) {
        let mut held = self.held();
        if held.showing {
            self.shown.advance(n);
        } else {
            held.done += n;
        }
    }

    fn finish(&self) {
        let mut held = self.held();
        if held.showing {
            self.shown.finish();
        } else {
            held.finished = true;
        }
    }

    fn cancelled(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Relaxed) || self.shown.cancelled()
    }
}

/// Writes prepared records in order, reporting progress and honouring the cancel flag.
fn write_batch(
    sinks: &mut [sink::SplitSink],
    records: Vec<(usize, sink::Prepared)>,
    progress: &dyn Progress,
) -> Result<(), ExportError> {
    for (split, record) in records {
        if progress.cancelled() {
            return Err(ExportError::Cancelled);
        }
        sinks[split].write(record)?;
        progress.advance(1);
    }
    Ok(())
}

fn check_options(options: &ExportOptions) -> anyhow::Result<()> {
    if options.splits.is_empty() {
        anyhow::bail!("give at least one split, e.g. --split {DEFAULT_SPLITS}");
    }
    if options.format != Format::TfRecord {
        if options.gzip {
            anyhow::bail!("--gzip applies to TFRecord files only");
        }
        if options.shards != 1 {
            anyhow::bail!("--shards applies to TFRecord files only");
        }
    }
    if !(1..=99_999).contains(&options.shards) {
        anyhow::bail!("--shards must be between 1 and 99999");
    }
    Ok(())
}

/// The active classes' names in schema order (an exported label is an index into it), and
/// each class id's index.
fn label_map(project: &Project) -> anyhow::Result<(Vec<String>, HashMap<ClassId, u32>)> {
    let classes = project.active_classes()?;
    let names = classes.iter().map(|c| c.name.clone()).collect();
    let index = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i as u32))
        .collect();
    Ok((names, index))
}

/// What an export with `splits` and `seed` would write, per split: its labeled samples
/// and their classes (the export view's preview). Planned exactly as [`export`] plans, so
/// the preview and the dataset never disagree; samples without a final label are left
/// out (validation names them).
pub fn preview(
    project: &Project,
    splits: &[(String, u32)],
    seed: u64,
) -> anyhow::Result<Vec<(String, SplitSummary)>> {
    let options = ExportOptions {
        format: Format::Jsonl,
        out: PathBuf::new(),
        splits: splits.to_vec(),
        seed,
        gzip: false,
        shards: 1,
        only_labeled: true,
        force: false,
    };
    let (label_map, class_index) = label_map(project)?;
    let (_, _, summaries) = plan(project, &options, &label_map, &class_index, None)?;
    Ok(splits
        .iter()
        .map(|(n, _)| n.clone())
        .zip(summaries)
        .collect())
}

/// Decides, in sample-name order, which samples are written to which split, and gathers
/// what the layout needs. Memory: a few words per exported sample, no file content.
/// `final_boxes` are a detect project's, when the caller has them (validation's).
fn plan(
    project: &Project,
    options: &ExportOptions,
    label_map: &[String],
    class_index: &HashMap<ClassId, u32>,
    final_boxes: Option<validate::FinalBoxes>,
) -> anyhow::Result<(Vec<Planned>, features::Stats, Vec<SplitSummary>)> {
    let detect = project.task().is_detect();
    let settled = match final_boxes {
        Some(boxes) => boxes,
        None if detect => project.final_boxes(project.settings()?.consensus)?,
        None => HashMap::new(),
    };
    let finals: HashMap<SampleId, Option<Vec<ClassId>>> = if detect {
        settled
            .iter()
            .map(|(id, boxes)| (*id, Some(crate::project::boxes::classes_of(boxes))))
            .collect()
    } else {
        crate::review::final_labels(project)?
            .into_iter()
            .map(|(id, r)| (id, r.labels().map(<[ClassId]>::to_vec)))
            .collect()
    };
    let mut stats = features::Stats::default();
    let mut names = options.format.is_folder().then(dataset::Names::new);
    let mut counts: Vec<(u64, Vec<u64>)> =
        vec![(0, vec![0; label_map.len()]); options.splits.len()];
    let mut plan = Vec::new();
    project.each_sample_to_export(|s| {
        if s.status == SampleStatus::Excluded {
            return Ok(());
        }
        let labels = match finals.get(&s.id) {
            Some(Some(labels)) => labels,
            _ if options.only_labeled => return Ok(()),
            _ => {
                return Err(anyhow!(
                    "sample `{}` has no final {}; label it, or export with --only-labeled",
                    s.name,
                    if detect {
                        "boxes (its annotators disagree)"
                    } else {
                        "label"
                    }
                ));
            }
        };
        let mut idx = Vec::with_capacity(labels.len());
        for c in labels {
            match class_index.get(c) {
                Some(&i) => idx.push(i),
                None => {
                    return Err(anyhow!(
                        "sample `{}` is labeled with a class that is archived or unknown",
                        s.name
                    ));
                }
            }
        }
        idx.sort_unstable();
        idx.dedup();
        let boxes: Vec<features::ExportBox> = match settled.get(&s.id) {
            Some(boxes) => {
                let (w, h) = match (s.width, s.height) {
                    (Some(w), Some(h)) => (f64::from(w), f64::from(h)),
                    _ => return Err(anyhow!("image `{}` has no size", s.name)),
                };
                boxes
                    .iter()
                    .map(|b| {
                        let class = class_index.get(&b.class).copied().ok_or_else(|| {
                            anyhow!(
                                "image `{}` has a box of an archived or unknown class",
                                s.name
                            )
                        })?;
                        Ok(features::ExportBox::clipped(class, b, w, h))
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            None => Vec::new(),
        };
        stats.max_boxes = stats.max_boxes.max(boxes.len() as u64);
        stats.add(
            s.kind,
            s.format.as_deref(),
            (s.height.is_some(), s.width.is_some()),
            s.has_text,
            s.features.as_ref(),
        );
        if stats.images > 0 && stats.rows > 0 {
            return Err(anyhow!(
                "this project holds both images and table rows; an export holds one kind"
            ));
        }
        let split = split_of(&s.hash, options.seed, &options.splits);
        let c = &mut counts[split];
        c.0 += 1;
        if detect {
            // A detect dataset's class counts are its boxes.
            for b in &boxes {
                c.1[b.class as usize] += 1;
            }
        } else {
            for &i in &idx {
                c.1[i as usize] += 1;
            }
        }
        plan.push(Planned {
            id: s.id,
            split,
            labels: idx,
            boxes,
            file_name: names
                .as_mut()
                .map(|n| n.name(&s.name, &s.hash, s.format.as_deref())),
            bytes: s.bytes,
        });
        Ok(())
    })?;
    let summaries = counts
        .into_iter()
        .map(|(count, per_class)| SplitSummary {
            count,
            classes: label_map.iter().cloned().zip(per_class).collect(),
        })
        .collect();
    Ok((plan, stats, summaries))
}

/// Reads an image file and checks it is the content that was imported and validated.
///
/// Exactly the imported number of bytes is read (no probe for more): what
/// is exported is those bytes, and only if their BLAKE3 is the imported hash, so a file
/// that shrank or changed is refused and one that only grew at its end exports its
/// original content.
fn read_checked(path: &Path, sample: &Sample) -> anyhow::Result<Vec<u8>> {
    let context = || {
        format!(
            "could not read `{}` (sample `{}`)",
            path.display(),
            sample.name
        )
    };
    // Only from a regular file, and the memory is the file's real size at most (the size in
    // the project is not trusted for an allocation).
    let bytes = crate::media::read_file_start(path, sample.bytes).with_context(context)?;
    let same =
        bytes.len() as u64 == sample.bytes && blake3::hash(&bytes).to_hex().as_str() == sample.hash;
    match () {
        _ if !same => Err(anyhow!(
            "`{}` (sample `{}`) changed since it was imported: its content hash differs",
            path.display(),
            sample.name
        )),
        _ => Ok(bytes),
    }
}

/// The lower-case hex SHA-256 of a sample's bytes, read and checked by [`read_checked`]: the
/// checked BLAKE3 makes them the bytes the import hashed, so the SHA-256 it took is theirs;
/// a sample without one (a table row, an older project's or hub's) is hashed here.
fn image_sha256(sample: &Sample, bytes: &[u8]) -> String {
    use sha2::Digest;
    match &sample.sha256 {
        Some(stored) => hex(stored),
        None => hex(&sha2::Sha256::digest(bytes)),
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The dataset folder to create, checked before anything is written.
struct Target {
    out: PathBuf,
    parent: PathBuf,
    name: String,
    replace: bool,
}

impl Target {
    fn check(out: &Path, force: bool) -> anyhow::Result<Target> {
        let abs = std::path::absolute(out)
            .with_context(|| format!("`{}` is not a usable path", out.display()))?;
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .ok_or_else(|| anyhow!("`{}`: give the dataset folder a name", out.display()))?;
        let parent = abs
            .parent()
            .ok_or_else(|| anyhow!("`{}`: give the dataset folder a name", out.display()))?
            .to_path_buf();
        restore_moved_aside(&parent, &name, &abs)?;
        let replace = match fs::symlink_metadata(&abs) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(anyhow!("could not look at `{}`: {e}", out.display())),
            Ok(_) if !force => {
                return Err(anyhow!(
                    "`{}` already exists; choose another folder, or use --force to replace it",
                    out.display()
                ));
            }
            Ok(m) if !m.is_dir() => {
                return Err(anyhow!(
                    "`{}` exists and is not a folder; refusing to replace it",
                    out.display()
                ));
            }
            Ok(_) => {
                let empty = fs::read_dir(&abs)
                    .with_context(|| format!("could not read `{}`", out.display()))?
                    .next()
                    .is_none();
                if !empty && !abs.join("manifest.json").is_file() {
                    return Err(anyhow!(
                        "`{}` does not hold a keylabel export (no manifest.json); refusing \
                         to replace it",
                        out.display()
                    ));
                }
                true
            }
        };
        Ok(Target {
            out: abs,
            parent,
            name,
            replace,
        })
    }

    fn marker(&self, what: &str) -> String {
        marker(&self.name, what)
    }

    /// Removes temporary folders left by killed exports to the same target, creates the
    /// parent folder if needed, and makes a fresh temporary folder.
    fn stage(self) -> anyhow::Result<Staging> {
        // The folders made for it go again with an export that does not finish.
        let made: Vec<PathBuf> = self
            .parent
            .ancestors()
            .take_while(|d| fs::symlink_metadata(d).is_err())
            .map(Path::to_path_buf)
            .collect();
        fs::create_dir_all(&self.parent)
            .with_context(|| format!("could not create `{}`", self.parent.display()))?;
        let me = std::process::id();
        for what in ["tmp", "old"] {
            for stale in stale_folders(&self.parent, &self.name, what) {
                let _ = fs::remove_dir_all(stale);
            }
        }
        let tmp = self.parent.join(format!("{}{me}", self.marker("tmp")));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)
                .with_context(|| format!("could not remove `{}`", tmp.display()))?;
        }
        fs::create_dir(&tmp).with_context(|| format!("could not create `{}`", tmp.display()))?;
        Ok(Staging {
            tmp,
            target: self,
            made,
            committed: false,
        })
    }
}

/// The prefix of the hidden folders an export to `name` works in: `tmp` (being written),
/// `old` (a replaced dataset moved aside); the process id follows.
fn marker(name: &str, what: &str) -> String {
    format!(".{name}.keylabel-{what}-")
}

/// Where the system cannot swap two folders in one step, replacing a dataset takes two
/// renames; an export killed between them left the previous dataset moved aside and
/// nothing at `out`. Puts it back, so that the previous dataset is never lost (the
/// unfinished new one is removed with the other leftovers when the next export stages).
fn restore_moved_aside(parent: &Path, name: &str, out: &Path) -> anyhow::Result<()> {
    if fs::symlink_metadata(out).is_ok() {
        return Ok(());
    }
    if let Some(aside) = stale_folders(parent, name, "old").into_iter().next() {
        fs::rename(&aside, out).with_context(|| {
            format!(
                "an earlier export was stopped while replacing `{}`; the previous dataset is \
                 in `{}` and could not be put back",
                out.display(),
                aside.display()
            )
        })?;
        eprintln!(
            "keylabel: an earlier export was stopped while replacing `{}`; the previous \
             dataset was put back",
            out.display()
        );
    }
    Ok(())
}

/// The `what` folders (see [`marker`]) beside `name` in `parent` whose export process no
/// longer runs.
fn stale_folders(parent: &Path, name: &str, what: &str) -> Vec<PathBuf> {
    crate::leftovers::stale(parent, &marker(name, what))
}

/// Swaps two folders in one step (Linux `renameat2` with `RENAME_EXCHANGE`): at every
/// instant each path holds one complete folder. `Ok(false)` where the system or the file
/// system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them as given.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// The temporary folder an export is written into; removed on drop unless committed.
struct Staging {
    tmp: PathBuf,
    target: Target,
    /// The folders above the target that staging created, the deepest first.
    made: Vec<PathBuf>,
    committed: bool,
}

impl Staging {
    fn write_file(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        use std::io::Write;
        let path = self.tmp.join(name);
        let mut f = fs::File::create(&path)
            .with_context(|| format!("could not create `{}`", path.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("could not write `{}`", path.display()))
    }

    /// Moves the finished dataset into place (replacing the old one only now).
    fn commit(mut self) -> anyhow::Result<PathBuf> {
        if let Ok(entries) = fs::read_dir(&self.tmp) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    sync_dir(&e.path());
                }
            }
        }
        sync_dir(&self.tmp);
        let out = self.target.out.clone();
        if self.target.replace && out.exists() {
            // One step where the system can: the old dataset ends up in the temporary
            // folder, which is then removed.
            if exchange(&self.tmp, &out)
                .with_context(|| format!("could not replace `{}`", out.display()))?
            {
                sync_dir(&self.target.parent);
                let _ = fs::remove_dir_all(&self.tmp);
                self.committed = true;
                return Ok(out);
            }
            let old = self.target.parent.join(format!(
                "{}{}",
                self.target.marker("old"),
                std::process::id()
            ));
            fs::rename(&out, &old)
                .with_context(|| format!("could not move the old `{}` aside", out.display()))?;
            if let Err(e) = fs::rename(&self.tmp, &out) {
                let _ = fs::rename(&old, &out);
                return Err(anyhow!(
                    "could not move the export into `{}`: {e}",
                    out.display()
                ));
            }
            self.committed = true;
            let _ = fs::remove_dir_all(&old);
        } else {
            if out.exists() {
                return Err(anyhow!(
                    "`{}` appeared while exporting; nothing was replaced",
                    out.display()
                ));
            }
            fs::rename(&self.tmp, &out)
                .with_context(|| format!("could not move the export into `{}`", out.display()))?;
            self.committed = true;
        }
        sync_dir(&self.target.parent);
        Ok(out)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
            for dir in &self.made {
                // Only while empty: another program may have put something there since.
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

/// Makes a folder's entries durable (a no-op where folders cannot be opened).
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(sizes: &[u64]) -> Vec<Planned> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| Planned {
                id: SampleId(i as i64),
                split: 0,
                labels: vec![0],
                boxes: Vec::new(),
                file_name: None,
                bytes,
            })
            .collect()
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes_and_cover_the_plan_in_order() {
        let small = plan_of(&vec![1000; 600]);
        let lens: Vec<usize> = batches(&small).map(<[Planned]>::len).collect();
        assert_eq!(lens, vec![256, 256, 88]);

        let mb = 1 << 20;
        let big = plan_of(&[20 * mb, 20 * mb, 20 * mb, 200 * mb, mb]);
        let ids: Vec<Vec<SampleId>> = batches(&big)
            .map(|b| b.iter().map(|p| p.id).collect())
            .collect();
        // 48 MB per batch; a file larger than that is a batch of its own.
        let ids: Vec<Vec<i64>> = ids
            .iter()
            .map(|b| b.iter().map(|s| s.0).collect())
            .collect();
        assert_eq!(ids, vec![vec![0, 1], vec![2], vec![3], vec![4]]);

        assert_eq!(batches(&[]).count(), 0);
    }
}
