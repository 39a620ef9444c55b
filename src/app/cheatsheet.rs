//! The cheat sheet (`?` / `F1`): every binding, read from the keymap and the classes, so it
//! can never be out of date.

use super::commands::Command;
use super::keymap::{Keymap, class_shortcut};
use super::theme;
use crate::project::Class;

/// Draws the cheat sheet in a modal; returns `true` when the user closed it.
pub fn show(ctx: &egui::Context, keymap: &Keymap, classes: &[Class]) -> bool {
    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("cheat_sheet")).show(ctx, |ui| {
        ui.set_min_width(520.0);
        ui.heading("Keyboard shortcuts");
        ui.add_space(6.0);
        egui::Grid::new("cheat_sheet_grid")
            .num_columns(2)
            .spacing([28.0, 6.0])
            .striped(true)
            .show(ui, |ui| {
                for c in classes.iter().filter(|c| !c.archived) {
                    let key = class_shortcut(c)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "—".into());
                    ui.label(egui::RichText::new(key).monospace().strong());
                    ui.horizontal(|ui| {
                        let (rect, _) =
                            ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                        ui.painter()
                            .rect_filled(rect, 3.0, theme::parse_color(&c.color));
                        ui.label(format!("Label “{}”", c.name));
                    });
                    ui.end_row();
                }
                for cmd in Command::ALL {
                    ui.label(egui::RichText::new(keymap.labels(cmd)).monospace().strong());
                    ui.label(cmd.text()).on_hover_text(cmd.tooltip());
                    ui.end_row();
                }
                ui.label(egui::RichText::new("Wheel / drag").monospace().strong());
                ui.label("Zoom / pan the image");
                ui.end_row();
            });
        ui.add_space(8.0);
        if ui.button("Close (Esc)").clicked() {
            close = true;
        }
    });
    close || modal.should_close()
}
