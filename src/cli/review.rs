//! `agreement`, `annotators` and `settings`.

use super::{AgreementArgs, Cli, JsonArg, Outcome, SettingsAction, SettingsArgs, open, print_json};
use crate::plural;
use crate::project::TaskKind;
use crate::review::agreement::{AgreementReport, Measure};
use crate::review::annotators::AnnotatorStats;
use crate::review::{agreement, annotators as stats};

pub fn agreement(cli: &Cli, args: &AgreementArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    if !(args.iou > 0.0 && args.iou <= 1.0) {
        anyhow::bail!("--iou must be above 0 and at most 1, not {}", args.iou);
    }
    let report = agreement::agreement(&project, args.by_class)?;
    let boxes = project
        .task()
        .is_detect()
        .then(|| crate::review::box_agreement::box_agreement(&project, args.iou))
        .transpose()?;
    if args.json {
        let mut doc = report.to_json();
        if let Some(b) = &boxes {
            doc["boxes"] = b.to_json();
        }
        print_json(&doc)?;
    } else {
        print!("{}", agreement_text(&report));
        if let Some(b) = &boxes {
            print!("{}", box_agreement_text(b));
        }
    }
    Ok(Outcome::Exit(0))
}

pub fn annotators(cli: &Cli, args: &JsonArg) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let s = stats::annotator_stats(&project)?;
    if args.json {
        print_json(&stats::stats_json(&s))?;
    } else {
        print!("{}", stats_text(&s, project.task()));
    }
    Ok(Outcome::Exit(0))
}

/// Prints the settings as JSON; `settings set KEY VALUE` changes one first (on a replica,
/// one of the team's on the hub first: see [`crate::hub::settings::change`]).
pub fn settings(cli: &Cli, args: &SettingsArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let settings = match &args.action {
        Some(SettingsAction::Set { key, value }) => {
            crate::hub::settings::change(&project, key, value)?
        }
        None => project.settings()?,
    };
    print_json(&settings)?;
    Ok(Outcome::Exit(0))
}

/// The box agreement of a detect project, one line per annotator pair.
fn box_agreement_text(b: &crate::review::box_agreement::BoxAgreement) -> String {
    use std::fmt::Write;
    let fmt = |m: &Measure| match m {
        Ok(v) => format!("{v:.4}"),
        Err(u) => format!("undefined ({})", u.reason()),
    };
    let mut s = format!("Boxes (matched at IoU >= {}):\n", b.iou_threshold);
    for p in &b.pairs {
        let _ = writeln!(
            s,
            "  {} / {}: {} images, {} matched, {} only {}, {} only {}; F1 {}, mean IoU {}",
            p.a,
            p.b,
            p.images,
            p.matched,
            p.only_a,
            p.a,
            p.only_b,
            p.b,
            fmt(&p.f1),
            fmt(&p.mean_iou)
        );
    }
    if b.pairs.is_empty() {
        s.push_str("  no image was decided by two annotators\n");
    }
    s
}

/// The agreement report as a readable table for the terminal.
fn agreement_text(report: &AgreementReport) -> String {
    use std::fmt::Write;
    let fmt = |m: &Measure| match m {
        Ok(v) => format!("{v:>8.4}"),
        Err(u) => format!("   undefined: {}", u.reason()),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Agreement over {} labeled samples, {} annotators{}",
        report.items,
        report.annotators.len(),
        if report.task == TaskKind::MultiLabel {
            " (multi-label: one-vs-rest decisions per class, pooled)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "  {:<22}{}   over {} samples with 2+ labels",
        "percent agreement",
        fmt(&report.percent_agreement.value),
        report.percent_agreement.items
    );
    let _ = writeln!(
        s,
        "  {:<22}{}   over {} samples with {} labels each",
        "Fleiss' kappa",
        fmt(&report.fleiss_kappa.value),
        report.fleiss_kappa.items,
        report.fleiss_kappa.raters
    );
    let _ = writeln!(
        s,
        "  {:<22}{}   over {} samples with 2+ labels (nominal)",
        "Krippendorff's alpha",
        fmt(&report.krippendorff_alpha.value),
        report.krippendorff_alpha.items
    );
    if report.sent_back > 0 {
        let _ = writeln!(
            s,
            "  {} sent back by a reviewer: the labels given before count (the \
             disagreement happened)",
            plural(report.sent_back, "sample", "samples")
        );
    }
    if !report.cohen_kappa.is_empty() {
        let w = report
            .annotators
            .iter()
            .map(|a| a.chars().count())
            .max()
            .unwrap_or(1)
            .max(9);
        let _ = writeln!(s, "\nCohen's kappa per pair");
        let _ = writeln!(
            s,
            "  {:<w$}  {:<w$}  {:>9}  {:>8}",
            "a", "b", "samples", "kappa"
        );
        for p in &report.cohen_kappa {
            let _ = writeln!(
                s,
                "  {:<w$}  {:<w$}  {:>9}  {}",
                p.a,
                p.b,
                p.items,
                fmt(&p.kappa)
            );
        }
    }
    if let Some(bc) = &report.by_class {
        let _ = writeln!(s, "\nKrippendorff's alpha per class (one-vs-rest)");
        for c in &bc.alpha {
            let _ = writeln!(
                s,
                "  {:<24}{}   over {} samples",
                c.class,
                fmt(&c.alpha.value),
                c.alpha.items
            );
        }
        for c in &bc.confusion {
            let _ = writeln!(
                s,
                "\nConfusion {} (rows) vs {} (columns){}, {} samples",
                c.a,
                c.b,
                c.class
                    .as_ref()
                    .map(|n| format!(", class {n}"))
                    .unwrap_or_default(),
                c.items
            );
            let w = c
                .labels
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(1)
                .max(6);
            let mut header = format!("  {:<w$}", "");
            for l in &c.labels {
                let _ = write!(header, " {l:>w$}");
            }
            let _ = writeln!(s, "{header}");
            for (l, row) in c.labels.iter().zip(&c.matrix) {
                let mut line = format!("  {l:<w$}");
                for v in row {
                    let _ = write!(line, " {v:>w$}");
                }
                let _ = writeln!(s, "{line}");
            }
        }
    }
    s
}

/// A readable table for the terminal.
fn stats_text(stats: &[AnnotatorStats], task: crate::project::TaskKind) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if stats.is_empty() {
        out.push_str("no annotators yet\n");
        return out;
    }
    let w = stats
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(9);
    let _ = writeln!(
        out,
        "{:<w$}  {:>8}  {:>9}  {:>9}  {:>14}  {:>7}  most confused (given → final)",
        "annotator",
        "labels",
        "median s",
        "labels/h",
        AnnotatorStats::vs_final_heading(task),
        "reviews"
    );
    for s in stats {
        let opt = |v: Option<f64>, prec: usize| match v {
            Some(v) => format!("{v:.prec$}"),
            None => "-".into(),
        };
        let kappa = match s.vs_final(task) {
            (Ok(v), items) => format!("{v:.3} ({items})"),
            (Err(_), _) => "undefined".into(),
        };
        let confused = s
            .confused
            .iter()
            .map(|c| format!("{} → {} ×{}", c.given, c.final_label, c.count))
            .collect::<Vec<_>>()
            .join(", ");
        let line = format!(
            "{:<w$}  {:>8}  {:>9}  {:>9}  {:>14}  {:>7}  {}",
            s.name,
            s.labels,
            opt(s.median_seconds, 1),
            opt(s.labels_per_hour, 0),
            kappa,
            s.reviews,
            confused
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let undefined: Vec<String> = stats
        .iter()
        .filter_map(|s| {
            s.vs_final(task).0.err().map(|u| {
                let what = AnnotatorStats::vs_final_heading(task);
                format!("  {}: {what} undefined: {}", s.name, u.reason())
            })
        })
        .collect();
    for line in undefined {
        let _ = writeln!(out, "{line}");
    }
    out
}
