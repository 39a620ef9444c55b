//! `validate` and `export`.

use super::{Cli, ExportArgs, ExportFormat, Outcome, ValidateArgs, open, terminal_safe};
use crate::export::{self, ExportError, ExportOptions, Format};
use crate::validate::{Report, Severity};

pub fn validate(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<Outcome> {
    super::validate::run(cli, args)
}

pub fn export(cli: &Cli, args: &ExportArgs) -> anyhow::Result<Outcome> {
    let options = ExportOptions {
        format: match args.format {
            ExportFormat::Tfrecord => Format::TfRecord,
            ExportFormat::Csv => Format::Csv,
            ExportFormat::Jsonl => Format::Jsonl,
            ExportFormat::Coco => Format::Coco,
            ExportFormat::Voc => Format::Voc,
            ExportFormat::Yolo => Format::Yolo,
        },
        out: args.out.clone(),
        splits: export::parse_splits(&args.split)?,
        seed: args.seed,
        gzip: args.gzip,
        shards: args.shards,
        only_labeled: args.only_labeled,
        force: args.force,
    };
    let mut project = open(cli)?;
    let progress = super::progress::TerminalProgress::new();
    let result = export::export(&mut project, &options, &progress);
    let summary = match result {
        Ok(s) => s,
        Err(ExportError::Invalid(report)) => {
            eprintln!(
                "Export refused: validation found errors. Nothing was written to `{}`.",
                options.out.display()
            );
            print_findings(&report);
            return Ok(Outcome::Exit(1));
        }
        Err(e) => {
            // The export is staged in a temporary folder that is removed on failure: say
            // so, beside the path the error names.
            let out = options.out.display();
            return Err(anyhow::Error::from(e).context(format!(
                "the export to `{out}` stopped; nothing was written there"
            )));
        }
    };
    let warnings: Vec<_> = summary
        .report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .collect();
    println!(
        "Exported {} records as {} to `{}`",
        summary.splits.values().map(|s| s.count).sum::<u64>(),
        options.format.as_str(),
        summary.out.display()
    );
    for (name, s) in &summary.splits {
        let classes: Vec<String> = s.classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!("  {name:<10} {:>9}  ({})", s.count, classes.join(", "));
    }
    println!("files");
    for f in &summary.files {
        println!(
            "  {}  {:>9} records  sha256 {}",
            f.path, f.records, f.sha256
        );
    }
    println!("  schema.pbtxt\n  manifest.json");
    if let Some(why) = &summary.not_recorded {
        eprintln!("keylabel: warning: {why}");
    }
    if !warnings.is_empty() {
        println!("warnings");
        for f in warnings {
            println!("  {} ({}): {}", f.code, f.count, terminal_safe(&f.message));
        }
    }
    Ok(Outcome::Exit(0))
}

fn print_findings(report: &Report) {
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let message = terminal_safe(&f.message);
        eprintln!("{severity:<7} {} ({}): {message}", f.code, f.count);
        for s in f.samples.iter().take(10) {
            eprintln!("          {}", terminal_safe(s));
        }
        if f.count as usize > f.samples.len().min(10) {
            eprintln!("          …");
        }
    }
}
