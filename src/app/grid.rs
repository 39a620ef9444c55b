//! The grid: a virtualised thumbnail view over the whole project.
//!
//! Only the rows on screen are drawn, and only their pages of samples are asked for. Pages
//! come from a background thread with its own read-only connection, so scrolling through a
//! million samples never waits for SQLite: a page not loaded yet is drawn as placeholders
//! for a frame or two. Thumbnails come from [`Thumbnails`] the same way.
//!
//! Mouse: click opens a sample; Ctrl+click toggles it in the selection, Shift+click selects
//! a range, dragging on the background draws a selection rectangle. Keys are commands of
//! the keymap ([`GridView::command`]): by default arrows move the focus (Shift extends the
//! selection), Enter opens, Ctrl+A selects everything that matches the filters, Escape
//! clears the selection.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use egui::{Align2, Color32, CornerRadius, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use super::commands::Command;
use super::loader::ImageState;
use super::thumbs::{DEFAULT_THUMB_CAP, ThumbKey, Thumbnails};
use crate::media::Turn;
use crate::project::{
    BoundingBox, Class, ClassId, Project, SampleId, SampleKind, SampleQuery, SampleStatus,
    SampleSummary,
};

/// Samples per page fetched from the project.
const PAGE: u64 = 256;
/// Pages kept in memory (about 16,000 samples).
const MAX_PAGES: usize = 64;
/// Gap between cells, in points.
const GAP: f32 = 8.0;
/// Height of the caption under a thumbnail.
const CAPTION: f32 = 18.0;

/// What the grid asks the window to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GridAction {
    /// Show this sample in the labeling view.
    Open(SampleId),
}

/// The status filter of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Unlabeled,
    Labeled,
    Skipped,
    Excluded,
    Flagged,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 6] = [
        StatusFilter::All,
        StatusFilter::Unlabeled,
        StatusFilter::Labeled,
        StatusFilter::Skipped,
        StatusFilter::Excluded,
        StatusFilter::Flagged,
    ];

    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::All => "any status",
            StatusFilter::Unlabeled => "unlabeled",
            StatusFilter::Labeled => "labeled",
            StatusFilter::Skipped => "skipped",
            StatusFilter::Excluded => "excluded",
            StatusFilter::Flagged => "flagged",
        }
    }
}

/// The filters a user set in the grid's bar.
#[derive(Clone, Debug, PartialEq)]
pub struct GridFilter {
    pub status: StatusFilter,
    pub class: Option<ClassId>,
    pub annotator: String,
    pub path_contains: String,
    /// The samples a validation finding names: (finding code, sample names).
    pub finding: Option<(String, Vec<String>)>,
}

impl Default for GridFilter {
    fn default() -> Self {
        GridFilter {
            status: StatusFilter::All,
            class: None,
            annotator: String::new(),
            path_contains: String::new(),
            finding: None,
        }
    }
}

impl GridFilter {
    pub fn to_query(&self) -> SampleQuery {
        let mut q = SampleQuery::default();
        match self.status {
            StatusFilter::All => {}
            StatusFilter::Flagged => q.flagged = Some(true),
            StatusFilter::Unlabeled => q.status = Some(SampleStatus::Unlabeled),
            StatusFilter::Labeled => q.status = Some(SampleStatus::Labeled),
            StatusFilter::Skipped => q.status = Some(SampleStatus::Skipped),
            StatusFilter::Excluded => q.status = Some(SampleStatus::Excluded),
        }
        q.class = self.class;
        let annotator = self.annotator.trim();
        if !annotator.is_empty() {
            q.annotator = Some(annotator.to_string());
        }
        let text = self.path_contains.trim();
        if !text.is_empty() {
            q.name_contains = Some(text.to_string());
        }
        if let Some((_, names)) = &self.finding {
            q.names = Some(names.clone());
        }
        q
    }
}

/// A sample as a grid cell.
struct Cell {
    summary: SampleSummary,
    file: PathBuf,
}

enum Request {
    Count(u64, SampleQuery),
    Page(u64, SampleQuery, u64),
    /// Ids from `start`, `len` of them (range selection, select all).
    Ids(u64, SampleQuery, u64, u64, bool),
}

enum Reply {
    Count(u64, Result<u64, String>),
    Page(u64, u64, Result<Vec<Cell>, String>),
    Ids(u64, Result<Vec<SampleId>, String>, bool),
}

/// The background reader: one thread, one read-only connection, newest requests first.
struct Fetcher {
    tx: Sender<Request>,
    replies: Arc<Mutex<Vec<Reply>>>,
}

impl Fetcher {
    fn start(project_path: PathBuf, ctx: egui::Context) -> Fetcher {
        let (tx, rx) = channel::<Request>();
        let replies = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&replies);
        let _ = std::thread::Builder::new()
            .name("keylabel-grid".into())
            .spawn(move || fetch_loop(&project_path, &rx, &out, &ctx));
        Fetcher { tx, replies }
    }

    fn send(&self, r: Request) {
        // The thread only ends when this side is dropped.
        let _ = self.tx.send(r);
    }

    fn take(&self) -> Vec<Reply> {
        std::mem::take(&mut *self.replies.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn fetch_loop(
    project_path: &Path,
    rx: &Receiver<Request>,
    out: &Mutex<Vec<Reply>>,
    ctx: &egui::Context,
) {
    let project = Project::open_read_only(project_path);
    let push = |r: Reply| {
        out.lock().unwrap_or_else(|p| p.into_inner()).push(r);
        ctx.request_repaint();
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let newest = batch
            .iter()
            .map(|r| match r {
                Request::Count(g, _) | Request::Page(g, _, _) | Request::Ids(g, ..) => *g,
            })
            .max()
            .unwrap_or(0);
        // Answer the newest generation only; counts first, then the latest pages asked
        // for (what is on screen now) before older ones.
        batch.retain(|r| match r {
            Request::Count(g, _) | Request::Page(g, _, _) | Request::Ids(g, ..) => *g == newest,
        });
        batch.sort_by_key(|r| match r {
            Request::Count(..) => 0,
            Request::Page(..) => 1,
            Request::Ids(..) => 2,
        });
        let counts: Vec<_> = batch
            .iter()
            .filter(|r| matches!(r, Request::Count(..)))
            .collect();
        let mut pages: Vec<_> = batch
            .iter()
            .filter(|r| matches!(r, Request::Page(..)))
            .collect();
        pages.reverse();
        let ids: Vec<_> = batch
            .iter()
            .filter(|r| matches!(r, Request::Ids(..)))
            .collect();
        let mut seen_pages = HashSet::new();
        for r in counts.into_iter().take(1).chain(pages).chain(ids) {
            let p = match &project {
                Ok(p) => p,
                Err(e) => {
                    let msg = format!("cannot read the project: {e:#}");
                    match r {
                        Request::Count(g, _) => push(Reply::Count(*g, Err(msg))),
                        Request::Page(g, _, page) => push(Reply::Page(*g, *page, Err(msg))),
                        Request::Ids(g, .., add) => push(Reply::Ids(*g, Err(msg), *add)),
                    }
                    continue;
                }
            };
            match r {
                Request::Count(g, q) => {
                    let n = p.count_samples(q).map_err(|e| format!("{e:#}"));
                    push(Reply::Count(*g, n));
                }
                Request::Page(g, q, page) => {
                    if !seen_pages.insert(*page) {
                        continue;
                    }
                    let cells = p
                        .sample_summaries(q, page * PAGE, PAGE)
                        .map(|rows| {
                            rows.into_iter()
                                .map(|summary| Cell {
                                    file: p.resolve(&summary.path),
                                    summary,
                                })
                                .collect()
                        })
                        .map_err(|e| format!("{e:#}"));
                    push(Reply::Page(*g, *page, cells));
                }
                Request::Ids(g, q, start, len, add) => {
                    let ids = p.sample_ids(q, *start, *len).map_err(|e| format!("{e:#}"));
                    push(Reply::Ids(*g, ids, *add));
                }
            }
        }
    }
}

/// A class as the grid draws it.
struct ClassLook {
    name: String,
    color: Color32,
}

/// The grid view of one project.
pub struct GridView {
    project_path: PathBuf,
    filter: GridFilter,
    /// See [`GridView::set_own_view`].
    own_view: Option<String>,
    query: SampleQuery,
    /// Bumped when the filter changes or labels change; replies of older ones are dropped.
    generation: u64,
    count: Option<u64>,
    pages: HashMap<u64, (Arc<Vec<Cell>>, u64)>,
    /// Pages of the previous generation, drawn until their fresh copy arrives (no flicker).
    stale: HashMap<u64, Arc<Vec<Cell>>>,
    requested: HashSet<u64>,
    page_tick: u64,
    fetcher: Option<Fetcher>,
    thumbs: Option<Thumbnails>,
    classes: Vec<Class>,
    looks: HashMap<ClassId, ClassLook>,
    classes_dirty: bool,
    /// A detect project: thumbnails show their boxes, captions count them.
    detect: bool,
    selection: BTreeSet<SampleId>,
    anchor: Option<u64>,
    focus: Option<u64>,
    scroll_to_focus: bool,
    rubber: Option<RubberBand>,
    cell_side: f32,
    error: Option<String>,
    /// Columns in the last frame, for keyboard navigation.
    columns: usize,
    waiting_ids: bool,
    count_requested: bool,
    /// Scroll offset in the last frame, to bring the focused cell into view.
    last_offset: Option<f32>,
}

struct RubberBand {
    /// Content coordinates (relative to the top-left of the whole grid).
    start: Pos2,
    end: Pos2,
    base: BTreeSet<SampleId>,
}

impl GridView {
    pub fn new(project_path: &Path) -> Self {
        GridView {
            project_path: project_path.to_path_buf(),
            filter: GridFilter::default(),
            own_view: None,
            query: SampleQuery::default(),
            generation: 1,
            count: None,
            pages: HashMap::new(),
            stale: HashMap::new(),
            requested: HashSet::new(),
            page_tick: 0,
            fetcher: None,
            thumbs: None,
            classes: Vec::new(),
            looks: HashMap::new(),
            classes_dirty: true,
            detect: false,
            selection: BTreeSet::new(),
            anchor: None,
            focus: None,
            scroll_to_focus: false,
            rubber: None,
            cell_side: 160.0,
            error: None,
            columns: 1,
            waiting_ids: false,
            count_requested: false,
            last_offset: None,
        }
    }

    /// The selected samples, ascending.
    pub fn selected(&self) -> Vec<SampleId> {
        self.selection.iter().copied().collect()
    }

    /// Empties the selection (e.g. after labeling it).
    pub fn clear_selection(&mut self) {
        self.selection.clear();
        self.anchor = None;
    }

    /// Labels or samples changed: counts, pages and colours are read again in the
    /// background; the old ones stay on screen until then.
    pub fn invalidate(&mut self) {
        self.generation += 1;
        for (k, (cells, _)) in self.pages.drain() {
            self.stale.insert(k, cells);
        }
        self.requested.clear();
        self.count_requested = false;
        self.classes_dirty = true;
    }

    pub fn filter(&self) -> &GridFilter {
        &self.filter
    }

    /// Sets the filters (as the bar does) and reloads.
    pub fn set_filter(&mut self, filter: GridFilter) {
        if filter != self.filter {
            self.filter = filter;
            self.apply_filter();
        }
    }

    /// How many samples match the filters, once counted.
    pub fn count(&self) -> Option<u64> {
        self.count
    }

    /// Whether a count, page, id list or thumbnail is still on its way.
    pub fn is_loading(&self) -> bool {
        self.count.is_none()
            || !self.requested.is_empty()
            || self.waiting_ids
            || self.thumbs.as_ref().is_some_and(|t| !t.is_idle())
    }

    /// Moves the keyboard focus to the `index`-th matching sample and scrolls it into view
    /// (e.g. back from the labeling view: with no filter set, the index of a sample is
    /// [`Project::sample_position`]).
    pub fn scroll_to_index(&mut self, index: u64) {
        self.focus = Some(index);
        self.anchor = Some(index);
        self.scroll_to_focus = true;
    }

    /// The sample with the keyboard focus.
    pub fn focused(&self) -> Option<SampleId> {
        self.focus.and_then(|i| self.id_at(i))
    }

    /// Blind mode: statuses, classes and colours are `annotator`'s own decisions.
    pub fn set_own_view(&mut self, annotator: Option<String>) {
        if annotator != self.own_view {
            self.own_view = annotator;
            self.apply_filter();
        }
    }

    fn apply_filter(&mut self) {
        self.query = SampleQuery {
            own_view: self.own_view.clone(),
            ..self.filter.to_query()
        };
        self.generation += 1;
        self.pages.clear();
        self.stale.clear();
        self.requested.clear();
        self.count = None;
        self.count_requested = false;
        self.focus = None;
        self.anchor = None;
    }

    fn id_at(&self, index: u64) -> Option<SampleId> {
        let page = index / PAGE;
        let cells = self
            .pages
            .get(&page)
            .map(|(c, _)| c)
            .or_else(|| self.stale.get(&page))?;
        cells.get((index % PAGE) as usize).map(|c| c.summary.id)
    }

    fn cell_at(&self, index: u64) -> Option<&Cell> {
        let page = index / PAGE;
        let cells = self
            .pages
            .get(&page)
            .map(|(c, _)| c)
            .or_else(|| self.stale.get(&page))?;
        cells.get((index % PAGE) as usize)
    }

    fn poll(&mut self) {
        let Some(f) = &self.fetcher else { return };
        for reply in f.take() {
            match reply {
                Reply::Count(g, n) if g == self.generation => match n {
                    Ok(n) => {
                        self.count = Some(n);
                        self.error = None;
                    }
                    Err(e) => {
                        self.count = Some(0);
                        self.error = Some(e);
                    }
                },
                Reply::Page(g, page, cells) if g == self.generation => {
                    self.requested.remove(&page);
                    self.stale.remove(&page);
                    match cells {
                        Ok(cells) => {
                            self.page_tick += 1;
                            self.pages.insert(page, (Arc::new(cells), self.page_tick));
                        }
                        Err(e) => self.error = Some(e),
                    }
                }
                Reply::Ids(g, ids, add) if g == self.generation => {
                    self.waiting_ids = false;
                    match ids {
                        Ok(ids) => {
                            if !add {
                                self.selection.clear();
                            }
                            self.selection.extend(ids);
                        }
                        Err(e) => self.error = Some(e),
                    }
                }
                _ => {}
            }
        }
        while self.pages.len() > MAX_PAGES {
            let oldest = self
                .pages
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.pages.remove(&k);
            }
        }
    }

    fn want_page(&mut self, page: u64) {
        if let Some((_, t)) = self.pages.get_mut(&page) {
            self.page_tick += 1;
            *t = self.page_tick;
            return;
        }
        if self.requested.insert(page)
            && let Some(f) = &self.fetcher
        {
            f.send(Request::Page(self.generation, self.query.clone(), page));
        }
    }

    /// Selects the samples at indices `a..=b` (adding to the selection with `add`).
    fn select_range(&mut self, a: u64, b: u64, add: bool) {
        let (lo, hi) = (a.min(b), a.max(b));
        let ids: Option<Vec<SampleId>> = (lo..=hi).map(|i| self.id_at(i)).collect();
        match ids {
            Some(ids) => {
                if !add {
                    self.selection.clear();
                }
                self.selection.extend(ids);
            }
            None => {
                if let Some(f) = &self.fetcher {
                    self.waiting_ids = true;
                    f.send(Request::Ids(
                        self.generation,
                        self.query.clone(),
                        lo,
                        hi - lo + 1,
                        add,
                    ));
                }
            }
        }
    }

    fn refresh_classes(&mut self, project: &Project) {
        self.detect = project.task().is_detect();
        match project.classes() {
            Ok(classes) => {
                self.looks = classes
                    .iter()
                    .map(|c| {
                        (
                            c.id,
                            ClassLook {
                                name: c.name.clone(),
                                color: parse_color(&c.color),
                            },
                        )
                    })
                    .collect();
                self.classes = classes;
            }
            Err(e) => self.error = Some(format!("{e:#}")),
        }
        self.classes_dirty = false;
    }

    /// Forgets the thumbnails that failed, so that they are tried again.
    pub fn forget_failed(&mut self) {
        if let Some(t) = &mut self.thumbs {
            t.forget_failed();
        }
    }

    /// Draws the filter bar and the grid; returns what the user asked for.
    pub fn show(&mut self, ui: &mut egui::Ui, project: &Project) -> Vec<GridAction> {
        let mut actions = Vec::new();
        if self.fetcher.is_none() {
            self.fetcher = Some(Fetcher::start(self.project_path.clone(), ui.ctx().clone()));
        }
        if self.classes_dirty {
            self.refresh_classes(project);
        }
        if self.thumbs.is_none() {
            self.thumbs = Some(Thumbnails::new(
                ui.ctx().clone(),
                &self.project_path,
                DEFAULT_THUMB_CAP,
                2,
                self.detect,
                crate::hub::files::HubFiles::of(project).ok().flatten(),
            ));
        }
        self.poll();
        if !self.count_requested {
            self.count_requested = true;
            if let Some(f) = &self.fetcher {
                f.send(Request::Count(self.generation, self.query.clone()));
            }
        }
        self.filter_bar(ui);
        ui.separator();
        self.body(ui, &mut actions);
        actions
    }

    fn filter_bar(&mut self, ui: &mut egui::Ui) {
        let mut filter = self.filter.clone();
        ui.horizontal_wrapped(|ui| {
            if let Some((code, names)) = &filter.finding {
                let chip = ui
                    .button(
                        egui::RichText::new(format!("{code} ({})  ×", names.len()))
                            .color(crate::app::theme::WARN),
                    )
                    .on_hover_text(
                        "Only the samples this validation finding lists; click to show all",
                    );
                if chip.clicked() {
                    filter.finding = None;
                }
                ui.separator();
            }
            let l = ui.label("Status");
            egui::ComboBox::from_id_salt("grid-status")
                .selected_text(filter.status.label())
                .show_ui(ui, |ui| {
                    for s in StatusFilter::ALL {
                        ui.selectable_value(&mut filter.status, s, s.label());
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("Class");
            let class_text = filter
                .class
                .and_then(|c| self.looks.get(&c))
                .map(|l| l.name.clone())
                .unwrap_or_else(|| "any class".into());
            egui::ComboBox::from_id_salt("grid-class")
                .selected_text(class_text)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut filter.class, None, "any class");
                    for c in &self.classes {
                        ui.selectable_value(&mut filter.class, Some(c.id), &c.name);
                    }
                })
                .response
                .labelled_by(l.id);
            // In blind mode who decided what is not shown, so there is nothing to filter by.
            if self.own_view.is_none() {
                let l = ui.label("Annotator");
                ui.add(
                    egui::TextEdit::singleline(&mut filter.annotator)
                        .hint_text("anyone")
                        .desired_width(100.0),
                )
                .labelled_by(l.id);
            }
            let l = ui.label("Path");
            ui.add(
                egui::TextEdit::singleline(&mut filter.path_contains)
                    .hint_text("contains…")
                    .desired_width(150.0),
            )
            .labelled_by(l.id);
            ui.add(
                egui::Slider::new(&mut self.cell_side, 96.0..=320.0)
                    .show_value(false)
                    .text("Size"),
            );
            ui.separator();
            let count = match self.count {
                Some(n) => format!("{} samples", group_digits(n)),
                None => "counting…".into(),
            };
            ui.label(count);
            if !self.selection.is_empty() {
                ui.label(
                    egui::RichText::new(format!(
                        "{} selected",
                        group_digits(self.selection.len() as u64)
                    ))
                    .strong(),
                );
                if ui.button("Clear selection").clicked() {
                    self.clear_selection();
                }
            }
            if let Some(e) = &self.error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        });
        if filter != self.filter {
            self.filter = filter;
            self.apply_filter();
        }
    }

    /// Carries out one of the grid's own commands (moving the focus, extending or clearing
    /// the selection, opening the focused sample). Other commands do nothing here.
    pub fn command(&mut self, cmd: Command) -> Option<GridAction> {
        let count = self.count.unwrap_or(0);
        if count == 0 {
            return None;
        }
        let cols = self.columns.max(1) as i64;
        let (step, extend) = match cmd {
            Command::GridLeft => (-1, false),
            Command::GridRight => (1, false),
            Command::GridUp => (-cols, false),
            Command::GridDown => (cols, false),
            Command::GridExtendLeft => (-1, true),
            Command::GridExtendRight => (1, true),
            Command::GridExtendUp => (-cols, true),
            Command::GridExtendDown => (cols, true),
            Command::GridOpen => return self.focused().map(GridAction::Open),
            Command::SelectAll => {
                self.select_range(0, count - 1, false);
                return None;
            }
            Command::ClearSelection => {
                self.clear_selection();
                return None;
            }
            _ => return None,
        };
        let cur = self
            .focus
            .map(|f| f as i64)
            .unwrap_or(if step > 0 { -1 } else { 0 });
        let next = (cur + step).clamp(0, count as i64 - 1) as u64;
        self.focus = Some(next);
        self.scroll_to_focus = true;
        if extend {
            let a = self.anchor.unwrap_or(next);
            self.anchor = Some(a);
            self.select_range(a, next, false);
        } else {
            self.anchor = Some(next);
        }
        None
    }

    fn body(&mut self, ui: &mut egui::Ui, actions: &mut Vec<GridAction>) {
        let count = self.count.unwrap_or(0);
        let side = self.cell_side.round();
        let cell = Vec2::new(side, side * 0.75 + CAPTION);
        let width = ui.available_width();
        let cols = (((width + GAP) / (cell.x + GAP)).floor() as usize).max(1);
        self.columns = cols;
        let rows = count.div_ceil(cols as u64);
        let row_h = cell.y + GAP;
        // Spread the spare width over the gaps so the grid fills the window.
        let spare = (width - cols as f32 * cell.x).max(0.0);
        let gap_x = if cols > 1 {
            (spare / (cols - 1) as f32).min(GAP * 4.0)
        } else {
            0.0
        };

        if count == 0 {
            ui.add_space(40.0);
            ui.vertical_centered(|ui| {
                let text = if self.count.is_none() {
                    "Loading…"
                } else if self.filter == GridFilter::default() {
                    "This project has no samples yet."
                } else {
                    "No sample matches these filters."
                };
                ui.label(egui::RichText::new(text).size(18.0).weak());
            });
            return;
        }

        let mut area = egui::ScrollArea::vertical()
            .id_salt("keylabel-grid")
            .auto_shrink([false, false]);
        if self.scroll_to_focus {
            self.scroll_to_focus = false;
            if let Some(f) = self.focus {
                let top = (f / cols as u64) as f32 * row_h;
                let viewport_h = ui.available_height();
                let cur = self.last_offset.unwrap_or(0.0);
                if top < cur {
                    area = area.vertical_scroll_offset(top);
                } else if top + row_h > cur + viewport_h {
                    area = area.vertical_scroll_offset(top + row_h - viewport_h);
                }
            }
        }
        let out = area.show_viewport(ui, |ui, viewport| {
            ui.set_height((rows as f32 * row_h - GAP).max(0.0));
            let origin = ui.min_rect().min;
            let first_row = (viewport.min.y / row_h).floor().max(0.0) as u64;
            let last_row = ((viewport.max.y / row_h).ceil() as u64).min(rows);
            let first = first_row * cols as u64;
            let end = (last_row * cols as u64).min(count);

            // Pages: what is on screen, then a screen ahead and behind.
            let span = end.saturating_sub(first).max(1);
            let ahead_end = (end + span).min(count);
            let behind_start = first.saturating_sub(span);
            for p in (first / PAGE)..=((end.max(1) - 1) / PAGE) {
                self.want_page(p);
            }
            for p in [ahead_end.saturating_sub(1) / PAGE, behind_start / PAGE] {
                self.want_page(p);
            }

            // Thumbnails: on screen first, then the next screen, then the one before.
            let mut keys = Vec::new();
            for i in (first..end)
                .chain(end..ahead_end)
                .chain(behind_start..first)
            {
                if let Some(c) = self.cell_at(i)
                    && c.summary.kind == SampleKind::Image
                {
                    keys.push(ThumbKey {
                        hash: c.summary.hash.clone(),
                        path: c.file.clone(),
                    });
                }
            }
            if let Some(t) = &mut self.thumbs {
                t.prefetch(&keys);
            }

            // Rubber band on the background.
            let bg = ui.interact(
                viewport.translate(origin.to_vec2()),
                ui.scope_id().with("rubber"),
                Sense::click_and_drag(),
            );
            let ctrl = ui.input(|i| i.modifiers.command || i.modifiers.shift);
            if bg.drag_started()
                && let Some(p) = bg.interact_pointer_pos()
            {
                let start = p - origin.to_vec2();
                self.rubber = Some(RubberBand {
                    start,
                    end: start,
                    base: if ctrl {
                        self.selection.clone()
                    } else {
                        BTreeSet::new()
                    },
                });
            }
            if bg.clicked() && !ctrl {
                self.clear_selection();
            }

            let painter = ui.painter().clone();
            let mut clicked: Option<(u64, egui::Modifiers)> = None;
            for i in first..end {
                let row = i / cols as u64;
                let col = (i % cols as u64) as f32;
                let min = origin + Vec2::new(col * (cell.x + gap_x), row as f32 * row_h);
                let rect = Rect::from_min_size(min, cell);
                let selected;
                let label;
                match self.cell_at(i) {
                    Some(c) => {
                        selected = self.selection.contains(&c.summary.id);
                        label = cell_label(c, &self.looks, self.detect);
                        let focused = self.focus == Some(i);
                        self.paint_cell(&painter, rect, c, selected, focused);
                    }
                    None => {
                        painter.rect_filled(
                            rect,
                            CornerRadius::same(6),
                            ui.visuals().faint_bg_color,
                        );
                        continue;
                    }
                }
                let resp = ui.interact(rect, ui.scope_id().with(("cell", i)), Sense::click());
                resp.widget_info(|| {
                    egui::WidgetInfo::selected(egui::Role::Button, true, selected, &label)
                });
                if resp.clicked() {
                    clicked = Some((i, ui.input(|inp| inp.modifiers)));
                }
                if resp.hovered() {
                    ui.ctx().set_cursor_icon(egui::CursorIcon::PointingHand);
                    let mut tip = label.clone();
                    if let Some(c) = self.cell_at(i)
                        && let Some(t) = &self.thumbs
                        && let Some(ImageState::Failed(reason) | ImageState::Away(reason)) =
                            t.peek(&ThumbKey {
                                hash: c.summary.hash.clone(),
                                path: c.file.clone(),
                            })
                    {
                        tip.push('\n');
                        tip.push_str(&reason);
                    }
                    resp.on_hover_text(tip);
                }
            }
            if let Some((i, m)) = clicked {
                self.focus = Some(i);
                if m.command {
                    if let Some(id) = self.id_at(i)
                        && !self.selection.remove(&id)
                    {
                        self.selection.insert(id);
                    }
                    self.anchor = Some(i);
                } else if m.shift {
                    let a = self.anchor.unwrap_or(i);
                    self.select_range(a, i, false);
                } else if let Some(id) = self.id_at(i) {
                    self.selection.clear();
                    self.anchor = Some(i);
                    actions.push(GridAction::Open(id));
                }
            }

            // The rubber band selects every loaded cell it touches.
            if let Some(band) = &mut self.rubber {
                if let Some(p) = bg
                    .interact_pointer_pos()
                    .or_else(|| ui.ctx().pointer_latest_pos())
                {
                    band.end = p - origin.to_vec2();
                }
                let r = Rect::from_two_pos(band.start, band.end);
                let mut sel = band.base.clone();
                let r0 = (r.min.y / row_h).floor().max(0.0) as u64;
                let r1 = ((r.max.y / row_h).floor().max(0.0) as u64).min(rows.saturating_sub(1));
                for row in r0..=r1 {
                    for c in 0..cols {
                        let i = row * cols as u64 + c as u64;
                        if i >= count {
                            break;
                        }
                        let min = Pos2::new(c as f32 * (cell.x + gap_x), row as f32 * row_h);
                        if Rect::from_min_size(min, cell).intersects(r)
                            && let Some(id) = self.id_at(i)
                        {
                            sel.insert(id);
                        }
                    }
                }
                self.selection = sel;
                let screen = r.translate(origin.to_vec2());
                let accent = ui.visuals().selection.bg_fill;
                painter.rect(
                    screen,
                    CornerRadius::same(2),
                    accent.gamma_multiply(0.15),
                    Stroke::new(1.0, accent),
                    StrokeKind::Inside,
                );
                if !bg.dragged() {
                    self.rubber = None;
                }
            }
        });
        self.last_offset = Some(out.state.clamped_offset().y);
    }

    fn paint_cell(
        &self,
        painter: &egui::Painter,
        rect: Rect,
        c: &Cell,
        selected: bool,
        focused: bool,
    ) {
        let s = &c.summary;
        let radius = CornerRadius::same(6);
        let thumb_rect =
            Rect::from_min_size(rect.min, Vec2::new(rect.width(), rect.height() - CAPTION));
        painter.rect_filled(thumb_rect, radius, Color32::from_gray(32));
        let dim = matches!(s.status, SampleStatus::Excluded | SampleStatus::Skipped);
        let tint = if dim {
            Color32::from_gray(110)
        } else {
            Color32::WHITE
        };
        match s.kind {
            SampleKind::Image => {
                let key = ThumbKey {
                    hash: s.hash.clone(),
                    path: c.file.clone(),
                };
                let state = self.thumbs.as_ref().and_then(|t| t.peek(&key));
                match state {
                    Some(ImageState::Ready { texture, turn, .. }) => {
                        let size = texture.size_vec2();
                        let fit = (thumb_rect.width() / size.x).min(thumb_rect.height() / size.y);
                        let r = Rect::from_center_size(thumb_rect.center(), size * fit);
                        painter.image(
                            texture.id(),
                            r,
                            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                            tint,
                        );
                        if let Some(stored) = s.size {
                            let turn = Turn {
                                orientation: turn.orientation,
                                stored,
                            };
                            self.paint_boxes(painter, r, &s.boxes, turn, dim);
                        }
                    }
                    Some(ImageState::Failed(reason)) => {
                        painter.text(
                            thumb_rect.center_top() + Vec2::new(0.0, 22.0),
                            Align2::CENTER_CENTER,
                            "cannot show",
                            FontId::proportional(13.0),
                            Color32::from_rgb(240, 140, 100),
                        );
                        // The reason without the file's path (the caption names the file).
                        let short = reason
                            .rfind("`: ")
                            .map_or(reason.as_str(), |i| &reason[i + 3..]);
                        let inner = thumb_rect.shrink2(Vec2::new(8.0, 0.0));
                        let galley = painter.layout(
                            short.to_string(),
                            FontId::proportional(10.5),
                            Color32::from_gray(170),
                            inner.width(),
                        );
                        let top = Pos2::new(
                            inner.center().x - galley.size().x / 2.0,
                            thumb_rect.top() + 36.0,
                        );
                        painter.with_clip_rect(thumb_rect.shrink(2.0)).galley(
                            top,
                            galley,
                            Color32::from_gray(170),
                        );
                    }
                    Some(ImageState::Away(_)) => {
                        painter.text(
                            thumb_rect.center(),
                            Align2::CENTER_CENTER,
                            "on the hub (offline)",
                            FontId::proportional(12.0),
                            crate::app::theme::WARN,
                        );
                    }
                    _ => {
                        painter.text(
                            thumb_rect.center(),
                            Align2::CENTER_CENTER,
                            "…",
                            FontId::proportional(18.0),
                            Color32::from_gray(90),
                        );
                    }
                }
            }
            SampleKind::Text => {
                let text = s.text.clone().unwrap_or_default();
                let inner = thumb_rect.shrink(8.0);
                let galley = painter.layout(
                    text,
                    FontId::proportional(12.0),
                    if dim {
                        Color32::from_gray(120)
                    } else {
                        Color32::from_gray(215)
                    },
                    inner.width(),
                );
                let clip = painter.with_clip_rect(inner);
                clip.galley(inner.min, galley, Color32::from_gray(215));
            }
        }
        if s.status == SampleStatus::Excluded {
            // Diagonal stripes: unusable, never exported.
            let clip = painter.with_clip_rect(thumb_rect);
            let stroke = Stroke::new(2.0, Color32::from_rgba_unmultiplied(0, 0, 0, 110));
            let mut x = thumb_rect.left() - thumb_rect.height();
            while x < thumb_rect.right() {
                clip.line_segment(
                    [
                        Pos2::new(x, thumb_rect.bottom()),
                        Pos2::new(x + thumb_rect.height(), thumb_rect.top()),
                    ],
                    stroke,
                );
                x += 12.0;
            }
        }
        // Border: the class colour (two halves for two classes), grey when unlabeled.
        // In a detect project the boxes carry the class colours.
        let border = match s.classes.first().and_then(|c| self.looks.get(c)) {
            _ if self.detect && s.status == SampleStatus::Labeled => Color32::from_gray(190),
            Some(l) if s.status == SampleStatus::Labeled => l.color,
            _ => Color32::from_gray(70),
        };
        let width = match s.status {
            SampleStatus::Labeled if self.detect => 2.0,
            SampleStatus::Labeled => 3.0,
            _ => 1.0,
        };
        painter.rect_stroke(
            thumb_rect,
            radius,
            Stroke::new(width, border),
            StrokeKind::Inside,
        );
        if s.classes.len() > 1 && !self.detect {
            // Multi-label: a strip of every class colour along the bottom.
            let strip = Rect::from_min_max(
                Pos2::new(thumb_rect.left() + 4.0, thumb_rect.bottom() - 8.0),
                Pos2::new(thumb_rect.right() - 4.0, thumb_rect.bottom() - 4.0),
            );
            let w = strip.width() / s.classes.len() as f32;
            for (k, c) in s.classes.iter().enumerate() {
                let color = self.looks.get(c).map_or(Color32::GRAY, |l| l.color);
                let r = Rect::from_min_size(
                    Pos2::new(strip.left() + k as f32 * w, strip.top()),
                    Vec2::new(w, strip.height()),
                );
                painter.rect_filled(r, CornerRadius::ZERO, color);
            }
        }
        if s.flagged {
            let tr = thumb_rect.right_top();
            painter.add(egui::Shape::convex_polygon(
                vec![tr + Vec2::new(-20.0, 0.0), tr, tr + Vec2::new(0.0, 20.0)],
                Color32::from_rgb(230, 60, 60),
                Stroke::NONE,
            ));
        }
        if selected {
            let accent = Color32::from_rgb(90, 170, 255);
            painter.rect_filled(thumb_rect, radius, accent.gamma_multiply(0.22));
            painter.rect_stroke(
                thumb_rect.expand(2.0),
                radius,
                Stroke::new(2.5, accent),
                StrokeKind::Outside,
            );
            let c = thumb_rect.left_top() + Vec2::new(13.0, 13.0);
            painter.circle_filled(c, 9.0, accent);
            let tick = Stroke::new(2.0, Color32::WHITE);
            painter.line_segment([c + Vec2::new(-4.0, 0.0), c + Vec2::new(-1.0, 3.5)], tick);
            painter.line_segment([c + Vec2::new(-1.0, 3.5), c + Vec2::new(4.5, -3.5)], tick);
        }
        if focused {
            painter.rect_stroke(
                thumb_rect.expand(4.0),
                CornerRadius::same(8),
                Stroke::new(1.5, Color32::WHITE),
                StrokeKind::Outside,
            );
        }
        // Caption: class name (in its colour) or status, then the file name.
        let caption = Rect::from_min_max(Pos2::new(rect.left(), thumb_rect.bottom()), rect.max);
        let (tag, tag_color) = match s.status {
            SampleStatus::Labeled if self.detect => (boxes_tag(s), border),
            SampleStatus::Labeled => {
                let names: Vec<&str> = s
                    .classes
                    .iter()
                    .filter_map(|c| self.looks.get(c).map(|l| l.name.as_str()))
                    .collect();
                (names.join("+"), border)
            }
            SampleStatus::Skipped => ("skipped".to_string(), Color32::from_gray(150)),
            SampleStatus::Excluded => ("excluded".to_string(), Color32::from_rgb(220, 120, 90)),
            SampleStatus::Unlabeled => (String::new(), Color32::GRAY),
        };
        let font = FontId::proportional(11.5);
        let mut x = caption.left() + 2.0;
        if !tag.is_empty() {
            let g = painter.layout_no_wrap(tag, font.clone(), tag_color);
            let w = g.size().x;
            painter.galley(
                Pos2::new(x, caption.center().y - g.size().y / 2.0),
                g,
                tag_color,
            );
            x += w + 6.0;
        }
        let name = file_name_of(&s.name);
        let avail = caption.right() - x;
        if avail > 12.0 {
            let mut job = egui::text::LayoutJob::simple_singleline(
                name.to_string(),
                font,
                Color32::from_gray(150),
            );
            job.wrap = egui::text::TextWrapping::truncate_at_width(avail);
            let g = painter.layout_job(job);
            painter.galley(
                Pos2::new(x, caption.center().y - g.size().y / 2.0),
                g,
                Color32::from_gray(150),
            );
        }
    }
}

impl GridView {
    /// Draws a detect image's boxes (in its stored pixel frame, turned as its thumbnail
    /// is) over the thumbnail at `image`.
    fn paint_boxes(
        &self,
        painter: &egui::Painter,
        image: Rect,
        boxes: &[BoundingBox],
        turn: Turn,
        dim: bool,
    ) {
        let [uw, uh] = turn.upright_size();
        if boxes.is_empty() || uw == 0 || uh == 0 {
            return;
        }
        let sx = image.width() / uw as f32;
        let sy = image.height() / uh as f32;
        let clip = painter.with_clip_rect(image.intersect(painter.clip_rect()));
        for b in boxes {
            let [x, y, w, h] = turn.rect_to_upright([b.x, b.y, b.w, b.h]);
            let r = Rect::from_min_size(
                image.min + Vec2::new(x as f32 * sx, y as f32 * sy),
                Vec2::new(w as f32 * sx, h as f32 * sy),
            );
            let mut color = self.looks.get(&b.class).map_or(Color32::GRAY, |l| l.color);
            if dim {
                color = color.gamma_multiply(0.5);
            }
            clip.rect_stroke(
                r,
                CornerRadius::ZERO,
                Stroke::new(1.5, color),
                StrokeKind::Middle,
            );
        }
    }
}

/// A detect image's caption: how many boxes, "no objects", or that its annotators'
/// boxes differ (classes, but no current boxes, until consensus or a reviewer settles it).
fn boxes_tag(s: &SampleSummary) -> String {
    match (s.boxes.len(), s.classes.is_empty()) {
        (0, true) => "no objects".into(),
        (0, false) => "boxes differ".into(),
        (1, _) => "1 box".into(),
        (n, _) => format!("{n} boxes"),
    }
}

fn file_name_of(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn cell_label(c: &Cell, looks: &HashMap<ClassId, ClassLook>, detect: bool) -> String {
    let s = &c.summary;
    let mut label = format!("Sample {}", s.name);
    match s.status {
        SampleStatus::Labeled if detect => {
            label.push_str(&format!(", labeled, {}", boxes_tag(s)));
        }
        SampleStatus::Labeled => {
            let names: Vec<&str> = s
                .classes
                .iter()
                .filter_map(|c| looks.get(c).map(|l| l.name.as_str()))
                .collect();
            label.push_str(&format!(", labeled {}", names.join(" + ")));
        }
        other => {
            label.push_str(", ");
            label.push_str(other.as_str());
        }
    }
    if s.flagged {
        label.push_str(", flagged");
    }
    label
}

fn parse_color(hex: &str) -> Color32 {
    let h = hex.trim_start_matches('#');
    if h.len() == 6
        && let Ok(v) = u32::from_str_radix(h, 16)
    {
        return Color32::from_rgb((v >> 16) as u8, (v >> 8) as u8, v as u8);
    }
    Color32::GRAY
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
