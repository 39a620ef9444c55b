//! Adds every image file of a folder to an existing project, reading size, format and a
//! content hash with the `image` crate. Used by `.ci/window-test` so that the real-window
//! test does not depend on the import command.
//!
//! `cargo run --example gui_fixture -- PROJECT FOLDER`

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use keylabel::Project;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [project, folder] = args.as_slice() else {
        anyhow::bail!("usage: gui_fixture PROJECT FOLDER");
    };
    let mut project = Project::open(Path::new(project))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("could not read `{folder}`"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut batch = Vec::new();
    for f in &files {
        let bytes =
            std::fs::read(f).with_context(|| format!("could not read `{}`", f.display()))?;
        batch.push(keylabel_testkit::fixtures::image_sample_of(
            &project, f, &bytes,
        ));
    }
    project.insert_samples(&batch)?;
    println!("added {} samples", batch.len());
    Ok(())
}
