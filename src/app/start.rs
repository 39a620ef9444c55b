//! The start screen: recent projects, a new project, open a project, the demo.

use std::path::{Path, PathBuf};

use super::theme;
use crate::TaskKind;

/// What the user asked for on the start screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Open(PathBuf),
    OpenDialog,
    Demo,
    Create(NewProject),
}

/// A project to create and fill.
#[derive(Clone, Debug, PartialEq)]
pub struct NewProject {
    pub file: PathBuf,
    pub sources: Vec<PathBuf>,
    pub classes: Vec<String>,
    pub task: TaskKind,
    /// The column shown to the annotator, for CSV / JSON Lines sources.
    pub text_column: String,
}

/// The "New project" form.
pub struct StartScreen {
    pub creating: bool,
    pub source: Option<PathBuf>,
    pub file: String,
    pub classes: String,
    pub multi: bool,
    pub text_column: String,
    pub error: Option<String>,
}

impl Default for StartScreen {
    fn default() -> Self {
        StartScreen {
            creating: false,
            source: None,
            file: String::new(),
            classes: String::new(),
            multi: false,
            text_column: "text".into(),
            error: None,
        }
    }
}

/// The project file suggested for a source: `<folder>/<folder name>.keylabel`, or
/// `<file's folder>/<file stem>.keylabel`.
pub fn suggested_file(source: &Path) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
    let dir = if source.is_dir() {
        source.to_path_buf()
    } else {
        source
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    };
    dir.join(format!("{stem}.keylabel"))
}

impl StartScreen {
    fn set_source(&mut self, source: PathBuf) {
        self.file = suggested_file(&source).display().to_string();
        self.source = Some(source);
    }

    /// Checks the form and turns it into a request.
    fn validated(&self) -> Result<NewProject, String> {
        let classes: Vec<String> = self
            .classes
            .split([',', '\n'])
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if classes.is_empty() {
            return Err("type at least one class, e.g. “cat, dog, bird”".into());
        }
        if self.file.trim().is_empty() {
            return Err("choose where to save the project file".into());
        }
        Ok(NewProject {
            file: PathBuf::from(self.file.trim()),
            sources: self.source.iter().cloned().collect(),
            classes,
            task: if self.multi {
                TaskKind::MultiLabel
            } else {
                TaskKind::SingleLabel
            },
            text_column: match self.text_column.trim() {
                "" => "text".into(),
                c => c.to_string(),
            },
        })
    }

    pub fn show(&mut self, ui: &mut egui::Ui, recent: &[PathBuf]) -> Option<Request> {
        let mut out = None;
        egui::CentralPanel::default_margins().show(ui, |ui| {
            ui.vertical_centered(|ui| {
                ui.set_max_width(640.0);
                ui.add_space(40.0);
                ui.label(egui::RichText::new("keylabel").size(40.0).strong());
                ui.label(
                    egui::RichText::new("Keyboard-first labeling for machine-learning data")
                        .color(theme::MUTED),
                );
                ui.add_space(24.0);
                ui.horizontal(|ui| {
                    let big = |t: &str| egui::Button::new(egui::RichText::new(t).size(18.0));
                    if ui
                        .add(big("New project"))
                        .on_hover_text(
                            "Make a project from a folder of images or a CSV / JSONL file",
                        )
                        .clicked()
                    {
                        self.creating = !self.creating;
                    }
                    if ui
                        .add(big("Open project…"))
                        .on_hover_text("Open an existing .keylabel project file")
                        .clicked()
                    {
                        out = Some(Request::OpenDialog);
                    }
                    if ui
                        .add(big("Try the demo"))
                        .on_hover_text("A small project of shapes to try the keys on")
                        .clicked()
                    {
                        out = Some(Request::Demo);
                    }
                });
                ui.add_space(16.0);
                if self.creating
                    && let Some(r) = self.new_project_form(ui)
                {
                    out = Some(r);
                }
                ui.add_space(16.0);
                ui.separator();
                ui.label(egui::RichText::new("Recent projects").heading());
                if recent.is_empty() {
                    ui.label(egui::RichText::new("None yet").color(theme::MUTED));
                }
                for p in recent {
                    let name = p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let resp = ui
                        .add(egui::Button::new(format!("{name}    {}", p.display())).frame(false))
                        .on_hover_text(format!("Open {}", p.display()));
                    if resp.clicked() {
                        out = Some(Request::Open(p.clone()));
                    }
                }
            });
        });
        out
    }

    fn new_project_form(&mut self, ui: &mut egui::Ui) -> Option<Request> {
        let mut out = None;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            egui::Grid::new("new_project_grid")
                .num_columns(2)
                .spacing([12.0, 10.0])
                .show(ui, |ui| {
                    ui.label("Samples");
                    ui.horizontal(|ui| {
                        if ui.button("Folder of images…").clicked()
                            && let Some(dir) = rfd::FileDialog::new().pick_folder()
                        {
                            self.set_source(dir);
                        }
                        if ui.button("CSV / JSONL file…").clicked()
                            && let Some(f) = rfd::FileDialog::new()
                                .add_filter("Tables", &["csv", "jsonl", "ndjson"])
                                .pick_file()
                        {
                            self.set_source(f);
                        }
                    });
                    ui.end_row();
                    ui.label("");
                    let chosen = match &self.source {
                        Some(s) => s.display().to_string(),
                        None => "nothing chosen yet".into(),
                    };
                    ui.label(egui::RichText::new(chosen).color(theme::MUTED));
                    ui.end_row();
                    let label = ui.label("Project file");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.file)
                            .hint_text("/path/to/project.keylabel")
                            .desired_width(420.0),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Classes");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.classes)
                            .hint_text("cat, dog, bird")
                            .desired_width(420.0),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    if self.source.as_ref().is_some_and(|s| s.is_file()) {
                        let label = ui.label("Text column");
                        ui.add(
                            egui::TextEdit::singleline(&mut self.text_column)
                                .hint_text("text")
                                .desired_width(200.0),
                        )
                        .labelled_by(label.id);
                        ui.end_row();
                    }
                    ui.label("Task");
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut self.multi, false, "Single-label");
                        ui.radio_value(&mut self.multi, true, "Multi-label");
                    });
                    ui.end_row();
                });
            if let Some(e) = &self.error {
                ui.label(egui::RichText::new(e).color(theme::ERROR));
            }
            if ui.button("Create project").clicked() {
                match self.validated() {
                    Ok(p) => {
                        self.error = None;
                        out = Some(Request::Create(p));
                    }
                    Err(e) => self.error = Some(e),
                }
            }
        });
        out
    }
}
