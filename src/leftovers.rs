//! What a killed keylabel process leaves behind. Every temporary file or folder keylabel
//! makes beside its target is named with a fixed prefix and the id of the process making
//! it; a later run removes those whose process no longer runs.

use std::path::{Path, PathBuf};

/// Whether a process with this id runs (on systems with `/proc`; elsewhere every leftover
/// is taken to be stale).
pub fn process_alive(pid: u32) -> bool {
    Path::new("/proc/self").exists() && Path::new("/proc").join(pid.to_string()).exists()
}

/// The entries of `dir` named `prefix` followed by the id of a process that no longer runs
/// (never this process's own).
pub fn stale(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| pid != std::process::id() && !process_alive(pid))
        })
        .map(|e| e.path())
        .collect()
}

/// The temporary name beside `target` that this process builds `target` under: hidden,
/// `what` saying which command made it.
pub fn temporary_beside(target: &Path, what: &str) -> PathBuf {
    target.with_file_name(format!(
        "{}{}",
        prefix_for(target, what),
        std::process::id()
    ))
}

/// The names [`temporary_beside`] gives, up to the process id.
fn prefix_for(target: &Path, what: &str) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    format!(".{name}.keylabel-{what}-")
}

/// The project files (with SQLite's `-wal`, `-shm` and `-journal` beside them) that killed
/// runs building `target` under [`temporary_beside`] left, removed.
pub fn remove_stale_project_files(target: &Path, what: &str) {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    for stale in stale(dir, &prefix_for(target, what)) {
        remove_project_files(&stale);
    }
}

/// Removes the SQLite file at `path` and the `-wal`, `-shm` and `-journal` files beside it.
pub fn remove_project_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn files_of_dead_processes_are_stale_and_live_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("team.keylabel");
        // A process id that cannot run (above Linux's pid_max limit of 2^22).
        let dead = dir.path().join(".team.keylabel.keylabel-join-4194999");
        let mine = temporary_beside(&target, "join");
        let other_kind = dir.path().join(".team.keylabel.keylabel-new-4194999");
        for f in [&dead, &mine, &other_kind] {
            std::fs::write(f, b"x").unwrap();
        }
        std::fs::write(
            dir.path().join(".team.keylabel.keylabel-join-4194999-wal"),
            b"w",
        )
        .unwrap();
        remove_stale_project_files(&target, "join");
        assert!(!dead.exists());
        assert!(
            !dir.path()
                .join(".team.keylabel.keylabel-join-4194999-wal")
                .exists()
        );
        assert!(mine.exists(), "this process's own file is not stale");
        assert!(
            other_kind.exists(),
            "another command's leftovers are its own to clean"
        );
        let parent_pid = std::os::unix::process::parent_id();
        assert!(process_alive(parent_pid));
    }
}
