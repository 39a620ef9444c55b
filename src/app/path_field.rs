//! A path the user types, pastes or picks: a text field with the folder's matching entries
//! offered below it (click one to take it), a line that says whether the
//! path is what is wanted, and a Browse button for the system's file dialog.
//!
//! Every path the window asks for goes through this field, so a desktop without a
//! file-dialog service (no portal, no zenity) loses nothing: the dialog is a shortcut,
//! never the only way. A dialog that closes at once without a choice is taken as one that
//! could not open, and the field says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::RichText;

use super::theme;

/// What the path must name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// An existing folder.
    Folder,
    /// An existing file.
    File,
    /// An existing folder or file.
    FolderOrFile,
    /// A file to create: its folder exists, the file does not.
    NewFile,
    /// A folder to create or replace: its parent exists.
    NewFolder,
}

/// The dialog button's text.
const BROWSE: &str = "Browse…";

/// How many of the folder's entries are offered at once.
const OFFERED: usize = 8;

/// A dialog that returns with nothing faster than this did not really open.
const DIALOG_FAILED_WITHIN: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct PathField {
    pub text: String,
    pub want: Want,
    /// File name filters for the dialog: a name and extensions.
    pub filter: Option<(&'static str, &'static [&'static str])>,
    /// Set when the last dialog could not open.
    pub dialog_failed: bool,
    /// What the disk said of the text when it was last looked at.
    looked: Option<Looked>,
}

/// The folder's entries and the check for one text, read once (a folder of a hundred
/// thousand photos must not be listed every frame) and again after [`LOOK_AGAIN`], since
/// the disk changes under the window (an export creates its folder).
#[derive(Clone, Debug)]
struct Looked {
    text: String,
    at: Instant,
    offered: Vec<(String, PathBuf)>,
    check: Option<Result<String, String>>,
}

/// How long what was read of a path is trusted.
const LOOK_AGAIN: Duration = Duration::from_secs(2);

impl PathField {
    pub fn new(want: Want) -> PathField {
        PathField {
            text: String::new(),
            want,
            filter: None,
            dialog_failed: false,
            looked: None,
        }
    }

    /// The entries and the check for the current text, from the disk when the text
    /// changed or the last look is old.
    fn look(&mut self) -> &Looked {
        let fresh = self
            .looked
            .as_ref()
            .is_some_and(|l| l.text == self.text && l.at.elapsed() < LOOK_AGAIN);
        if !fresh {
            self.looked = Some(Looked {
                text: self.text.clone(),
                at: Instant::now(),
                offered: offer(&self.text),
                check: self.path().map(|p| check(&p, self.want)),
            });
        }
        self.looked.as_ref().expect("just looked")
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    pub fn with_filter(mut self, name: &'static str, extensions: &'static [&'static str]) -> Self {
        self.filter = Some((name, extensions));
        self
    }

    /// The typed path, trimmed (and without the quotes a pasted path may carry).
    pub fn path(&self) -> Option<PathBuf> {
        let t = self.text.trim().trim_matches(['"', '\'']);
        (!t.is_empty()).then(|| PathBuf::from(expand_home(t)))
    }

    /// The path when it is what is wanted, else why not.
    pub fn checked(&self) -> Result<PathBuf, String> {
        let path = self
            .path()
            .ok_or_else(|| "type or paste a path".to_string())?;
        check(&path, self.want).map(|_| path)
    }

    /// Draws the field (labelled by the widget `labelled_by`, whose text is `label`), its
    /// suggestions, its check and Browse. Returns true when the path changed.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        labelled_by: egui::Id,
        label: &str,
        hint: &str,
    ) -> bool {
        let mut changed = false;
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                // The field takes what the Browse button leaves: a guess too small would
                // widen the panel it is in a little more each time the layout changes.
                let browse = ui
                    .painter()
                    .layout_no_wrap(
                        BROWSE.to_string(),
                        egui::TextStyle::Button.resolve(ui.style()),
                        egui::Color32::PLACEHOLDER,
                    )
                    .size()
                    .x
                    + 2.0 * ui.spacing().button_padding.x
                    + ui.spacing().item_spacing.x;
                let edit = ui.add(
                    egui::TextEdit::singleline(&mut self.text)
                        .hint_text(hint)
                        .desired_width((ui.available_width() - browse).max(60.0)),
                );
                let edit = edit.labelled_by(labelled_by);
                changed |= edit.changed();
                if ui
                    .button(BROWSE)
                    .on_hover_text(format!("{label}: choose with the system's file dialog"))
                    .clicked()
                    && let Some(p) = self.browse()
                {
                    self.text = p.display().to_string();
                    changed = true;
                }
            });
            if changed {
                self.dialog_failed = false;
            }
            if self.dialog_failed {
                ui.label(
                    RichText::new(
                        "The file dialog could not open on this desktop; type or paste the \
                         path instead",
                    )
                    .color(theme::WARN),
                );
            }
            // The folder's entries that continue what is typed.
            let looked = self.look().clone();
            let offered = looked.offered;
            if !offered.is_empty() {
                ui.horizontal_wrapped(|ui| {
                    for (name, full) in offered {
                        if ui
                            .small_button(name)
                            .on_hover_text(full.display().to_string())
                            .clicked()
                        {
                            self.text = full.display().to_string();
                            changed = true;
                        }
                    }
                });
            }
            match looked.check {
                Some(Ok(note)) => {
                    ui.label(RichText::new(note).color(theme::OK).size(13.0));
                }
                Some(Err(e)) => {
                    ui.label(RichText::new(e).color(theme::WARN).size(13.0));
                }
                None => {}
            }
        });
        changed
    }

    /// The system's dialog for this field; `None` when cancelled or when it could not
    /// open (then [`PathField::dialog_failed`] is set).
    fn browse(&mut self) -> Option<PathBuf> {
        let mut dialog = rfd::FileDialog::new();
        if let Some(dir) = self.path().and_then(|p| nearest_folder(&p)) {
            dialog = dialog.set_directory(dir);
        }
        if let Some((name, ext)) = self.filter {
            dialog = dialog.add_filter(name, ext);
        }
        let started = Instant::now();
        let picked = match self.want {
            Want::Folder | Want::NewFolder | Want::FolderOrFile => dialog.pick_folder(),
            Want::File => dialog.pick_file(),
            Want::NewFile => dialog.save_file(),
        };
        self.dialog_failed = picked.is_none() && started.elapsed() < DIALOG_FAILED_WITHIN;
        picked
    }
}

/// `~/x` → the home folder's `x`.
fn expand_home(text: &str) -> String {
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => text.to_string(),
    }
}

/// The folder that `path` names or lies in, if it exists.
fn nearest_folder(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path.to_path_buf());
    }
    path.parent().filter(|p| p.is_dir()).map(Path::to_path_buf)
}

/// Whether `path` is what `want` asks for: a short note when it is, the reason when not.
pub fn check(path: &Path, want: Want) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path);
    match want {
        Want::Folder | Want::FolderOrFile | Want::File => match meta {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("`{shown}` does not exist"))
            }
            Err(e) => Err(format!("`{shown}` cannot be read: {e}")),
            Ok(m) if m.is_dir() && want == Want::File => {
                Err(format!("`{shown}` is a folder; a file is needed here"))
            }
            Ok(m) if !m.is_dir() && want == Want::Folder => {
                Err(format!("`{shown}` is a file; a folder is needed here"))
            }
            Ok(m) if m.is_dir() => {
                let n = std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0);
                Ok(format!("folder with {n} entries"))
            }
            Ok(m) => Ok(format!("file of {} bytes", m.len())),
        },
        Want::NewFile | Want::NewFolder => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(format!("the folder `{}` does not exist", parent.display()));
            }
            match (meta, want) {
                (Ok(m), Want::NewFile) if m.is_dir() => {
                    Err(format!("`{shown}` is a folder; name a file to create"))
                }
                (Ok(_), Want::NewFile) => Err(format!("`{shown}` exists already")),
                (Ok(m), _) if !m.is_dir() => Err(format!("`{shown}` is a file")),
                (Ok(_), _) => Ok("the folder exists: it is replaced only if it holds a \
                                  keylabel export and replacing is allowed"
                    .into()),
                (Err(_), _) => Ok("will be created".into()),
            }
        }
    }
}

/// The folder listing that completes `text`: entries of its folder whose names start with
/// its last part, folders first, at most [`OFFERED`].
fn offer(text: &str) -> Vec<(String, PathBuf)> {
    let expanded = expand_home(text.trim());
    if expanded.is_empty() {
        return Vec::new();
    }
    let path = Path::new(&expanded);
    let (dir, prefix) = if expanded.ends_with(std::path::MAIN_SEPARATOR) {
        (path.to_path_buf(), String::new())
    } else {
        match (path.parent(), path.file_name()) {
            (Some(d), Some(f)) => (
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d.to_path_buf()
                },
                f.to_string_lossy().into_owned(),
            ),
            _ => return Vec::new(),
        }
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(bool, String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with(&prefix) && !name.starts_with('.') && name != prefix).then(|| {
                let is_dir = e.path().is_dir();
                let shown = if is_dir { format!("{name}/") } else { name };
                (!is_dir, shown, e.path())
            })
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .take(OFFERED)
        .map(|(_, name, p)| (name, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_offers_matching_entries_and_checks_what_is_wanted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("photos 2024/cats")).unwrap();
        std::fs::create_dir(dir.path().join("photos 2025")).unwrap();
        std::fs::write(dir.path().join("reviews.csv"), "text\nhi\n").unwrap();
        let base = dir.path().display().to_string();
        let sep = std::path::MAIN_SEPARATOR;
        let names: Vec<String> = offer(&format!("{base}{sep}ph"))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["photos 2024/", "photos 2025/"]);
        assert_eq!(offer(&format!("{base}{sep}photos 2024{sep}")).len(), 1);
        assert!(offer(&format!("{base}{sep}zzz")).is_empty());

        let folder = dir.path().join("photos 2024");
        let csv = dir.path().join("reviews.csv");
        assert!(check(&folder, Want::Folder).unwrap().contains("1 entries"));
        assert!(check(&csv, Want::Folder).unwrap_err().contains("is a file"));
        assert!(check(&csv, Want::FolderOrFile).is_ok());
        assert!(
            check(&dir.path().join("nope"), Want::File)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            check(&csv, Want::NewFile)
                .unwrap_err()
                .contains("exists already")
        );
        assert!(check(&dir.path().join("new.keylabel"), Want::NewFile).is_ok());
        assert!(
            check(&dir.path().join("no/such/new.keylabel"), Want::NewFile)
                .unwrap_err()
                .contains("does not exist")
        );
        let mut field = PathField::new(Want::File);
        field.text = format!("  \"{}\" ", csv.display());
        assert_eq!(field.checked(), Ok(csv));
    }
}
