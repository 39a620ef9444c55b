//! `import` and `import-labels`.

use super::{Cli, ImportArgs, ImportLabelsArgs, Outcome, open_sound, print_json};
use crate::ingest::{self, ImportOptions};

pub fn import(cli: &Cli, args: &ImportArgs) -> anyhow::Result<Outcome> {
    let mut project = open_sound(cli)?;
    let options = ImportOptions {
        text_column: args.text_column.clone(),
        id_column: args.id_column.clone(),
        labels_from_folders: args.labels_from_folders,
        annotator: super::hub::annotator(cli, &project)?,
    };
    let progress = super::progress::TerminalProgress::new();
    let report = ingest::import(&mut project, &args.paths, &options, &progress);
    let report = report?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "Imported {} new sample{} ({} already present, {} duplicate{}, {} unreadable, {} \
             skipped: hidden or no image)",
            report.added,
            if report.added == 1 { "" } else { "s" },
            report.already_present,
            report.duplicates,
            if report.duplicates == 1 { "" } else { "s" },
            report.unreadable.len(),
            report.skipped
        );
        for u in &report.unreadable {
            println!(
                "  {}: {}",
                super::terminal_safe(&u.path),
                super::terminal_safe(&u.reason)
            );
        }
    }
    Ok(Outcome::Exit(0))
}

pub fn import_labels(cli: &Cli, args: &ImportLabelsArgs) -> anyhow::Result<Outcome> {
    let mut project = open_sound(cli)?;
    let who = super::hub::annotator(cli, &project)?;
    let report = if project.task().is_detect() {
        ingest::import_boxes(
            &mut project,
            &args.file,
            args.format,
            &who,
            args.as_suggestions,
        )?
    } else if let Some(format) = args.format {
        anyhow::bail!(
            "--format {} reads boxes, and this is a classification project: give a CSV or \
             JSON Lines file of classes",
            format.as_str()
        );
    } else {
        ingest::import_labels(&mut project, &args.file, &who, args.as_suggestions)?
    };
    let what = if report.as_suggestions {
        "suggestion"
    } else {
        "label"
    };
    let unit = if project.task().is_detect() {
        "image"
    } else {
        "row"
    };
    println!(
        "Recorded {} {what}{} on {} sample{} from `{}` ({} {unit}{} unchanged)",
        report.recorded,
        if report.recorded == 1 { "" } else { "s" },
        report.samples,
        if report.samples == 1 { "" } else { "s" },
        args.file.display(),
        report.unchanged,
        if report.unchanged == 1 { "" } else { "s" },
    );
    Ok(Outcome::Exit(0))
}
