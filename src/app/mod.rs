//! The labeling window (eframe/egui). A thin front end: every action goes through the core
//! library.

use std::path::PathBuf;

/// Opens the window on `project`, or the start screen without one.
pub fn run(_project: Option<PathBuf>, _annotator: String) -> anyhow::Result<()> {
    anyhow::bail!("the labeling window is not available in this build yet")
}

/// Opens the window on the built-in demo project.
pub fn run_demo(_annotator: String) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not available in this build yet")
}

pub mod grid;
pub mod loader;
pub mod thumbs;
