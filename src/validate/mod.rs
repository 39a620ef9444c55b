//! Validation: every check over the whole project, returned as findings with stable
//! upper-case codes (in the spirit of TFDV's anomaly names). An error blocks export; a
//! warning does not.

use serde::{Deserialize, Serialize};

use crate::project::{Project, Result, SampleQuery, SampleStatus};

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
}

/// What the validation is for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    /// Export the labeled subset only: unlabeled samples are a warning, not an error.
    pub only_labeled: bool,
}

/// Runs every check over the whole project.
pub fn validate(project: &Project, options: &Options) -> Result<Report> {
    let mut findings = Vec::new();
    unlabeled(project, options, &mut findings)?;
    Ok(Report::new(findings))
}

fn names(project: &Project, query: &SampleQuery) -> Result<Vec<String>> {
    let ids = project.sample_ids(query, 0, MAX_LISTED as u64)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = project.sample(id)? {
            out.push(s.name);
        }
    }
    Ok(out)
}

fn unlabeled(project: &Project, options: &Options, out: &mut Vec<Finding>) -> Result<()> {
    let mut count = 0;
    let mut samples = Vec::new();
    for status in [SampleStatus::Unlabeled, SampleStatus::Skipped] {
        let q = SampleQuery {
            status: Some(status),
            ..SampleQuery::default()
        };
        let n = project.count_samples(&q)?;
        count += n;
        if n > 0 && samples.len() < MAX_LISTED {
            samples.extend(names(project, &q)?);
            samples.truncate(MAX_LISTED);
        }
    }
    if count > 0 {
        let (severity, tail) = if options.only_labeled {
            (Severity::Warning, "they are left out of the export")
        } else {
            (
                Severity::Error,
                "label them, or export with --only-labeled to leave them out",
            )
        };
        out.push(Finding {
            code: "UNLABELED_SAMPLES".into(),
            severity,
            count,
            message: format!("{count} samples have no label (skipped ones included); {tail}"),
            samples,
        });
    }
    Ok(())
}
