//! Validation: every check over the whole project, returned as findings with stable
//! upper-case codes (in the spirit of TFDV's anomaly names). An error blocks export; a
//! warning does not.
//!
//! The checks are grouped by what they read:
//! - [`labels`]: the derived label state (unlabeled, disagreements, labels outside the schema);
//! - [`duplicates`]: samples sharing one content hash;
//! - [`files`]: one parallel pass over the image files (missing, changed, unreadable, size
//!   and colour outliers), which also feeds [`phash`] (near-duplicates);
//! - [`text`]: empty text rows;
//! - [`distribution`]: the class distribution (imbalance, rare and empty classes, drift
//!   since the previous export, low agreement).
//!
//! Everything that scales with the number of samples is an aggregate query over an index or
//! a stream; only image samples touch the disk. Samples that are excluded (and, with
//! [`Options::only_labeled`], unlabeled ones) are never exported, so the sample-level checks
//! leave them out.

mod boxes;
mod distribution;
mod duplicates;
pub(crate) mod files;
mod labels;
pub mod phash;
mod text;

use crate::plural;
use serde::{Deserialize, Serialize};

use crate::project::{Project, Result, SampleId};

pub use distribution::{DriftDistances, LAST_EXPORT_KEY, drift_distances, low_agreement};

/// How many affected sample names a finding lists.
pub const MAX_LISTED: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable upper-case code, e.g. `UNLABELED_SAMPLES`.
    pub code: String,
    pub severity: Severity,
    /// How many samples (or classes, for class-level findings) are affected.
    pub count: u64,
    pub message: String,
    /// Up to [`MAX_LISTED`] affected sample names.
    pub samples: Vec<String>,
}

impl Finding {
    fn new(code: &str, severity: Severity, count: u64, message: String) -> Finding {
        Finding {
            code: code.into(),
            severity,
            count,
            message,
            samples: Vec::new(),
        }
    }

    fn with_samples(mut self, mut samples: Vec<String>) -> Finding {
        samples.truncate(MAX_LISTED);
        self.samples = samples;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// No finding is an error.
    pub ok: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(mut findings: Vec<Finding>) -> Report {
        findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.code.cmp(&b.code)));
        Report {
            ok: findings.iter().all(|f| f.severity != Severity::Error),
            findings,
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// The finding with this code, if any.
    pub fn finding(&self, code: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }
}

/// What the validation is for.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Export the labeled subset only: unlabeled samples are a warning, not an error, and
    /// the other sample-level checks leave them out.
    pub only_labeled: bool,
    /// Run the perceptual-hash pass (`NEAR_DUPLICATES`). Hashes are cached in the project,
    /// so only new or changed images cost time.
    pub near_duplicates: bool,
    /// How many splits the export writes; a class with fewer samples cannot appear in
    /// every split (`RARE_CLASS`).
    pub splits: usize,
    /// Krippendorff's alpha of the project's overlapping labels, when the caller already
    /// computed it; `None`: validation computes it. Below the `min_agreement` setting it is
    /// `LOW_AGREEMENT`.
    pub agreement_alpha: Option<f64>,
    /// Read and hash every image file, even those whose size, times and inode show they
    /// are unchanged since the last validation found them intact.
    pub rehash: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            only_labeled: false,
            near_duplicates: true,
            splits: 2,
            agreement_alpha: None,
            rehash: false,
        }
    }
}

pub use crate::progress::{NoProgress, Progress};

/// Runs every check over the whole project.
pub fn validate(project: &Project, options: &Options) -> Result<Report> {
    validate_with(project, options, &NoProgress)
}

/// [`validate`], reporting progress of the file passes to `progress`.
pub fn validate_with(
    project: &Project,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report> {
    Ok(validate_for_export(project, options, progress)?.0)
}

/// The final boxes of a detect project's labeled images (see [`Project::final_boxes`]).
pub(crate) type FinalBoxes = std::collections::HashMap<SampleId, Vec<crate::project::BoundingBox>>;

/// [`validate_with`], and for a detect project of a sound file the final boxes it checked,
/// so the export writes what was validated without working them out again.
pub(crate) fn validate_for_export(
    project: &Project,
    options: &Options,
    progress: &dyn Progress,
) -> Result<(Report, Option<FinalBoxes>)> {
    // The file's damage check reads every page: on a large project most of validation's
    // time. It runs beside the other passes, and nothing is written into the file (the
    // passes' caches) before it has passed; a damaged file's findings are discarded.
    let check = DamageCheck::start(project);
    let (report, final_boxes) = validate_sound(project, options, progress, &check)?;
    let damage = check.result()?;
    if damage.is_empty() {
        return Ok((report, final_boxes));
    }
    Ok((
        Report::new(vec![Finding::new(
            "DAMAGED_PROJECT_FILE",
            Severity::Error,
            damage.len() as u64,
            format!(
                "the project file is damaged ({}); nothing was checked further. `keylabel \
                 check` says more; keep a copy of the file, and restore it from a backup \
                 or a team member's copy (`merge` brings their labels back)",
                damage.join("; ")
            ),
        )]),
        None,
    ))
}

/// The damage check of a project file, run on a second, read-only connection on its own
/// thread (or, when no second connection can be opened, on the project's own, at once).
pub(crate) struct DamageCheck(std::sync::Mutex<CheckState>);

enum CheckState {
    Running(std::thread::JoinHandle<Result<Vec<String>>>),
    Done(Vec<String>),
}

impl DamageCheck {
    fn start(project: &Project) -> DamageCheck {
        let state = match Project::open_read_only(project.path()) {
            Ok(twin) => CheckState::Running(std::thread::spawn(move || twin.damage(true))),
            Err(_) => CheckState::Done(
                project
                    .damage(true)
                    .unwrap_or_else(|e| vec![format!("{e:#}")]),
            ),
        };
        DamageCheck(std::sync::Mutex::new(state))
    }

    /// What the check found (waiting for it to end): empty when the file is sound.
    pub(crate) fn result(&self) -> Result<Vec<String>> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let CheckState::Running(_) = &*state {
            let CheckState::Running(handle) =
                std::mem::replace(&mut *state, CheckState::Done(Vec::new()))
            else {
                unreachable!("matched above")
            };
            let found = handle
                .join()
                .map_err(|_| anyhow::anyhow!("the project file's damage check failed"))??;
            *state = CheckState::Done(found);
        }
        match &*state {
            CheckState::Done(found) => Ok(found.clone()),
            CheckState::Running(_) => unreachable!("joined above"),
        }
    }

    /// Whether the file may be written (waits for the check).
    pub(crate) fn sound(&self) -> Result<bool> {
        Ok(self.result()?.is_empty())
    }
}

/// Validation's passes, `check` telling whether their caches may be written.
fn validate_sound(
    project: &Project,
    options: &Options,
    progress: &dyn Progress,
    check: &DamageCheck,
) -> Result<(Report, Option<FinalBoxes>)> {
    let settings = project.settings()?;
    let v = &settings.validation;
    let mut findings = Vec::new();

    labels::unlabeled(project, options, &mut findings)?;
    let labels = labels::check(project, settings.consensus, &mut findings)?;
    duplicates::check(project, options, settings.consensus, &mut findings)?;
    let files = files::check(project, options, v, progress, check, &mut findings)?;
    if options.near_duplicates {
        phash::near_duplicates(project, &files.perceptual, v, &mut findings)?;
    }
    text::empty_text(project, options, &mut findings)?;
    // A detect project's classes are balanced (or not) in boxes.
    let final_boxes = if project.task().is_detect() {
        Some(project.final_boxes(settings.consensus)?)
    } else {
        None
    };
    let box_counts = final_boxes
        .as_ref()
        .map(|finals| boxes::check(project, options, v, finals, &mut findings))
        .transpose()?;
    let class_counts = box_counts.as_ref().unwrap_or(&labels.final_counts);
    distribution::check(project, options, v, class_counts, &mut findings)?;
    let alpha = match options.agreement_alpha {
        Some(a) => Some(a),
        None => project_alpha(project)?,
    };
    findings.extend(low_agreement(alpha, v.min_agreement));
    Ok((Report::new(findings), final_boxes))
}

/// Krippendorff's alpha (nominal) over the samples labeled by two or more annotators;
/// `None` where it is undefined (no overlap, or every label in one class).
fn project_alpha(project: &Project) -> Result<Option<f64>> {
    let annotations = crate::review::agreement::Annotations::load(
        project,
        crate::review::agreement::Labels::Rated,
    )?;
    Ok(crate::review::agreement::report(&annotations, false)
        .krippendorff_alpha
        .value
        .ok())
}

/// SQL condition (over `samples s`) selecting the samples an export would write: never the
/// excluded ones, and with `only_labeled` only the labeled ones.
fn scope_condition(options: &Options) -> &'static str {
    if options.only_labeled {
        "EXISTS (SELECT 1 FROM sample_state st WHERE st.sample_id = s.id \
         AND st.status = 'labeled')"
    } else {
        "NOT EXISTS (SELECT 1 FROM sample_state st WHERE st.sample_id = s.id \
         AND st.status = 'excluded')"
    }
}

/// The names of `ids` (at most [`MAX_LISTED`]), in the given order.
fn names_of(project: &Project, ids: &[SampleId]) -> Result<Vec<String>> {
    let mut stmt = project
        .conn()
        .prepare_cached("SELECT name FROM samples WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ids.len().min(MAX_LISTED));
    for id in ids.iter().take(MAX_LISTED) {
        let name: String = stmt.query_row([id], |r| r.get(0))?;
        out.push(name);
    }
    Ok(out)
}
