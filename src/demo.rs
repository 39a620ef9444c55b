//! The demo project: forty landscape pictures of four classes (beach, forest, mountain,
//! city), made by `examples/make_demo_assets.rs` and built into the binary, so that
//! `keylabel demo` works from any folder on a fresh machine.
//!
//! The project is created once in the user's data folder and reopened afterwards. It is
//! built in a temporary folder and renamed into place, so an interrupted first run leaves
//! no half-made demo behind.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::project::{
    ClassId, EventKind, NewEvent, NewSample, Project, SampleId, Source, TaskKind,
};

/// The demo's classes, in hotkey order.
pub const DEMO_CLASSES: [&str; 4] = ["beach", "forest", "mountain", "city"];

/// Name of the annotator the demo's model suggestions are recorded under.
pub const DEMO_MODEL: &str = "demo-model";

macro_rules! demo_images {
    ($($class:literal / $file:literal,)*) => {
        &[$((
            $class,
            $file,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo/", $class, "/", $file)),
        ),)*]
    };
}

/// (class, file name, bytes) of every demo picture, from `assets/demo/<class>/`.
pub const DEMO_IMAGES: &[(&str, &str, &[u8])] = demo_images![
    "beach" / "beach_01.jpg",
    "beach" / "beach_02.jpg",
    "beach" / "beach_03.jpg",
    "beach" / "beach_04.jpg",
    "beach" / "beach_05.jpg",
    "beach" / "beach_06.jpg",
    "beach" / "beach_07.jpg",
    "beach" / "beach_08.jpg",
    "beach" / "beach_09.jpg",
    "beach" / "beach_10.jpg",
    "forest" / "forest_01.jpg",
    "forest" / "forest_02.jpg",
    "forest" / "forest_03.jpg",
    "forest" / "forest_04.jpg",
    "forest" / "forest_05.jpg",
    "forest" / "forest_06.jpg",
    "forest" / "forest_07.jpg",
    "forest" / "forest_08.jpg",
    "forest" / "forest_09.jpg",
    "forest" / "forest_10.jpg",
    "mountain" / "mountain_01.jpg",
    "mountain" / "mountain_02.jpg",
    "mountain" / "mountain_03.jpg",
    "mountain" / "mountain_04.jpg",
    "mountain" / "mountain_05.jpg",
    "mountain" / "mountain_06.jpg",
    "mountain" / "mountain_07.jpg",
    "mountain" / "mountain_08.jpg",
    "mountain" / "mountain_09.jpg",
    "mountain" / "mountain_10.jpg",
    "city" / "city_01.jpg",
    "city" / "city_02.jpg",
    "city" / "city_03.jpg",
    "city" / "city_04.jpg",
    "city" / "city_05.jpg",
    "city" / "city_06.jpg",
    "city" / "city_07.jpg",
    "city" / "city_08.jpg",
    "city" / "city_09.jpg",
    "city" / "city_10.jpg",
];

/// keylabel's folder for user data (e.g. `~/.local/share/keylabel` on Linux), or
/// `./keylabel-data` where the platform reports no home folder.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "keylabel")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("keylabel-data"))
}

/// The demo project's file under `data_dir`.
pub fn demo_project_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo").join("demo.keylabel")
}

/// Returns the demo project under `data_dir`, creating it on first use: the pictures are
/// written to `<data_dir>/demo/images/` under neutral names in a mixed order (so the file
/// name does not give the class away), imported, and a few carry a model suggestion.
pub fn ensure_demo_project(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let target_dir = data_dir.join("demo");
    let project_path = demo_project_path(data_dir);
    if project_path.is_file() {
        match Project::open(&project_path) {
            Ok(_) => return Ok(project_path),
            Err(e) => {
                // Keep whatever is there for the user to look at, and make a fresh demo.
                let aside = data_dir.join(format!(
                    "demo.broken-{}",
                    chrono::Utc::now().format("%Y%m%d-%H%M%S")
                ));
                std::fs::rename(&target_dir, &aside).with_context(|| {
                    format!(
                        "the demo project `{}` cannot be opened ({e:#}) and cannot be moved \
                         aside",
                        project_path.display()
                    )
                })?;
            }
        }
    } else if target_dir.exists() {
        let aside = data_dir.join(format!(
            "demo.incomplete-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ));
        std::fs::rename(&target_dir, &aside).with_context(|| {
            format!(
                "cannot move the incomplete demo folder `{}` aside",
                target_dir.display()
            )
        })?;
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data folder `{}`", data_dir.display()))?;
    let staging = data_dir.join(format!("demo.tmp-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear `{}`", staging.display()))?;
    }
    let built = build(&staging);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if let Err(e) = std::fs::rename(&staging, &target_dir) {
        let _ = std::fs::remove_dir_all(&staging);
        // Another keylabel may have finished the same first run a moment earlier.
        if project_path.is_file() {
            return Ok(project_path);
        }
        return Err(e).with_context(|| {
            format!(
                "cannot move the new demo project into `{}`",
                target_dir.display()
            )
        });
    }
    Ok(project_path)
}

/// The order the demo pictures are imported in: the classes interleaved and shuffled with
/// a fixed seed, so labeling alternates between classes as it would on real data.
fn demo_order() -> Vec<usize> {
    let mut order: Vec<usize> = (0..DEMO_IMAGES.len()).collect();
    let mut state: u64 = 0x6b65_796c_6162_656c;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

fn build(dir: &Path) -> anyhow::Result<()> {
    let images = dir.join("images");
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create `{}`", images.display()))?;
    let classes: Vec<String> = DEMO_CLASSES.iter().map(|c| c.to_string()).collect();
    let project_path = dir.join("demo.keylabel");
    let mut project = Project::create(&project_path, &classes, TaskKind::SingleLabel)?;
    let mut batch = Vec::with_capacity(DEMO_IMAGES.len());
    let mut truth = Vec::with_capacity(DEMO_IMAGES.len());
    for (n, &i) in demo_order().iter().enumerate() {
        let (class, _, bytes) = DEMO_IMAGES[i];
        let file = images.join(format!("photo_{:03}.jpg", n + 1));
        std::fs::write(&file, bytes)
            .with_context(|| format!("cannot write `{}`", file.display()))?;
        let (width, height) = image::image_dimensions(&file)
            .with_context(|| format!("cannot read the size of `{}`", file.display()))?;
        let stored = project.stored_path(&file);
        batch.push(NewSample::image(
            stored,
            blake3::hash(bytes).to_hex().to_string(),
            bytes.len() as u64,
            Some((width, height)),
            Some("jpeg".into()),
        ));
        truth.push(class);
    }
    let outcomes = project.insert_samples(&batch)?;
    // A few model suggestions, as `import-labels --as-suggestions` would bring in: mostly
    // right with high scores, one wrong with a low one.
    let ids: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            crate::project::InsertOutcome::Added(id) => Some(*id),
            _ => None,
        })
        .collect();
    let class_ids: std::collections::HashMap<String, ClassId> = project
        .classes()?
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect();
    let mut events = Vec::new();
    for (k, score) in [(0usize, 0.94), (1, 0.88), (2, 0.97), (4, 0.81), (6, 0.91)] {
        if let (Some(&id), Some(&class)) = (ids.get(k), class_ids.get(truth[k])) {
            events.push(suggestion(id, class, score));
        }
    }
    if let Some(&id) = ids.get(3) {
        let wrong = DEMO_CLASSES
            .iter()
            .find(|c| **c != truth[3])
            .and_then(|c| class_ids.get(*c));
        if let Some(&class) = wrong {
            events.push(suggestion(id, class, 0.42));
        }
    }
    project.record_all(&events)?;
    project.integrity_check()?;
    // Close the file (and fold the WAL back in) before the folder is renamed.
    project.checkpoint()?;
    drop(project);
    Ok(())
}

fn suggestion(sample: SampleId, class: ClassId, score: f64) -> NewEvent {
    NewEvent {
        labels: vec![class],
        score: Some(score),
        source: Source::Model,
        ..NewEvent::new(sample, DEMO_MODEL, EventKind::Suggest)
    }
}
