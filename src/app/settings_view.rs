//! The settings view: remap every command and class key. A key that is already bound
//! elsewhere is refused with a message naming its owner.

use super::commands::Command;
use super::keymap::{Keymap, Shortcut, class_shortcut};
use super::theme;
use crate::project::{Class, ClassId};

/// What is waiting for a key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Binding `index` of a command (past the end: a new binding).
    Command(Command, usize),
    Class(ClassId),
}

/// A change the user asked for; the app applies it and reports refusals back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Bind(Target, Shortcut),
    Unbind(Command, usize),
    ResetKeymap,
    Close,
}

#[derive(Default)]
pub struct SettingsView {
    pub capturing: Option<Target>,
    /// The last refusal or confirmation, shown at the top.
    pub message: Option<(String, bool)>,
}

impl SettingsView {
    /// Reads a key press for the binding being captured. Called before anything else
    /// looks at the keys this frame.
    pub fn capture(&mut self, ctx: &egui::Context) -> Option<Request> {
        let target = self.capturing?;
        let press = ctx.input_mut(|i| {
            let mut found = None;
            i.events.retain(|e| match e {
                egui::Event::Key {
                    key,
                    pressed: true,
                    modifiers,
                    ..
                } if found.is_none() => {
                    found = Some((*key, *modifiers));
                    false
                }
                egui::Event::Key { .. } | egui::Event::Text(_) => false,
                _ => true,
            });
            found
        })?;
        self.capturing = None;
        if press.0 == egui::Key::Escape {
            self.message = Some(("Cancelled".into(), true));
            return None;
        }
        Some(Request::Bind(
            target,
            Shortcut::from_press(press.0, press.1),
        ))
    }

    pub fn show(
        &mut self,
        ctx: &egui::Context,
        keymap: &Keymap,
        classes: &[Class],
    ) -> Vec<Request> {
        let mut out = Vec::new();
        let capturing = self.capturing;
        let modal = egui::Modal::new(egui::Id::unique("settings_view")).show(ctx, |ui| {
            ui.set_min_width(640.0);
            ui.heading("Key bindings");
            ui.label(
                egui::RichText::new(
                    "Click a key to change it, then press the new key (Esc cancels).",
                )
                .color(theme::MUTED),
            );
            if let Some((msg, ok)) = &self.message {
                let color = if *ok { theme::OK } else { theme::ERROR };
                ui.label(egui::RichText::new(msg).color(color).strong());
            }
            ui.add_space(6.0);
            egui::ScrollArea::vertical()
                .max_height(ctx.content_rect().height() * 0.7)
                .show(ui, |ui| {
                    egui::Grid::new("settings_grid")
                        .num_columns(2)
                        .spacing([24.0, 6.0])
                        .striped(true)
                        .show(ui, |ui| {
                            for c in classes.iter().filter(|c| !c.archived) {
                                ui.label(format!("Class “{}”", c.name));
                                let target = Target::Class(c.id);
                                let text = if capturing == Some(target) {
                                    "press a key…".to_string()
                                } else {
                                    class_shortcut(c)
                                        .map(|s| s.to_string())
                                        .unwrap_or_else(|| "unbound".into())
                                };
                                if ui
                                    .button(text)
                                    .on_hover_text(format!("Change the key of class “{}”", c.name))
                                    .clicked()
                                {
                                    self.capturing = Some(target);
                                }
                                ui.end_row();
                            }
                            for cmd in Command::all() {
                                ui.label(cmd.text()).on_hover_text(cmd.tooltip());
                                ui.horizontal(|ui| {
                                    let keys = keymap.shortcuts(cmd);
                                    for (i, sc) in keys.iter().enumerate() {
                                        let target = Target::Command(cmd, i);
                                        let text = if capturing == Some(target) {
                                            "press a key…".to_string()
                                        } else {
                                            sc.to_string()
                                        };
                                        if ui
                                            .button(text)
                                            .on_hover_text(format!(
                                                "Change key {} of “{}”",
                                                i + 1,
                                                cmd.text()
                                            ))
                                            .clicked()
                                        {
                                            self.capturing = Some(target);
                                        }
                                        if ui
                                            .small_button("×")
                                            .on_hover_text(format!(
                                                "Remove key {sc} from “{}”",
                                                cmd.text()
                                            ))
                                            .clicked()
                                        {
                                            out.push(Request::Unbind(cmd, i));
                                        }
                                    }
                                    let add = Target::Command(cmd, keys.len());
                                    let text = if capturing == Some(add) {
                                        "press a key…"
                                    } else {
                                        "+"
                                    };
                                    if ui
                                        .small_button(text)
                                        .on_hover_text(format!("Add a key for “{}”", cmd.text()))
                                        .clicked()
                                    {
                                        self.capturing = Some(add);
                                    }
                                });
                                ui.end_row();
                            }
                        });
                });
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Reset to defaults").clicked() {
                    out.push(Request::ResetKeymap);
                }
                if ui.button("Close (Esc)").clicked() {
                    out.push(Request::Close);
                }
            });
        });
        if self.capturing.is_none() && modal.should_close() {
            out.push(Request::Close);
        }
        out
    }
}
