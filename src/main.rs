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
        Outcome::Gui(project) => window(project, annotator),
        Outcome::Demo => demo(annotator),
    });
    match outcome {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let message = format!("{e:#}");
            eprintln!(
                "keylabel: error: {}",
                keylabel::cli::terminal_safe(&message)
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "gui")]
fn window(project: Option<std::path::PathBuf>, annotator: String) -> anyhow::Result<i32> {
    keylabel::app::run(project, annotator).map(|()| 0)
}

#[cfg(feature = "gui")]
fn demo(annotator: String) -> anyhow::Result<i32> {
    keylabel::app::run_demo(annotator).map(|()| 0)
}

#[cfg(not(feature = "gui"))]
fn window(_: Option<std::path::PathBuf>, _: String) -> anyhow::Result<i32> {
    Err(no_window())
}

#[cfg(not(feature = "gui"))]
fn demo(_: String) -> anyhow::Result<i32> {
    Err(no_window())
}

#[cfg(not(feature = "gui"))]
fn no_window() -> anyhow::Error {
    anyhow::anyhow!(
        "this keylabel was built without its window (cargo feature `gui`); every other \
         command works: see `keylabel --help`, or build with the default features for the \
         window"
    )
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
