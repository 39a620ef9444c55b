use std::process::ExitCode;

use clap::Parser;
use keylabel::cli::{Cli, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let annotator = cli.annotator_name();
    let outcome = keylabel::cli::run(cli).and_then(|outcome| match outcome {
        Outcome::Exit(code) => Ok(code),
        Outcome::Gui(project) => keylabel::app::run(project, annotator).map(|()| 0),
        Outcome::Demo => keylabel::app::run_demo(annotator).map(|()| 0),
    });
    match outcome {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("keylabel: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
