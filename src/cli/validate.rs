//! `keylabel validate`: runs every check and prints the findings, grouped by severity.

use super::{Cli, Outcome, ValidateArgs, open, print_json};
use crate::validate::{Finding, Options, Report, Severity, validate_with};

/// Sample names shown per finding in the text output (`--json` lists up to 100).
const SHOWN: usize = 10;

pub fn run(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let progress = super::progress::TerminalProgress::new();
    let options = Options {
        rehash: args.rehash,
        ..Options::default()
    };
    let report = validate_with(&project, &options, &progress)?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(Outcome::Exit(if report.ok { 0 } else { 1 }))
}

/// The text report: a summary line, then errors and warnings with their samples.
pub fn render(report: &Report) -> String {
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    let mut out = String::new();
    if report.findings.is_empty() {
        out.push_str("No problems found; the project is ready to export.\n");
        return out;
    }
    out.push_str(&format!(
        "{} and {}: {}\n",
        count(errors, "error"),
        count(warnings, "warning"),
        if report.ok {
            "export can go ahead"
        } else {
            "export is refused until the errors are fixed"
        }
    ));
    for (severity, title) in [(Severity::Error, "Errors"), (Severity::Warning, "Warnings")] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for f in group {
            let message = super::terminal_safe(&f.message);
            out.push_str(&format!("  {} ({}): {message}\n", f.code, f.count));
            if !f.samples.is_empty() {
                let shown: Vec<_> = f
                    .samples
                    .iter()
                    .take(SHOWN)
                    .map(|s| super::terminal_safe(s))
                    .collect();
                let more = f.count.saturating_sub(shown.len() as u64);
                let tail = if more > 0 && f.count >= f.samples.len() as u64 {
                    format!(" … and {more} more")
                } else {
                    String::new()
                };
                out.push_str(&format!("      {}{tail}\n", shown.join(", ")));
            }
        }
    }
    out
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
