//! The drawing view: the labeling view of a detect project. Its keys act on the
//! [`BoxEditor`]; the mouse draws, moves and resizes boxes on the image. Every change is
//! recorded at once through the session (a kill loses nothing), as one complete set of
//! boxes: one step of undo.

use egui::{Color32, CursorIcon, Pos2, Rect, Stroke, Vec2};

use super::box_editor::{BoxEditor, Edge, Edit, Gesture, Grip, Pick, Point};
use super::commands::{Action, Command};
use super::keymap::Keymap;
use super::labeling::saved_note;
use super::screen::ProjectScreen;
use super::session::Session;
use super::theme;
use crate::media::Turn;
use crate::project::BoundingBox;

/// How close to an edge, in screen points, the pointer takes hold of it.
const GRIP_POINTS: f32 = 6.0;

/// Puts the current image and this annotator's decision under the editor (a no-op when
/// they are what it shows already). `turn` is the image's, once it is decoded.
pub fn sync(editor: &mut BoxEditor, session: &Session, turn: Option<Turn>) {
    let Some(cur) = &session.current else {
        editor.clear();
        return;
    };
    let turn = turn.or_else(|| {
        editor
            .turn()
            .filter(|_| editor.sample() == Some(cur.sample.id))
    });
    let Some(turn) = turn else {
        editor.clear();
        return;
    };
    let (source, own) = match &cur.decision {
        Some(d) => (
            Some(d.event_uid.as_str()),
            d.boxes.as_deref().unwrap_or(&[]),
        ),
        None => (None, &[][..]),
    };
    editor.show(cur.sample.id, source, turn, own, &cur.suggested_boxes);
}

/// Carries out an action of the drawing view; returns a message for the user.
pub fn apply(
    p: &mut ProjectScreen,
    action: Action,
    keymap: &Keymap,
) -> anyhow::Result<Option<String>> {
    let ProjectScreen { session, boxes, .. } = p;
    let Some(editor) = boxes.as_mut() else {
        return Ok(None);
    };
    // Keys act on the image on screen only (never on one just left).
    sync(editor, session, None);
    let loaded = editor.sample().is_some();
    let save = |session: &mut Session, edit: Option<Edit>| -> anyhow::Result<()> {
        if let Some(edit) = edit {
            session.save_boxes(edit)?;
        }
        Ok(())
    };
    let message = match action {
        Action::Class(id) => {
            let edit = editor.class_key(id);
            save(session, edit)?;
            None
        }
        Action::Open(id) => saved_note(session.move_to(id)?, keymap),
        Action::Command(cmd) => match cmd {
            Command::BoxesDone => match editor.accept_selected() {
                Some(edit) => {
                    save(session, Some(edit))?;
                    None
                }
                None => match session.boxes_done()? {
                    Ok(()) => None,
                    Err(_) => Some(format!(
                        "Draw this image's boxes first, or press {} if it shows no objects \
                         ({} skips it)",
                        keymap.label(Command::NoObjects),
                        keymap.label(Command::Skip)
                    )),
                },
            },
            Command::BoxNext | Command::BoxPrevious => {
                let forward = cmd == Command::BoxNext;
                (loaded && !editor.cycle(forward)).then(|| "This image has no boxes yet".into())
            }
            Command::BoxLeft | Command::BoxRight => {
                let dx = if cmd == Command::BoxLeft { -1.0 } else { 1.0 };
                match editor.nudge(dx, 0.0) {
                    Some(edit) => {
                        save(session, edit)?;
                        None
                    }
                    // Nothing selected: the arrows go through the images.
                    None if dx < 0.0 => saved_note(session.go_previous()?, keymap),
                    None => saved_note(session.go_next()?, keymap),
                }
            }
            Command::BoxUp
            | Command::BoxDown
            | Command::BoxLeftFast
            | Command::BoxRightFast
            | Command::BoxUpFast
            | Command::BoxDownFast => {
                let (dx, dy) = match cmd {
                    Command::BoxUp => (0.0, -1.0),
                    Command::BoxDown => (0.0, 1.0),
                    Command::BoxLeftFast => (-10.0, 0.0),
                    Command::BoxRightFast => (10.0, 0.0),
                    Command::BoxUpFast => (0.0, -10.0),
                    _ => (0.0, 10.0),
                };
                match editor.nudge(dx, dy) {
                    Some(edit) => {
                        save(session, edit)?;
                        None
                    }
                    None => loaded.then(|| select_first(keymap)),
                }
            }
            Command::EdgeLeft | Command::EdgeRight | Command::EdgeUp | Command::EdgeDown => {
                let (horizontal, delta) = match cmd {
                    Command::EdgeLeft => (true, -1.0),
                    Command::EdgeRight => (true, 1.0),
                    Command::EdgeUp => (false, -1.0),
                    _ => (false, 1.0),
                };
                match editor.nudge_edge(horizontal, delta, editor.pointer) {
                    Some(edit) => {
                        save(session, edit)?;
                        None
                    }
                    None => loaded.then(|| select_first(keymap)),
                }
            }
            Command::BoxDelete => {
                if editor.selected().is_none() {
                    loaded.then(|| select_first(keymap))
                } else {
                    let edit = editor.delete();
                    save(session, edit)?;
                    None
                }
            }
            Command::BoxDeselect => {
                editor.deselect();
                None
            }
            Command::CopyPreviousBoxes if loaded => match session.previous_boxes()? {
                None => Some("The previous image has no boxes of yours to copy".into()),
                Some((from, turn)) => match editor.paste(&from, turn) {
                    Some(edit) => {
                        let n = edit.boxes.len();
                        save(session, Some(edit))?;
                        Some(format!(
                            "Copied the previous image's boxes: {} here now",
                            crate::plural(n as u64, "box", "boxes")
                        ))
                    }
                    None => Some("This image has the previous image's boxes already".into()),
                },
            },
            // The whole decision in one key: it is saved and the next image shown, as a
            // class key does in a classification project.
            Command::NoObjects if loaded => {
                let had = editor.boxes().len();
                let name = session.current.as_ref().map(|c| c.sample.name.clone());
                let edit = editor.no_objects();
                save(session, edit)?;
                let _ = session.boxes_done()?;
                let name = name.unwrap_or_default();
                Some(match had {
                    0 => format!("{name}: no objects"),
                    n => format!(
                        "{name}: no objects ({} removed; {} undoes)",
                        crate::plural(n as u64, "box", "boxes"),
                        keymap.label(Command::Undo)
                    ),
                })
            }
            Command::ToggleBoxes => {
                editor.hidden = !editor.hidden;
                let key = keymap.label(Command::ToggleBoxes);
                Some(if editor.hidden {
                    format!("Boxes hidden ({key} shows them)")
                } else {
                    format!("Boxes shown ({key} hides them)")
                })
            }
            Command::AcceptSuggestion if loaded => {
                let threshold = session.project.settings()?.suggestion_threshold;
                match editor.accept_all(threshold) {
                    Some(edit) => {
                        save(session, Some(edit))?;
                        None
                    }
                    None => Some(format!(
                        "No suggestion on this image is scored {threshold:.2} or more"
                    )),
                }
            }
            // Undo, redo, skip, flag, zoom and moving through the images work as in the
            // labeling view.
            _ => return super::labeling::apply(p, action, keymap),
        },
    };
    Ok(message)
}

fn select_first(keymap: &Keymap) -> String {
    format!(
        "Select a box first: click it, or {}",
        keymap.label(Command::BoxNext)
    )
}

/// Maps between the screen and the image as seen (upright pixels).
#[derive(Clone, Copy)]
struct Frame {
    rect: Rect,
    /// Screen points per image pixel.
    scale: f32,
}

impl Frame {
    fn to_image(self, p: Pos2) -> Point {
        let v = (p - self.rect.min) / self.scale;
        [f64::from(v.x), f64::from(v.y)]
    }

    fn to_screen(self, p: Point) -> Pos2 {
        self.rect.min + Vec2::new(p[0] as f32, p[1] as f32) * self.scale
    }

    fn rect_of(self, b: &BoundingBox) -> Rect {
        Rect::from_min_max(
            self.to_screen([b.x, b.y]),
            self.to_screen([b.x + b.w, b.y + b.h]),
        )
    }
}

/// Where the image is on screen.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    /// The view the image is shown in (boxes are clipped to it).
    pub clip: Rect,
    /// The image itself, zoomed and panned (may reach beyond `clip`).
    pub image: Rect,
    /// How the stored pixels are turned to be seen upright.
    pub turn: Turn,
}

/// Handles the pointer on the image and paints the boxes over it. `response` is the
/// view's (click and drag): a primary drag draws, moves or resizes; the caller pans on
/// the other buttons. Changes go to the editor's outbox, what to tell the user to its
/// note.
pub fn layer(
    ui: &egui::Ui,
    response: &egui::Response,
    placed: Placed,
    editor: &mut BoxEditor,
    session: &Session,
    keymap: &Keymap,
) {
    sync(editor, session, Some(placed.turn));
    interact(ui, response, placed, editor, session, keymap);
}

/// [`layer`] for an editor that something else keeps loaded (the reviewer's edit of a
/// set of boxes).
pub fn interact(
    ui: &egui::Ui,
    response: &egui::Response,
    placed: Placed,
    editor: &mut BoxEditor,
    session: &Session,
    keymap: &Keymap,
) {
    let Placed {
        clip,
        image: img_rect,
        ..
    } = placed;
    let Some([w, _]) = editor.size() else {
        return;
    };
    let frame = Frame {
        rect: img_rect,
        scale: img_rect.width() / w as f32,
    };
    let tolerance = f64::from(GRIP_POINTS / frame.scale);
    let pointer = response.hover_pos().or(response.interact_pointer_pos());
    editor.pointer = pointer.map(|p| frame.to_image(p));
    let no_class = || {
        format!(
            "Press a class key first ({}): it chooses the class of the boxes you draw",
            session
                .classes
                .first()
                .and_then(super::keymap::class_shortcut)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "1".into())
        )
    };
    let primary = egui::PointerButton::Primary;
    if response.drag_started_by(primary) {
        let origin = ui.input(|i| i.pointer.press_origin()).or(pointer);
        if let Some(origin) = origin
            && editor
                .drag_start(frame.to_image(origin), tolerance)
                .is_err()
        {
            editor.note = Some(no_class());
        }
    }
    if response.dragged_by(primary)
        && let Some(p) = pointer
    {
        editor.drag_to(frame.to_image(p));
    }
    if response.drag_stopped_by(primary)
        && let Some(edit) = editor.drag_end()
    {
        editor.outbox.push(edit);
    }
    if response.clicked_by(primary)
        && let Some(p) = pointer
    {
        match editor.click(frame.to_image(p), tolerance) {
            Ok(edit) => editor.outbox.extend(edit),
            Err(_) => editor.note = Some(no_class()),
        }
    }
    // The pointer's shape says what a press would do.
    if let Some(p) = pointer.filter(|p| img_rect.expand(GRIP_POINTS).contains(*p)) {
        let grip = match editor.gesture() {
            Some(Gesture::Holding { grip, .. }) => Some(*grip),
            Some(Gesture::Drawing { .. }) => None,
            None => editor.hit(frame.to_image(p), tolerance).map(|(_, g)| g),
        };
        ui.ctx().set_cursor_icon(match grip {
            Some(g) => cursor_for(g),
            None => CursorIcon::Crosshair,
        });
    }
    paint(ui, editor, session, frame, clip, pointer, keymap);
}

/// One set of boxes drawn for comparison (an annotator's, in the review view): in the
/// stored frame, outlined in `color`, each tagged with its class and `who`.
pub struct Overlay<'a> {
    pub boxes: &'a [BoundingBox],
    pub color: Color32,
    pub who: &'a str,
    /// Tags under the boxes' bottom-left corners instead of over the top-left ones (so
    /// that two annotators' tags on one object do not cover each other).
    pub tag_below: bool,
}

/// Paints `sets` over the image placed at `placed`, read-only.
pub fn overlays(ui: &egui::Ui, placed: Placed, sets: &[Overlay<'_>], session: &Session) {
    let [uw, _] = placed.turn.upright_size();
    if uw == 0 {
        return;
    }
    let frame = Frame {
        rect: placed.image,
        scale: placed.image.width() / uw as f32,
    };
    let painter = ui.painter().with_clip_rect(placed.clip);
    for set in sets {
        for b in set.boxes {
            let [x, y, w, h] = placed.turn.rect_to_upright([b.x, b.y, b.w, b.h]);
            let r = frame.rect_of(&BoundingBox { x, y, w, h, ..*b });
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(3.5, Color32::from_black_alpha(140)),
                egui::StrokeKind::Middle,
            );
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(2.0, set.color),
                egui::StrokeKind::Middle,
            );
            let (_, name) = class_color(session, b);
            let text = format!("{name} · {}", set.who);
            if set.tag_below {
                tag_under(&painter, r.left_bottom(), text, set.color);
            } else {
                tag(&painter, r.left_top(), text, set.color, placed.clip);
            }
        }
    }
}

fn cursor_for(g: Grip) -> CursorIcon {
    match (g.x, g.y) {
        (None, None) => CursorIcon::Move,
        (Some(_), None) => CursorIcon::ResizeHorizontal,
        (None, Some(_)) => CursorIcon::ResizeVertical,
        (Some(Edge::Min), Some(Edge::Min)) | (Some(Edge::Max), Some(Edge::Max)) => {
            CursorIcon::ResizeNwSe
        }
        _ => CursorIcon::ResizeNeSw,
    }
}

fn class_color(session: &Session, b: &BoundingBox) -> (Color32, String) {
    match session.class(b.class) {
        Some(c) => (theme::parse_color(&c.color), c.name.clone()),
        None => (theme::MUTED, format!("#{}", b.class)),
    }
}

/// A class name on a small filled tag above the box's top-left corner (inside it when the
/// box touches the top of the view).
fn tag(painter: &egui::Painter, at: Pos2, text: String, color: Color32, clip: Rect) {
    let font = egui::FontId::proportional(12.0);
    let galley = painter.layout_no_wrap(text, font, Color32::BLACK);
    let size = galley.size() + Vec2::new(6.0, 2.0);
    let mut min = at - Vec2::new(0.0, size.y);
    if min.y < clip.top() {
        min.y = at.y;
    }
    let r = Rect::from_min_size(min, size);
    painter.rect_filled(r, 2.0, color);
    painter.galley(r.min + Vec2::new(3.0, 1.0), galley, Color32::BLACK);
}

/// [`tag`] hanging under `at`.
fn tag_under(painter: &egui::Painter, at: Pos2, text: String, color: Color32) {
    let font = egui::FontId::proportional(12.0);
    let galley = painter.layout_no_wrap(text, font, Color32::BLACK);
    let r = Rect::from_min_size(at, galley.size() + Vec2::new(6.0, 2.0));
    painter.rect_filled(r, 2.0, color);
    painter.galley(r.min + Vec2::new(3.0, 1.0), galley, Color32::BLACK);
}

fn paint(
    ui: &egui::Ui,
    editor: &BoxEditor,
    session: &Session,
    frame: Frame,
    clip: Rect,
    pointer: Option<Pos2>,
    keymap: &Keymap,
) {
    let painter = ui.painter().with_clip_rect(clip);
    let selected = editor.selected();
    if !editor.hidden {
        for (i, g) in editor.suggestions() {
            let (color, name) = class_color(session, &g);
            let r = frame.rect_of(&g);
            let on = selected == Some(Pick::Suggestion(i));
            let stroke = Stroke::new(if on { 3.0 } else { 1.5 }, color);
            let corners = [
                r.left_top(),
                r.right_top(),
                r.right_bottom(),
                r.left_bottom(),
            ];
            let outline: Vec<Pos2> = corners.iter().chain(&corners[..1]).copied().collect();
            painter.extend(egui::Shape::dashed_line(&outline, stroke, 6.0, 4.0));
            let score = g.score.map(|s| format!(" {s:.2}")).unwrap_or_default();
            tag(
                &painter,
                r.left_top(),
                format!("{name}?{score}"),
                color.gamma_multiply(0.8),
                clip,
            );
        }
        for (i, b) in editor.boxes().iter().enumerate() {
            let (color, name) = class_color(session, b);
            let r = frame.rect_of(b);
            let on = selected == Some(Pick::Box(i));
            if on {
                painter.rect_filled(r, 0.0, color.gamma_multiply(0.18));
            }
            // A dark rim under the colour keeps every box visible on any image.
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(if on { 4.5 } else { 3.5 }, Color32::from_black_alpha(140)),
                egui::StrokeKind::Middle,
            );
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(if on { 2.5 } else { 1.5 }, color),
                egui::StrokeKind::Middle,
            );
            if on {
                for c in [
                    r.left_top(),
                    r.right_top(),
                    r.right_bottom(),
                    r.left_bottom(),
                ] {
                    let h = Rect::from_center_size(c, Vec2::splat(7.0));
                    painter.rect_filled(h, 1.0, color);
                    painter.rect_stroke(
                        h,
                        1.0,
                        Stroke::new(1.0, Color32::BLACK),
                        egui::StrokeKind::Outside,
                    );
                }
            }
            tag(&painter, r.left_top(), name, color, clip);
        }
    }
    let class_color_now = editor
        .class
        .and_then(|c| session.class(c))
        .map(|c| theme::parse_color(&c.color))
        .unwrap_or(theme::ACCENT);
    match editor.gesture() {
        Some(Gesture::Drawing { from, to }) => {
            let r = Rect::from_two_pos(frame.to_screen(*from), frame.to_screen(*to));
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(2.0, class_color_now),
                egui::StrokeKind::Middle,
            );
        }
        _ => {
            if let (Some(c), Some(p)) = (editor.corner(), pointer) {
                let r = Rect::from_two_pos(frame.to_screen(c), p);
                let outline = [
                    r.left_top(),
                    r.right_top(),
                    r.right_bottom(),
                    r.left_bottom(),
                    r.left_top(),
                ];
                painter.extend(egui::Shape::dashed_line(
                    &outline,
                    Stroke::new(1.5, class_color_now),
                    4.0,
                    4.0,
                ));
            }
        }
    }
    // Crosshair lines across the whole image, where the pointer is.
    if let Some(p) = pointer
        && frame.rect.contains(p)
        && !matches!(editor.gesture(), Some(Gesture::Holding { .. }))
    {
        let r = frame.rect.intersect(clip);
        for (a, b) in [
            (Pos2::new(r.left(), p.y), Pos2::new(r.right(), p.y)),
            (Pos2::new(p.x, r.top()), Pos2::new(p.x, r.bottom())),
        ] {
            painter.line_segment([a, b], Stroke::new(3.0, Color32::from_black_alpha(110)));
            painter.line_segment([a, b], Stroke::new(1.0, class_color_now));
        }
    }
    if editor.hidden {
        painter.text(
            clip.left_bottom() + Vec2::new(10.0, -8.0),
            egui::Align2::LEFT_BOTTOM,
            format!(
                "Boxes hidden ({} shows them)",
                keymap.label(Command::ToggleBoxes)
            ),
            egui::FontId::proportional(13.0),
            theme::WARN,
        );
    }
}
