//! The start screen: recent projects, a new project, open a project, the demo.

use std::path::{Path, PathBuf};

use super::path_field::{PathField, Want};
use super::theme;
use crate::TaskKind;

/// What the user asked for on the start screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Open(PathBuf),
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

/// The start screen's forms: open a project, or make a new one.
pub struct StartScreen {
    pub creating: bool,
    /// The "Open project" row is shown.
    pub opening: bool,
    pub open: PathField,
    /// A folder of images or a CSV / JSON Lines file (none: an empty project).
    pub source: PathField,
    pub file: PathField,
    pub classes: String,
    pub task: TaskKind,
    pub text_column: String,
    pub error: Option<String>,
    /// The project file's path was filled in from the source, not typed.
    file_suggested: bool,
    open_error: Option<String>,
}

impl Default for StartScreen {
    fn default() -> Self {
        StartScreen {
            creating: false,
            opening: false,
            open: PathField::new(Want::File).with_filter("keylabel project", PROJECT_EXTENSIONS),
            source: PathField::new(Want::FolderOrFile),
            file: PathField::new(Want::NewFile).with_filter("keylabel project", PROJECT_EXTENSIONS),
            classes: String::new(),
            task: TaskKind::SingleLabel,
            text_column: "text".into(),
            error: None,
            file_suggested: false,
            open_error: None,
        }
    }
}

/// Suffixes offered for project files in the file dialog.
const PROJECT_EXTENSIONS: &[&str] = &["keylabel", "db", "sqlite"];

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
    /// A new source suggests the project file beside it (until the user names one).
    fn source_changed(&mut self) {
        if let Ok(source) = self.source.checked()
            && (self.file.text.is_empty() || self.file_suggested)
        {
            self.file.text = suggested_file(&source).display().to_string();
            self.file_suggested = true;
        }
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
        let file = self
            .file
            .checked()
            .map_err(|e| format!("project file: {e}"))?;
        let sources = match self.source.path() {
            None => Vec::new(),
            Some(_) => vec![self.source.checked().map_err(|e| format!("samples: {e}"))?],
        };
        Ok(NewProject {
            file,
            sources,
            classes,
            task: self.task,
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
                        self.opening = !self.opening;
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
                if self.opening
                    && let Some(r) = self.open_form(ui)
                {
                    out = Some(r);
                }
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

    fn open_form(&mut self, ui: &mut egui::Ui) -> Option<Request> {
        let mut out = None;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            let label = ui.label("Project to open");
            self.open
                .show(ui, label.id, "Project to open", "/path/to/project.keylabel");
            let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Open").clicked() || (enter && self.open.checked().is_ok()) {
                match self.open.checked() {
                    Ok(p) => out = Some(Request::Open(p)),
                    Err(e) => self.open_error = Some(format!("project to open: {e}")),
                }
            }
            if let Some(e) = &self.open_error {
                ui.label(egui::RichText::new(e).color(theme::ERROR));
            }
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
                    let label = ui.label("Samples");
                    if self.source.show(
                        ui,
                        label.id,
                        "Samples",
                        "a folder of images, or a CSV / JSON Lines file",
                    ) {
                        self.source_changed();
                    }
                    ui.end_row();
                    let label = ui.label("Project file");
                    if self
                        .file
                        .show(ui, label.id, "Project file", "/path/to/project.keylabel")
                    {
                        self.file_suggested = false;
                    }
                    ui.end_row();
                    let label = ui.label("Classes");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.classes)
                            .hint_text("cat, dog, bird")
                            .desired_width(420.0),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    if self.source.path().is_some_and(|s| s.is_file()) {
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
                        ui.radio_value(&mut self.task, TaskKind::SingleLabel, "Single-label")
                            .on_hover_text("One class per sample, one key press each");
                        ui.radio_value(&mut self.task, TaskKind::MultiLabel, "Multi-label")
                            .on_hover_text("Any number of classes per sample");
                        ui.radio_value(&mut self.task, TaskKind::Detect, "Boxes (detection)")
                            .on_hover_text(
                                "Boxes drawn on images, each of a class (images only; exports \
                                 for the Object Detection API, COCO, VOC, YOLO)",
                            );
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
