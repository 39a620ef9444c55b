//! `agreement`, `annotators` and `settings`.

use super::{AgreementArgs, Cli, JsonArg, Outcome, SettingsAction, SettingsArgs, open, print_json};
use crate::review::{agreement, annotators as stats, settings as keys};

pub fn agreement(cli: &Cli, args: &AgreementArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let report = agreement::agreement(&project, args.by_class)?;
    if args.json {
        print_json(&report.to_json())?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(Outcome::Exit(0))
}

pub fn annotators(cli: &Cli, args: &JsonArg) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let s = stats::annotator_stats(&project)?;
    if args.json {
        print_json(&stats::stats_json(&s))?;
    } else {
        print!("{}", stats::stats_text(&s));
    }
    Ok(Outcome::Exit(0))
}

/// Prints the settings as JSON; `settings set KEY VALUE` changes one first.
pub fn settings(cli: &Cli, args: &SettingsArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let mut settings = project.settings()?;
    if let Some(SettingsAction::Set { key, value }) = &args.action {
        keys::set_by_name(&mut settings, key, value)?;
        project.set_settings(&settings)?;
    }
    print_json(&settings)?;
    Ok(Outcome::Exit(0))
}
