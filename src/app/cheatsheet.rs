//! The cheat sheet (`?` / `F1`): every binding, read from the keymap and the classes, so it
//! can never be out of date.

use strum::IntoEnumIterator;

use super::commands::Command;
use super::keymap::{Keymap, class_shortcut};
use super::screen::ViewKind;
use super::theme;
use crate::project::Class;

/// One line of the cheat sheet.
struct Entry {
    key: String,
    text: String,
    color: Option<egui::Color32>,
    tooltip: Option<&'static str>,
}

/// A titled group of entries: the classes, and the commands by the views they act in.
struct Section {
    title: &'static str,
    entries: Vec<Entry>,
}

/// Which section a command belongs to, from the views that take it (never a hand-kept
/// list, so a new command lands in its place).
fn section_of(cmd: Command) -> usize {
    let views: Vec<ViewKind> = ViewKind::iter().filter(|v| v.takes(cmd)).collect();
    if views.len() == ViewKind::iter().count() {
        2
    } else if views.contains(&ViewKind::Label) {
        1
    } else if views.contains(&ViewKind::Review) {
        3
    } else if views.contains(&ViewKind::Draw) {
        5
    } else {
        4
    }
}

/// Draws the cheat sheet in a modal, in two columns so that it fits an 800 px window;
/// returns `true` when the user closed it.
/// `detect`: the project's images get boxes (the Boxes section is shown, and class keys
/// choose the class to draw).
pub fn show(ctx: &egui::Context, keymap: &Keymap, classes: &[Class], detect: bool) -> bool {
    let mut sections: Vec<Section> = [
        "Classes",
        "Labeling",
        "Every view",
        "Review",
        "Grid",
        "Boxes",
    ]
    .into_iter()
    .map(|title| Section {
        title,
        entries: Vec::new(),
    })
    .collect();
    sections[0].entries = classes
        .iter()
        .filter(|c| !c.archived)
        .map(|c| Entry {
            key: class_shortcut(c)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "—".into()),
            text: if detect {
                format!("Draw “{}” (or make the selected box one)", c.name)
            } else {
                format!("Label “{}”", c.name)
            },
            color: Some(theme::parse_color(&c.color)),
            tooltip: None,
        })
        .collect();
    // Of the two sample views, only the project's own one is listed.
    let (own, other) = if detect {
        (ViewKind::Draw, ViewKind::Label)
    } else {
        (ViewKind::Label, ViewKind::Draw)
    };
    for cmd in Command::all().filter(|c| own.takes(*c) || !other.takes(*c)) {
        let section = &mut sections[section_of(cmd)];
        // "Grid: select all" reads "Select all" under the Grid heading.
        let text = cmd
            .text()
            .strip_prefix(section.title)
            .and_then(|t| t.strip_prefix(": "))
            .map(|t| {
                let mut c = t.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| cmd.text().to_string());
        section.entries.push(Entry {
            key: keymap.labels(cmd),
            text,
            color: None,
            tooltip: Some(cmd.tooltip()),
        });
    }
    if detect {
        sections[5].entries.extend([
            Entry {
                key: "Drag / two clicks".into(),
                text: "Draw a box of the chosen class".into(),
                color: None,
                tooltip: None,
            },
            Entry {
                key: "Drag a box".into(),
                text: "Move it (inside) or resize it (edge, corner)".into(),
                color: None,
                tooltip: None,
            },
            Entry {
                key: "Click a suggestion".into(),
                text: "Accept it".into(),
                color: None,
                tooltip: None,
            },
            Entry {
                key: "Wheel / right drag".into(),
                text: "Zoom / pan the image".into(),
                color: None,
                tooltip: None,
            },
        ]);
    } else {
        sections.truncate(5);
        sections[1].entries.push(Entry {
            key: "Wheel / drag".into(),
            text: "Zoom / pan the image".into(),
            color: None,
            tooltip: None,
        });
    }
    // Three columns where the window is wide enough, else two; sections kept whole and
    // in order, the columns of about equal height.
    let n = if ctx.content_rect().width() >= 1100.0 {
        3
    } else {
        2
    };
    let columns = balance(sections, n);

    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("cheat_sheet")).show(ctx, |ui| {
        ui.set_min_width(if n == 3 { 1000.0 } else { 600.0 });
        ui.heading("Keyboard shortcuts");
        ui.add_space(6.0);
        egui::ScrollArea::vertical()
            .max_height(ctx.content_rect().height() - 140.0)
            .show(ui, |ui| {
                ui.columns(n, |cols| {
                    for (ui, sections) in cols.iter_mut().zip(&columns) {
                        for (i, section) in sections.iter().enumerate() {
                            column_section(ui, section, i);
                        }
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

/// Splits `sections` in order into `n` columns of about equal rows.
fn balance(sections: Vec<Section>, n: usize) -> Vec<Vec<Section>> {
    let rows = |s: &Section| s.entries.len() + 1;
    let total: usize = sections.iter().map(rows).sum();
    let mut columns: Vec<Vec<Section>> = (0..n).map(|_| Vec::new()).collect();
    let mut filled = 0;
    let mut col = 0;
    for s in sections {
        let r = rows(&s);
        // Move on when this section would end past the column's share by more than half.
        let share = total * (col + 1) / n;
        if col + 1 < n && !columns[col].is_empty() && filled + r / 2 > share {
            col += 1;
        }
        filled += r;
        columns[col].push(s);
    }
    columns
}

fn column_section(ui: &mut egui::Ui, section: &Section, index: usize) {
    if section.entries.is_empty() {
        return;
    }
    if index > 0 {
        ui.add_space(8.0);
    }
    ui.label(
        egui::RichText::new(section.title)
            .strong()
            .color(theme::ACCENT),
    );
    egui::Grid::new(("cheat_sheet", section.title))
        .num_columns(2)
        .spacing([16.0, 5.0])
        .striped(true)
        .show(ui, |ui| {
            for e in &section.entries {
                cell(ui, e);
                ui.end_row();
            }
        });
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
