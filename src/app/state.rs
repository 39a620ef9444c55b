//! State saved between runs (recent projects, keymap, view preferences), kept apart from
//! the runtime state that is rebuilt on every start.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keymap::Keymap;

/// How many recent projects the start screen lists.
const MAX_RECENT: usize = 10;

/// Everything the window remembers between runs. Every field has a default, so a settings
/// file from another keylabel version still loads.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Persisted {
    /// Most recent first.
    pub recent: Vec<PathBuf>,
    pub keymap: Keymap,
    /// Show the sample's size / format / path panel.
    pub show_info: bool,
}

impl Persisted {
    /// Loads the settings file; a missing or unreadable file gives the defaults (and the
    /// reason, to show once) instead of stopping the window from opening.
    pub fn load(path: &Path) -> (Persisted, Option<String>) {
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<Persisted>(&text) {
                Ok(mut p) => {
                    let dropped = p.keymap.take_dropped();
                    let problem = (!dropped.is_empty()).then(|| {
                        format!(
                            "Key clash in `{}`: {}. Every other key is kept; change it in \
                             Settings.",
                            path.display(),
                            dropped.join("; ")
                        )
                    });
                    (p, problem)
                }
                Err(e) => (
                    Persisted::default(),
                    Some(format!(
                        "settings file `{}` could not be read ({e}); using defaults",
                        path.display()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Persisted::default(), None),
            Err(e) => (
                Persisted::default(),
                Some(format!("could not read `{}`: {e}", path.display())),
            ),
        }
    }

    /// Writes the settings file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Moves `project` to the top of the recent list.
    pub fn remember(&mut self, project: &Path) {
        let abs = std::path::absolute(project).unwrap_or_else(|_| project.to_path_buf());
        self.recent.retain(|p| p != &abs);
        self.recent.insert(0, abs);
        self.recent.truncate(MAX_RECENT);
    }
}

/// Where the settings file lives: `$KEYLABEL_CONFIG_DIR/settings.json`, else the user's
/// configuration folder.
pub fn default_settings_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYLABEL_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("settings.json");
    }
    directories::ProjectDirs::from("", "", "keylabel")
        .map(|d| d.config_dir().join("settings.json"))
        .unwrap_or_else(|| PathBuf::from(".keylabel-settings.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_tolerate_missing_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/settings.json");
        let mut p = Persisted::default();
        p.remember(Path::new("/a/b.keylabel"));
        p.remember(Path::new("/c.keylabel"));
        p.remember(Path::new("/a/b.keylabel"));
        p.show_info = true;
        p.save(&path).unwrap();
        let (back, err) = Persisted::load(&path);
        assert_eq!(err, None);
        assert_eq!(back, p);
        assert_eq!(back.recent[0], PathBuf::from("/a/b.keylabel"));
        std::fs::write(&path, r#"{"show_info": true}"#).unwrap();
        let (partial, err) = Persisted::load(&path);
        assert!(err.is_none());
        assert!(partial.show_info && partial.recent.is_empty());
        std::fs::write(&path, "not json").unwrap();
        let (bad, err) = Persisted::load(&path);
        assert_eq!(bad, Persisted::default());
        assert!(err.unwrap().contains("settings.json"));
    }
}
