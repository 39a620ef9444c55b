//! The cheat sheet (`?` / `F1`): every binding, read from the keymap and the classes, so it
//! can never be out of date.

use super::commands::Command;
use super::keymap::{Keymap, class_shortcut};
use super::theme;
use crate::project::Class;

/// One line of the cheat sheet.
struct Entry {
    key: String,
    text: String,
    color: Option<egui::Color32>,
    tooltip: Option<&'static str>,
}

/// Draws the cheat sheet in a modal, in two columns so that it fits an 800 px window;
/// returns `true` when the user closed it.
pub fn show(ctx: &egui::Context, keymap: &Keymap, classes: &[Class]) -> bool {
    let mut entries: Vec<Entry> = classes
        .iter()
        .filter(|c| !c.archived)
        .map(|c| Entry {
            key: class_shortcut(c)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "—".into()),
            text: format!("Label “{}”", c.name),
            color: Some(theme::parse_color(&c.color)),
            tooltip: None,
        })
        .collect();
    entries.extend(Command::ALL.into_iter().map(|cmd| Entry {
        key: keymap.labels(cmd),
        text: cmd.text().to_string(),
        color: None,
        tooltip: Some(cmd.tooltip()),
    }));
    entries.push(Entry {
        key: "Wheel / drag".into(),
        text: "Zoom / pan the image".into(),
        color: None,
        tooltip: None,
    });
    let rows = entries.len().div_ceil(2);

    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("cheat_sheet")).show(ctx, |ui| {
        ui.set_min_width(760.0);
        ui.heading("Keyboard shortcuts");
        ui.add_space(6.0);
        egui::ScrollArea::vertical()
            .max_height(ctx.content_rect().height() - 140.0)
            .show(ui, |ui| {
                egui::Grid::new("cheat_sheet_grid")
                    .num_columns(4)
                    .spacing([24.0, 6.0])
                    .striped(true)
                    .show(ui, |ui| {
                        for row in 0..rows {
                            for entry in [entries.get(row), entries.get(row + rows)] {
                                match entry {
                                    Some(e) => cell(ui, e),
                                    None => {
                                        ui.label("");
                                        ui.label("");
                                    }
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
        ui.add_space(8.0);
        if ui.button("Close (Esc)").clicked() {
            close = true;
        }
    });
    close || modal.should_close()
}

fn cell(ui: &mut egui::Ui, e: &Entry) {
    ui.label(egui::RichText::new(&e.key).monospace().strong());
    ui.horizontal(|ui| {
        if let Some(color) = e.color {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 3.0, color);
        }
        let label = ui.label(&e.text);
        if let Some(t) = e.tooltip {
            label.on_hover_text(t);
        }
    });
}
