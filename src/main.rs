use std::process::ExitCode;

use clap::Parser;
use keylabel::cli::{Cli, Command, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_some() && !matches!(cli.command, Some(Command::Gui | Command::Demo)) {
        restore_default_sigpipe();
    }
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

/// A command whose output is piped into `head` should end quietly when the pipe closes, as
/// Unix tools do, instead of panicking on the failed write. Rust ignores SIGPIPE by default;
/// the command line restores the default action (the window keeps Rust's default).
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread is spawned; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
