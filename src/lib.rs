//! keylabel: keyboard-first labeling of machine-learning data, with validated export
//! into the TensorFlow Extended ingest format.
//!
//! The library holds everything that can be tested without a window: the project file
//! ([`project`]), importing samples ([`ingest`]), agreement and review ([`review`]),
//! validation ([`validate`]) and export ([`export`]). The GUI (`app`, behind the default
//! cargo feature `gui`) and the command line ([`cli`]) are thin front ends over it.

#[cfg(feature = "gui")]
pub mod app;
pub mod cli;
pub mod demo;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
pub mod ingest;
pub mod leftovers;
pub mod media;
pub mod progress;
pub mod project;
pub mod review;
pub mod validate;

pub use project::{Project, TaskKind};

/// The annotator's name: the one given, else `$KEYLABEL_ANNOTATOR`, else the OS user name.
pub fn annotator_name(given: Option<&str>) -> String {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    given
        .map(str::to_string)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| from_env("KEYLABEL_ANNOTATOR"))
        .or_else(|| from_env("USER"))
        .or_else(|| from_env("USERNAME"))
        .unwrap_or_else(|| "annotator".into())
        .trim()
        .to_string()
}

/// "1 sample" / "3 samples".
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}
