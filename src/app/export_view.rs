//! The export view: the validation report, the class distribution per split (a bar chart
//! of the final labels, split with the same seeded hash as the export), the export options,
//! and an export that runs on a background thread with a progress bar and Cancel.
//!
//! Validation, the split preview and the export each open their own connection to the
//! project file on a background thread; the UI thread only polls them.

use std::path::PathBuf;
use std::time::Duration;

use egui::RichText;
use egui_plot::{Bar, BarChart, Legend, Plot};

use super::commands::{Action, Command};
use super::jobs::Job;
use super::keymap::Keymap;
use super::path_field::{PathField, Want};
use super::theme;
use crate::Project;
use crate::export::{self, ExportError, ExportOptions, ExportSummary, Format};
use crate::validate::{self, Report, Severity};

/// What the check job found: the report and the split preview.
pub struct Check {
    pub report: Report,
    pub splits: Vec<String>,
    pub classes: Vec<String>,
    /// `counts[split][class]`: samples with that final label in that split.
    pub counts: Vec<Vec<u64>>,
}

pub enum Outcome {
    Done(ExportSummary),
    Invalid(Report),
    Cancelled,
    Failed(String),
}

/// An export on its background thread; its progress also carries the cancel.
pub struct Running {
    pub job: Job<Outcome>,
}

pub struct ExportView {
    project: PathBuf,
    pub format: Format,
    pub splits: String,
    pub seed: String,
    pub gzip: bool,
    /// TFRecord files per split.
    pub shards: u32,
    pub only_labeled: bool,
    pub force: bool,
    pub out: PathField,
    pub check: Option<Job<Result<Check, String>>>,
    pub checked: Option<Result<Check, String>>,
    pub running: Option<Running>,
    pub outcome: Option<Outcome>,
    /// What asking the file manager to show the dataset gave.
    pub opened: Option<Result<(), String>>,
}

impl ExportView {
    pub fn new(project: &Project, ctx: Option<egui::Context>) -> ExportView {
        let path = project.path().to_path_buf();
        let out = path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(format!("{}-dataset", project.name()));
        let mut view = ExportView {
            project: path,
            format: Format::TfRecord,
            splits: export::DEFAULT_SPLITS.into(),
            seed: "0".into(),
            gzip: false,
            shards: 1,
            only_labeled: false,
            force: false,
            out: PathField::new(Want::NewFolder).with_text(out.display().to_string()),
            check: None,
            checked: None,
            running: None,
            outcome: None,
            opened: None,
        };
        view.start_check(ctx);
        view
    }

    fn parsed(&self) -> Result<(Vec<(String, u32)>, u64), String> {
        let splits = export::parse_splits(&self.splits).map_err(|e| format!("Splits: {e:#}"))?;
        let seed = self.seed.trim().parse::<u64>().map_err(|_| {
            format!(
                "Seed: `{}` is not a whole number (0 or more)",
                self.seed.trim()
            )
        })?;
        Ok((splits, seed))
    }

    /// Validates and previews the splits on a background thread.
    pub fn start_check(&mut self, ctx: Option<egui::Context>) {
        let (splits, seed) = match self.parsed() {
            Ok(v) => v,
            Err(e) => {
                self.checked = Some(Err(e));
                return;
            }
        };
        let path = self.project.clone();
        let only_labeled = self.only_labeled;
        self.check = Some(Job::spawn("Checking the project", ctx, move |_| {
            check(&path, &splits, seed, only_labeled).map_err(|e| format!("{e:#}"))
        }));
    }

    /// Starts the export on a background thread.
    pub fn start_export(&mut self, ctx: Option<egui::Context>) {
        let (splits, seed) = match self.parsed() {
            Ok(v) => v,
            Err(e) => {
                self.outcome = Some(Outcome::Failed(e));
                return;
            }
        };
        let out = match self.out.checked() {
            Ok(out) => out,
            Err(e) => {
                self.outcome = Some(Outcome::Failed(format!("Output folder: {e}")));
                return;
            }
        };
        let options = ExportOptions {
            format: self.format,
            out,
            splits,
            seed,
            gzip: self.gzip && self.format == Format::TfRecord,
            shards: if self.format == Format::TfRecord {
                self.shards.max(1)
            } else {
                1
            },
            only_labeled: self.only_labeled,
            force: self.force,
        };
        let path = self.project.clone();
        self.outcome = None;
        let job = Job::spawn("Exporting", ctx, move |progress| {
            let mut project = match Project::open(&path) {
                Ok(p) => p,
                Err(e) => return Outcome::Failed(format!("{e:#}")),
            };
            match export::export(&mut project, &options, progress) {
                Ok(s) => Outcome::Done(s),
                Err(ExportError::Invalid(r)) => Outcome::Invalid(r),
                Err(ExportError::Cancelled) => Outcome::Cancelled,
                Err(ExportError::Other(e)) => Outcome::Failed(format!("{e:#}")),
            }
        });
        self.running = Some(Running { job });
    }

    /// Picks up finished background work.
    fn poll(&mut self, ctx: &egui::Context) {
        if let Some(job) = &self.check {
            match job.poll() {
                None => ctx.request_repaint_after(Duration::from_millis(100)),
                Some(r) => {
                    self.checked = Some(r.and_then(|x| x));
                    self.check = None;
                }
            }
        }
        if let Some(run) = &self.running {
            match run.job.poll() {
                None => ctx.request_repaint_after(Duration::from_millis(100)),
                Some(r) => {
                    self.outcome = Some(r.unwrap_or_else(Outcome::Failed));
                    self.running = None;
                }
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

/// The validation report and the final labels counted per split and class.
fn check(
    path: &std::path::Path,
    splits: &[(String, u32)],
    seed: u64,
    only_labeled: bool,
) -> anyhow::Result<Check> {
    let project = Project::open_read_only(path)?;
    let report = validate::validate(
        &project,
        &validate::Options {
            only_labeled,
            splits: splits.len(),
            ..validate::Options::default()
        },
    )?;
    // The export's own planning; when it cannot plan (a finding the report names), the
    // chart stays empty.
    let classes: Vec<String> = project
        .active_classes()?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let counts = match export::preview(&project, splits, seed) {
        Ok(preview) => preview
            .iter()
            .map(|(_, split)| {
                classes
                    .iter()
                    .map(|c| split.classes.get(c).copied().unwrap_or(0))
                    .collect()
            })
            .collect(),
        Err(_) => vec![vec![0u64; classes.len()]; splits.len()],
    };
    Ok(Check {
        report,
        splits: splits.iter().map(|(n, _)| n.clone()).collect(),
        classes,
        counts,
    })
}

/// A message of the core, in the window's words: its flags named as the export view's
/// controls.
fn window_terms(message: &str) -> String {
    [
        ("--only-labeled", "“Only labeled samples”"),
        ("--force", "“Replace an earlier export in that folder”"),
        ("--split", "Splits"),
        ("--shards", "Files per split"),
        ("--gzip", "GZIP"),
    ]
    .into_iter()
    .fold(message.to_string(), |m, (flag, control)| {
        m.replace(&format!("use {flag}"), &format!("tick {control}"))
            .replace(&format!("with {flag}"), &format!("with {control}"))
            .replace(flag, control)
    })
}

/// Asks the system's file manager to show `folder`; when there is none, says where it is.
fn open_folder(folder: &std::path::Path) -> Result<(), String> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(folder)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| {
            format!(
                "No file manager could be started ({opener}: {e}); the dataset is in {}",
                folder.display()
            )
        })
}

/// What the export view's controls asked for in one frame.
pub struct Shown {
    pub actions: Vec<Action>,
    /// "Show … in the grid" on a finding: its code and sample names.
    pub show_in_grid: Option<(String, Vec<String>)>,
}

/// Draws the export view; returns the actions its buttons ask for.
pub fn show(
    view: &mut ExportView,
    keymap: &Keymap,
    ctx: Option<egui::Context>,
    ui: &mut egui::Ui,
) -> Shown {
    let mut actions = Vec::new();
    let mut show_in_grid = None;
    view.poll(ui.ctx());

    egui::Panel::top("export_bar")
        .frame(theme::panel_frame(egui::Margin::symmetric(14, 8)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("Export").strong().size(18.0));
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let back = ui
                        .add_enabled(
                            !view.is_running(),
                            egui::Button::new(format!(
                                "Back to labeling ({})",
                                keymap.label(Command::Export)
                            )),
                        )
                        .on_hover_text(Command::Export.tooltip());
                    if back.clicked() {
                        actions.push(Command::Export.into());
                    }
                });
            });
        });

    egui::Panel::left("export_options")
        .default_size(380.0)
        .size_range(300.0..=560.0)
        .frame(theme::panel_frame(egui::Margin::same(14)))
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| options_ui(ui, view, ctx.clone()));
        });

    egui::CentralPanel::default()
        .frame(
            egui::Frame::NONE
                .fill(theme::BACKGROUND)
                .inner_margin(egui::Margin::same(14)),
        )
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| show_in_grid = report_ui(ui, view));
        });
    Shown {
        actions,
        show_in_grid,
    }
}

fn labeled_edit(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) -> bool {
    let l = ui.label(RichText::new(label).color(theme::MUTED));
    ui.add(
        egui::TextEdit::singleline(value)
            .desired_width(f32::INFINITY)
            .hint_text(hint),
    )
    .labelled_by(l.id)
    .changed()
}

fn options_ui(ui: &mut egui::Ui, view: &mut ExportView, ctx: Option<egui::Context>) {
    let running = view.is_running();
    ui.add_enabled_ui(!running, |ui| {
        ui.label(RichText::new("Format").color(theme::MUTED));
        ui.horizontal(|ui| {
            ui.radio_value(&mut view.format, Format::TfRecord, "TFRecord");
            ui.radio_value(&mut view.format, Format::Csv, "CSV");
            ui.radio_value(&mut view.format, Format::Jsonl, "JSONL");
        });
        ui.add_space(6.0);
        let mut changed = labeled_edit(ui, "Splits", &mut view.splits, "train=8,eval=2");
        changed |= labeled_edit(ui, "Seed", &mut view.seed, "0");
        ui.add_space(6.0);
        if view.format == Format::TfRecord {
            ui.checkbox(&mut view.gzip, "GZIP-compress the TFRecord files");
            ui.horizontal(|ui| {
                let l = ui.label("Files per split");
                ui.add(egui::DragValue::new(&mut view.shards).range(1..=1024))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "TFRecord shards per split: several files let TFX read in parallel",
                    );
            });
        }
        changed |= ui
            .checkbox(&mut view.only_labeled, "Only labeled samples")
            .on_hover_text("Leave unlabeled and skipped samples out")
            .changed();
        ui.add_space(6.0);
        let label = ui.label(RichText::new("Output folder").color(theme::MUTED));
        view.out
            .show(ui, label.id, "Output folder", "folder to create");
        ui.checkbox(&mut view.force, "Replace an earlier export in that folder");
        if changed && view.check.is_none() {
            view.start_check(ctx.clone());
        }
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            if ui
                .add_enabled(view.check.is_none(), egui::Button::new("Check again"))
                .on_hover_text("Validate again and recount the splits")
                .clicked()
            {
                view.start_check(ctx.clone());
            }
            let export = ui
                .add(
                    egui::Button::new(RichText::new("Export dataset").strong()).fill(theme::ACCENT),
                )
                .on_hover_text("Validate and write the dataset");
            if export.clicked() {
                view.start_export(ctx.clone());
            }
        });
    });
    if let Some(run) = &view.running {
        ui.add_space(8.0);
        let bar = match run.job.progress.fraction() {
            Some(f) => egui::ProgressBar::new(f).text(run.job.progress.text()),
            None => egui::ProgressBar::new(0.0)
                .animate(true)
                .text("Validating…"),
        };
        ui.add(bar);
        if ui.button("Cancel export").clicked() {
            run.job.progress.cancel();
        }
    }
    ui.add_space(8.0);
    match &view.outcome {
        None => {}
        Some(Outcome::Done(s)) => {
            ui.label(
                RichText::new(format!("Exported to {}", s.out.display()))
                    .color(theme::OK)
                    .strong(),
            );
            for (name, split) in &s.splits {
                ui.label(format!(
                    "{name}: {}",
                    crate::plural(split.count, "sample", "samples")
                ));
            }
            if let Some(why) = &s.not_recorded {
                ui.label(RichText::new(why).color(theme::WARN));
            }
            let records: u64 = s.files.iter().map(|f| f.records).sum();
            ui.label(
                RichText::new(format!("{} files, {records} records", s.files.len()))
                    .color(theme::MUTED),
            );
            if ui
                .button("Open folder")
                .on_hover_text("Show the dataset in the system's file manager")
                .clicked()
            {
                view.opened = Some(open_folder(&s.out));
            }
            if let Some(Err(e)) = &view.opened {
                ui.add(egui::Label::new(RichText::new(e).color(theme::WARN)).wrap());
            }
        }
        Some(Outcome::Invalid(r)) => {
            ui.label(
                RichText::new(format!(
                    "Validation found {} error(s); nothing was written",
                    r.errors().count()
                ))
                .color(theme::ERROR),
            );
        }
        Some(Outcome::Cancelled) => {
            ui.label(RichText::new("Cancelled; nothing was written").color(theme::WARN));
        }
        Some(Outcome::Failed(e)) => {
            ui.add(egui::Label::new(RichText::new(window_terms(e)).color(theme::ERROR)).wrap());
        }
    }
}

/// Draws the validation report and the split chart; returns the finding whose samples the
/// user asked to see in the grid.
fn report_ui(ui: &mut egui::Ui, view: &ExportView) -> Option<(String, Vec<String>)> {
    let checked = match (&view.check, &view.checked) {
        (Some(_), _) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Validating…");
            });
            return None;
        }
        (None, Some(c)) => c,
        (None, None) => return None,
    };
    let check = match checked {
        Ok(c) => c,
        Err(e) => {
            ui.add(egui::Label::new(RichText::new(e).color(theme::ERROR)).wrap());
            return None;
        }
    };
    let mut show_in_grid = None;
    ui.label(RichText::new("Validation").strong().size(16.0));
    if check.report.findings.is_empty() {
        ui.label(RichText::new("No problems found").color(theme::OK));
    }
    for f in &check.report.findings {
        let (tag, color) = match f.severity {
            Severity::Error => ("error", theme::ERROR),
            _ => ("warning", theme::WARN),
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(tag).color(color).strong());
            ui.label(RichText::new(&f.code).monospace());
            ui.label(format!("×{}", f.count));
            ui.add(egui::Label::new(window_terms(&f.message)).wrap());
        });
        if !f.samples.is_empty() {
            ui.horizontal(|ui| {
                let shown = if f.count > f.samples.len() as u64 {
                    format!("first {} of {}", f.samples.len(), f.count)
                } else {
                    f.samples.len().to_string()
                };
                let button = ui
                    .button(format!("Show {shown} in the grid"))
                    .on_hover_text("Open the grid with only these samples");
                // Several findings may list as many samples: the code tells them apart.
                let name = format!("Show the {} samples in the grid", f.code);
                button.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Button, true, name.clone())
                });
                if button.clicked() {
                    show_in_grid = Some((f.code.clone(), f.samples.clone()));
                }
                egui::CollapsingHeader::new("names")
                    .id_salt(("finding", &f.code))
                    .show(ui, |ui| {
                        for s in f.samples.iter().take(200) {
                            ui.label(RichText::new(s).color(theme::MUTED).size(13.0));
                        }
                    });
            });
        }
    }
    ui.add_space(12.0);
    ui.label(RichText::new("Final labels per split").strong().size(16.0));
    let total: u64 = check.counts.iter().flatten().sum();
    if total == 0 {
        ui.label(RichText::new("No sample has a final label yet").color(theme::MUTED));
        return show_in_grid;
    }
    let summary: Vec<String> = check
        .splits
        .iter()
        .zip(&check.counts)
        .map(|(s, c)| format!("{s}: {}", c.iter().sum::<u64>()))
        .collect();
    ui.label(RichText::new(summary.join(" · ")).color(theme::MUTED));
    distribution_chart(ui, check);
    show_in_grid
}

/// One group of bars per class, one bar per split.
fn distribution_chart(ui: &mut egui::Ui, check: &Check) {
    const PALETTE: [egui::Color32; 4] = [theme::ACCENT, theme::OK, theme::WARN, theme::ERROR];
    let n = check.splits.len().max(1) as f64;
    let width = 0.8 / n;
    let classes = check.classes.clone();
    Plot::new("split_distribution")
        .height(300.0)
        .legend(Legend::default())
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_y(0.0)
        .show_x(false)
        .show_y(false)
        .show_grid([false, true])
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                classes.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            for (s, name) in check.splits.iter().enumerate() {
                let bars: Vec<Bar> = check.counts[s]
                    .iter()
                    .enumerate()
                    .map(|(c, &count)| {
                        let x = c as f64 - 0.4 + width * (s as f64 + 0.5);
                        Bar::new(x, count as f64)
                            .width(width * 0.9)
                            .name(&check.classes[c])
                    })
                    .collect();
                plot.bar_chart(
                    BarChart::new(name.as_str(), bars).color(PALETTE[s % PALETTE.len()]),
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::window_terms;

    #[test]
    fn core_messages_name_the_export_views_controls_instead_of_flags() {
        assert_eq!(
            window_terms(
                "`ds` already exists; choose another folder, or use --force to replace it"
            ),
            "`ds` already exists; choose another folder, or tick “Replace an earlier export in \
             that folder” to replace it"
        );
        assert_eq!(
            window_terms("label it, or export with --only-labeled"),
            "label it, or export with “Only labeled samples”"
        );
        assert!(!window_terms("--shards applies to TFRecord files only").contains("--"));
    }
}
