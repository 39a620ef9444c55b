//! The project dialog (`P`): import more samples into the open project (a folder of
//! images or a CSV / JSON Lines file, in the background with progress, the report shown
//! after), and add, rename or archive classes. An empty project starts here.

use std::collections::HashMap;
use std::path::PathBuf;

use egui::RichText;

use super::jobs::{JobProgress, Progress};
use super::path_field::{PathField, Want};
use super::theme;
use crate::project::{Class, ClassId};

/// What the dialog's controls asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Import {
        source: PathBuf,
        text_column: String,
        labels_from_folders: bool,
    },
    AddClass(String),
    Rename {
        old: String,
        new: String,
    },
    Archive(String),
    Close,
}

pub struct ProjectDialog {
    pub source: PathField,
    pub text_column: String,
    pub labels_from_folders: bool,
    pub new_class: String,
    /// Rename fields, by class.
    pub names: HashMap<ClassId, String>,
    /// The last outcome (text, and whether it went well).
    pub message: Option<(String, bool)>,
}

impl Default for ProjectDialog {
    fn default() -> ProjectDialog {
        ProjectDialog {
            source: PathField::new(Want::FolderOrFile),
            text_column: "text".into(),
            labels_from_folders: false,
            new_class: String::new(),
            names: HashMap::new(),
            message: None,
        }
    }
}

/// What the dialog does not offer on this project, and why (a replica of a team hub, for a
/// login that is no hub admin, or with the hub out of reach): said instead of the controls.
#[derive(Clone, Debug, Default)]
pub struct Refused {
    pub import: Option<String>,
    pub classes: Option<String>,
}

impl ProjectDialog {
    /// Draws the dialog; `importing` is the progress of an import running now.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        classes: &[Class],
        importing: Option<&JobProgress>,
        refused: &Refused,
    ) -> Vec<Request> {
        let mut out = Vec::new();
        let modal = egui::Modal::new(egui::Id::unique("project_dialog")).show(ctx, |ui| {
            ui.set_width(640.0);
            ui.heading("Project");
            ui.add_space(6.0);
            ui.label(RichText::new("Import samples").strong());
            match &refused.import {
                Some(why) => {
                    ui.label(RichText::new(why).color(theme::MUTED));
                }
                None => self.import_controls(ui, importing, &mut out),
            }
            ui.add_space(10.0);
            ui.separator();
            ui.label(RichText::new("Classes").strong());
            if let Some(why) = &refused.classes {
                for c in classes {
                    ui.horizontal(|ui| {
                        swatch(ui, &c.color);
                        ui.label(&c.name);
                    });
                }
                ui.label(RichText::new(why).color(theme::MUTED));
            } else {
                self.class_controls(ui, classes, &mut out);
            }
            if let Some((text, ok)) = &self.message {
                ui.add_space(6.0);
                let color = if *ok { theme::OK } else { theme::ERROR };
                ui.add(egui::Label::new(RichText::new(text).color(color)).wrap());
            }
            ui.add_space(8.0);
            if ui.button("Close (Esc)").clicked() {
                out.push(Request::Close);
            }
        });
        if modal.should_close() && !out.contains(&Request::Close) {
            out.push(Request::Close);
        }
        out
    }

    /// Each class with its Rename and Archive buttons, and the row that adds one.
    fn class_controls(&mut self, ui: &mut egui::Ui, classes: &[Class], out: &mut Vec<Request>) {
        egui::Grid::new("project_classes")
            .num_columns(4)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                for c in classes {
                    swatch(ui, &c.color);
                    let name = self.names.entry(c.id).or_insert_with(|| c.name.clone());
                    ui.add_sized([220.0, 22.0], egui::TextEdit::singleline(name))
                        .on_hover_text(format!("New name for “{}”", c.name));
                    let changed = name.trim() != c.name && !name.trim().is_empty();
                    if ui
                        .add_enabled(changed, egui::Button::new("Rename"))
                        .on_hover_text("Labels keep their class: only the name changes")
                        .clicked()
                    {
                        out.push(Request::Rename {
                            old: c.name.clone(),
                            new: name.trim().to_string(),
                        });
                    }
                    if ui
                        .button(format!("Archive “{}”", c.name))
                        .on_hover_text(
                            "Hide it from labeling and free its key; its labels stay in \
                             the history",
                        )
                        .clicked()
                    {
                        out.push(Request::Archive(c.name.clone()));
                    }
                    ui.end_row();
                }
            });
        ui.horizontal(|ui| {
            let l = ui.label("New class");
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.new_class)
                        .hint_text("name")
                        .desired_width(220.0),
                )
                .labelled_by(l.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Add class").clicked() || enter) && !self.new_class.trim().is_empty() {
                out.push(Request::AddClass(self.new_class.trim().to_string()));
            }
        });
    }

    /// The source field, its options and the Import button (or the running import's
    /// progress).
    fn import_controls(
        &mut self,
        ui: &mut egui::Ui,
        importing: Option<&JobProgress>,
        out: &mut Vec<Request>,
    ) {
        let label = ui.label(RichText::new("Samples to add").color(theme::MUTED));
        let changed = self.source.show(
            ui,
            label.id,
            "Samples to add",
            "a folder of images, or a CSV / JSON Lines file",
        );
        if changed {
            // What was said about the last path (or the last import) is said of another.
            self.message = None;
        }
        let is_table = self.source.path().is_some_and(|p| p.is_file());
        if is_table {
            ui.horizontal(|ui| {
                let l = ui.label("Text column");
                ui.add(egui::TextEdit::singleline(&mut self.text_column).desired_width(160.0))
                    .labelled_by(l.id);
            });
        } else {
            ui.checkbox(
                &mut self.labels_from_folders,
                "Folders named like a class label their images",
            );
        }
        match importing {
            Some(p) => {
                let bar = match p.fraction() {
                    Some(f) => egui::ProgressBar::new(f).text(p.text()),
                    None => egui::ProgressBar::new(0.0).animate(true),
                };
                ui.horizontal(|ui| {
                    ui.add(bar.desired_width(480.0));
                    if p.cancelled() {
                        ui.label(RichText::new("stopping…").color(theme::MUTED));
                    } else if ui
                        .button("Cancel")
                        .on_hover_text("Stop after the current batch; what was imported stays")
                        .clicked()
                    {
                        p.cancel();
                    }
                });
            }
            None => {
                if ui.button("Import").clicked() {
                    match self.source.checked() {
                        Ok(source) => out.push(Request::Import {
                            source,
                            text_column: match self.text_column.trim() {
                                "" => "text".into(),
                                c => c.to_string(),
                            },
                            labels_from_folders: self.labels_from_folders && !is_table,
                        }),
                        Err(e) => self.message = Some((format!("Samples: {e}"), false)),
                    }
                }
            }
        }
    }
}

/// A class's colour, as a small square.
fn swatch(ui: &mut egui::Ui, color: &str) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
    ui.painter()
        .rect_filled(rect, 3.0, theme::parse_color(color));
}
