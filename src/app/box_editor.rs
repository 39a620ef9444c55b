//! The box editor of a detect project: the boxes of the image on screen, which one is
//! selected, and the gesture under way (drawing, moving, resizing).
//!
//! No egui here. Coordinates are pixels of the image as the annotator sees it (upright,
//! as its EXIF orientation says); the editor turns them into the stored frame, through
//! [`Turn`], only where a set of boxes leaves it as an [`Edit`] to record. Each edit is
//! one complete set of boxes: the decision the event log keeps, and one step of undo.

use crate::media::Turn;
use crate::project::{BoundingBox, ClassId, SampleId};

/// A point of the upright image, in pixels.
pub type Point = [f64; 2];

/// A suggestion is hidden when a box of its class covers it this closely (it was accepted,
/// or drawn again by hand).
const COVERED_IOU: f64 = 0.9;

/// A change to record: the complete set of boxes of `sample`, in the stored frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub sample: SampleId,
    pub boxes: Vec<BoundingBox>,
}

/// What is selected: one of the annotator's boxes, or a model's suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Box(usize),
    Suggestion(usize),
}

/// Which edge of a box along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Min,
    Max,
}

/// The part of a box the pointer holds: an edge on either axis (a corner holds two), or
/// neither (the inside, to move it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grip {
    pub x: Option<Edge>,
    pub y: Option<Edge>,
}

impl Grip {
    pub fn is_inside(&self) -> bool {
        self.x.is_none() && self.y.is_none()
    }
}

/// What a drag does, decided where it starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Gesture {
    /// A new box from `from` to the pointer.
    Drawing { from: Point, to: Point },
    /// Box `index` held by `grip` (inside: moved; edges: resized), from its shape at the
    /// start, where the pointer was then.
    Holding {
        index: usize,
        grip: Grip,
        start: BoundingBox,
        from: Point,
    },
}

/// The image on screen and what the annotator is doing to it.
#[derive(Clone, Debug)]
struct Shown {
    sample: SampleId,
    /// The decision the boxes were read from (its event's uid; `None`: undecided): a new
    /// decision (this editor's, an undo, a review) reloads them.
    source: Option<String>,
    turn: Turn,
    boxes: Vec<BoundingBox>,
    suggestions: Vec<BoundingBox>,
    /// Suggestions the annotator put away with Delete (indexes into `suggestions`).
    dismissed: Vec<usize>,
    selected: Option<Pick>,
    gesture: Option<Gesture>,
    /// The first corner of a box drawn with two clicks.
    corner: Option<Point>,
}

/// The editor. The class and the hidden switch outlive images; the rest belongs to the
/// image shown.
#[derive(Clone, Debug, Default)]
pub struct BoxEditor {
    /// The class new boxes get: sticky, for every box and image until another class key.
    pub class: Option<ClassId>,
    /// Boxes hidden (to see the image itself).
    pub hidden: bool,
    /// Where the pointer is over the image (for the edge keys), set by the view.
    pub pointer: Option<Point>,
    /// Changes the mouse made in the last frame, for the window to record.
    pub outbox: Vec<Edit>,
    /// What to tell the user about the last frame's mouse work.
    pub note: Option<String>,
    shown: Option<Shown>,
}

impl BoxEditor {
    /// An editor drawing boxes of `class` until another class key.
    pub fn new(class: Option<ClassId>) -> BoxEditor {
        BoxEditor {
            class,
            ..Default::default()
        }
    }

    /// Puts image `sample` under the editor, with the annotator's decision (`source` is
    /// its event, `own` its boxes) and the model's suggestions, all in the stored frame.
    /// Nothing happens when that decision is the one shown already, so it can be called
    /// every frame; the selection survives a reload of the same image.
    pub fn show(
        &mut self,
        sample: SampleId,
        source: Option<&str>,
        turn: Turn,
        own: &[BoundingBox],
        suggested: &[BoundingBox],
    ) {
        if let Some(s) = &self.shown
            && s.sample == sample
            && s.source.as_deref() == source
            && s.turn == turn
        {
            return;
        }
        let same = self.shown.as_ref().filter(|s| s.sample == sample);
        let upright = |b: &BoundingBox| {
            let [x, y, w, h] = turn.rect_to_upright([b.x, b.y, b.w, b.h]);
            BoundingBox { x, y, w, h, ..*b }
        };
        let boxes: Vec<BoundingBox> = own.iter().map(upright).collect();
        let selected = same.and_then(|s| s.selected).filter(|p| match p {
            Pick::Box(i) => *i < boxes.len(),
            Pick::Suggestion(_) => false,
        });
        let dismissed = same.map(|s| s.dismissed.clone()).unwrap_or_default();
        let corner = same.and_then(|s| s.corner);
        self.shown = Some(Shown {
            sample,
            source: source.map(str::to_string),
            turn,
            boxes,
            suggestions: suggested.iter().map(upright).collect(),
            dismissed,
            selected,
            gesture: None,
            corner,
        });
    }

    /// Forgets the image (another view took over, or it could not be decoded).
    pub fn clear(&mut self) {
        self.shown = None;
    }

    pub fn sample(&self) -> Option<SampleId> {
        self.shown.as_ref().map(|s| s.sample)
    }

    /// The annotator's boxes as they look now (upright; mid-gesture included).
    pub fn boxes(&self) -> &[BoundingBox] {
        self.shown
            .as_ref()
            .map(|s| s.boxes.as_slice())
            .unwrap_or(&[])
    }

    /// The suggestions still offered, with their indexes: not dismissed, and not covered
    /// by a box of the same class.
    pub fn suggestions(&self) -> Vec<(usize, BoundingBox)> {
        let Some(s) = &self.shown else {
            return Vec::new();
        };
        s.suggestions
            .iter()
            .enumerate()
            .filter(|(i, g)| {
                !s.dismissed.contains(i)
                    && !s
                        .boxes
                        .iter()
                        .any(|b| b.class == g.class && b.iou(g) >= COVERED_IOU)
            })
            .map(|(i, g)| (i, *g))
            .collect()
    }

    pub fn selected(&self) -> Option<Pick> {
        self.shown.as_ref().and_then(|s| s.selected)
    }

    pub fn gesture(&self) -> Option<&Gesture> {
        self.shown.as_ref().and_then(|s| s.gesture.as_ref())
    }

    /// The first corner of a two-click box, once clicked.
    pub fn corner(&self) -> Option<Point> {
        self.shown.as_ref().and_then(|s| s.corner)
    }

    /// The size of the image as seen.
    pub fn size(&self) -> Option<[f64; 2]> {
        let s = self.shown.as_ref()?;
        let [w, h] = s.turn.upright_size();
        Some([f64::from(w), f64::from(h)])
    }

    /// The current set in the stored frame, as an edit to record.
    pub fn edit(&self) -> Option<Edit> {
        let s = self.shown.as_ref()?;
        Some(Edit {
            sample: s.sample,
            boxes: s
                .boxes
                .iter()
                .map(|b| {
                    let [x, y, w, h] = s.turn.rect_to_stored([b.x, b.y, b.w, b.h]);
                    BoundingBox { x, y, w, h, ..*b }
                })
                .collect(),
        })
    }

    /// Where a pointer at `p` would take hold: the selected box first, then the others
    /// from the top (the last drawn), within `tolerance` pixels of an edge.
    pub fn hit(&self, p: Point, tolerance: f64) -> Option<(usize, Grip)> {
        let s = self.shown.as_ref()?;
        let order = s
            .selected
            .and_then(|p| match p {
                Pick::Box(i) => Some(i),
                Pick::Suggestion(_) => None,
            })
            .into_iter()
            .chain((0..s.boxes.len()).rev());
        let mut inside = None;
        for i in order {
            let b = &s.boxes[i];
            let near = |v: f64, lo: f64, hi: f64| v >= lo - tolerance && v <= hi + tolerance;
            if !near(p[0], b.x, b.x + b.w) || !near(p[1], b.y, b.y + b.h) {
                continue;
            }
            let edge = |v: f64, lo: f64, hi: f64| {
                let (dl, dh) = ((v - lo).abs(), (v - hi).abs());
                if dl <= tolerance && dl <= dh {
                    Some(Edge::Min)
                } else if dh <= tolerance {
                    Some(Edge::Max)
                } else {
                    None
                }
            };
            let grip = Grip {
                x: edge(p[0], b.x, b.x + b.w),
                y: edge(p[1], b.y, b.y + b.h),
            };
            if !grip.is_inside() {
                return Some((i, grip));
            }
            inside.get_or_insert((i, grip));
        }
        inside
    }

    /// The suggestion under `p`, if any (the smallest, so that nested ones can be picked).
    pub fn suggestion_at(&self, p: Point) -> Option<usize> {
        self.suggestions()
            .into_iter()
            .filter(|(_, g)| p[0] >= g.x && p[0] <= g.x + g.w && p[1] >= g.y && p[1] <= g.y + g.h)
            .min_by(|a, b| a.1.area().total_cmp(&b.1.area()))
            .map(|(i, _)| i)
    }

    /// A drag starts at `p`: an edge or corner resizes, the inside moves, elsewhere a new
    /// box is drawn. `Err` says why nothing can be drawn (no class chosen yet).
    pub fn drag_start(&mut self, p: Point, tolerance: f64) -> Result<(), &'static str> {
        let hit = self.hit(p, tolerance);
        let class = self.class;
        let Some(s) = self.shown.as_mut() else {
            return Ok(());
        };
        s.corner = None;
        match hit {
            Some((index, grip)) => {
                s.selected = Some(Pick::Box(index));
                s.gesture = Some(Gesture::Holding {
                    index,
                    grip,
                    start: s.boxes[index],
                    from: p,
                });
            }
            None if class.is_none() => return Err("no class"),
            None => {
                let p = clamp_point(p, s.turn);
                s.gesture = Some(Gesture::Drawing { from: p, to: p });
            }
        }
        Ok(())
    }

    /// The pointer moved to `p` during a drag: the box follows (nothing is recorded yet).
    pub fn drag_to(&mut self, p: Point) {
        let Some(s) = self.shown.as_mut() else {
            return;
        };
        let [w, h] = s.turn.upright_size().map(f64::from);
        match &mut s.gesture {
            Some(Gesture::Drawing { to, .. }) => *to = clamp_point(p, s.turn),
            Some(Gesture::Holding {
                index,
                grip,
                start,
                from,
            }) => {
                let (dx, dy) = (p[0] - from[0], p[1] - from[1]);
                let b = if grip.is_inside() {
                    let x = (start.x + dx).round().clamp(0.0, (w - start.w).max(0.0));
                    let y = (start.y + dy).round().clamp(0.0, (h - start.h).max(0.0));
                    BoundingBox { x, y, ..*start }
                } else {
                    let (x0, x1) = resize(start.x, start.w, grip.x, dx, w);
                    let (y0, y1) = resize(start.y, start.h, grip.y, dy, h);
                    BoundingBox {
                        x: x0,
                        y: y0,
                        w: x1 - x0,
                        h: y1 - y0,
                        ..*start
                    }
                };
                s.boxes[*index] = b;
            }
            None => {}
        }
    }

    /// The drag ended: the new or changed box is an edit (a box with no area is dropped,
    /// and a box put back where it was is no change).
    pub fn drag_end(&mut self) -> Option<Edit> {
        let class = self.class;
        let s = self.shown.as_mut()?;
        match s.gesture.take()? {
            Gesture::Drawing { from, to } => {
                let b = snapped(class?, from, to);
                if b.w < 1.0 || b.h < 1.0 {
                    return None;
                }
                s.boxes.push(b);
                s.selected = Some(Pick::Box(s.boxes.len() - 1));
            }
            Gesture::Holding { index, start, .. } => {
                if s.boxes[index] == start {
                    return None;
                }
            }
        }
        self.edit()
    }

    /// A click at `p` (no drag): on a suggestion, accepts it; on a box, selects it;
    /// elsewhere the first click of a two-click box, or its second. `Err` as in
    /// [`BoxEditor::drag_start`].
    pub fn click(&mut self, p: Point, tolerance: f64) -> Result<Option<Edit>, &'static str> {
        if let Some(i) = self.suggestion_at(p)
            && self.hit(p, tolerance).is_none()
        {
            return Ok(self.accept_suggestion(i));
        }
        let hit = self.hit(p, tolerance);
        let class = self.class;
        let Some(s) = self.shown.as_mut() else {
            return Ok(None);
        };
        if let Some((i, _)) = hit
            && s.corner.is_none()
        {
            s.selected = Some(Pick::Box(i));
            return Ok(None);
        }
        let Some(class) = class else {
            return Err("no class");
        };
        let p = clamp_point(p, s.turn);
        match s.corner.take() {
            None => {
                s.corner = Some(p);
                s.selected = None;
                Ok(None)
            }
            Some(first) => {
                let b = snapped(class, first, p);
                if b.w < 1.0 || b.h < 1.0 {
                    return Ok(None);
                }
                s.boxes.push(b);
                s.selected = Some(Pick::Box(s.boxes.len() - 1));
                Ok(self.edit())
            }
        }
    }

    /// A class key: changes the selected box's class (an edit), or makes it the class of
    /// the next boxes.
    pub fn class_key(&mut self, class: ClassId) -> Option<Edit> {
        if let Some(s) = self.shown.as_mut()
            && let Some(Pick::Box(i)) = s.selected
        {
            if s.boxes[i].class == class {
                return None;
            }
            s.boxes[i].class = class;
            return self.edit();
        }
        self.class = Some(class);
        None
    }

    /// Selects the next box (`forward`) or the previous one; suggestions come after the
    /// boxes. Returns whether anything is selected.
    pub fn cycle(&mut self, forward: bool) -> bool {
        let offered: Vec<usize> = self.suggestions().into_iter().map(|(i, _)| i).collect();
        let Some(s) = self.shown.as_mut() else {
            return false;
        };
        let picks: Vec<Pick> = (0..s.boxes.len())
            .map(Pick::Box)
            .chain(offered.into_iter().map(Pick::Suggestion))
            .collect();
        if picks.is_empty() {
            s.selected = None;
            return false;
        }
        let n = picks.len();
        let at = s.selected.and_then(|p| picks.iter().position(|q| *q == p));
        let next = match (at, forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        s.selected = Some(picks[next]);
        true
    }

    /// Clears the selection and a half-drawn box; `false` when there was neither.
    pub fn deselect(&mut self) -> bool {
        let Some(s) = self.shown.as_mut() else {
            return false;
        };
        let had = s.selected.is_some() || s.corner.is_some() || s.gesture.is_some();
        s.selected = None;
        s.corner = None;
        if let Some(Gesture::Holding { index, start, .. }) = s.gesture.take() {
            s.boxes[index] = start;
        }
        had
    }

    /// Moves the selected box by whole pixels, kept inside the image. `None`: no box is
    /// selected (the caller may then use the key for something else).
    pub fn nudge(&mut self, dx: f64, dy: f64) -> Option<Option<Edit>> {
        let s = self.shown.as_mut()?;
        let Some(Pick::Box(i)) = s.selected else {
            return None;
        };
        let [w, h] = s.turn.upright_size().map(f64::from);
        let b = &mut s.boxes[i];
        let before = *b;
        b.x = (b.x + dx).clamp(0.0, (w - b.w).max(0.0));
        b.y = (b.y + dy).clamp(0.0, (h - b.h).max(0.0));
        Some((*b != before).then(|| self.edit()).flatten())
    }

    /// Moves one edge of the selected box by `delta` pixels along the x (`horizontal`) or
    /// y axis: the edge nearest `pointer` when it is given, else the right or bottom one.
    /// The box keeps at least one pixel.
    pub fn nudge_edge(
        &mut self,
        horizontal: bool,
        delta: f64,
        pointer: Option<Point>,
    ) -> Option<Option<Edit>> {
        let s = self.shown.as_mut()?;
        let Some(Pick::Box(i)) = s.selected else {
            return None;
        };
        let [w, h] = s.turn.upright_size().map(f64::from);
        let b = &mut s.boxes[i];
        let before = *b;
        let (lo, len, limit, at) = if horizontal {
            (&mut b.x, &mut b.w, w, pointer.map(|p| p[0]))
        } else {
            (&mut b.y, &mut b.h, h, pointer.map(|p| p[1]))
        };
        let near_min = at.is_some_and(|v| (v - *lo).abs() < (v - (*lo + *len)).abs());
        if near_min {
            let hi = *lo + *len;
            *lo = (*lo + delta).clamp(0.0, hi - 1.0);
            *len = hi - *lo;
        } else {
            *len = (*len + delta).clamp(1.0, limit - *lo);
        }
        Some((*b != before).then(|| self.edit()).flatten())
    }

    /// Deletes the selected box (an edit), or puts the selected suggestion away.
    pub fn delete(&mut self) -> Option<Edit> {
        let s = self.shown.as_mut()?;
        match s.selected.take()? {
            Pick::Box(i) => {
                s.boxes.remove(i);
                if !s.boxes.is_empty() {
                    s.selected = Some(Pick::Box(i.min(s.boxes.len() - 1)));
                }
                self.edit()
            }
            Pick::Suggestion(i) => {
                s.dismissed.push(i);
                None
            }
        }
    }

    /// "No objects here": every box goes (an edit, also when there were none: the empty
    /// set is the decision).
    pub fn no_objects(&mut self) -> Option<Edit> {
        let s = self.shown.as_mut()?;
        s.boxes.clear();
        s.selected = None;
        s.corner = None;
        s.gesture = None;
        self.edit()
    }

    /// Adds suggestion `i` as a box of the annotator's (its score dropped: a person
    /// decided it).
    pub fn accept_suggestion(&mut self, i: usize) -> Option<Edit> {
        let s = self.shown.as_mut()?;
        let g = *s.suggestions.get(i)?;
        s.boxes.push(BoundingBox { score: None, ..g });
        s.selected = Some(Pick::Box(s.boxes.len() - 1));
        self.edit()
    }

    /// Accepts the selected suggestion; `None` when no suggestion is selected.
    pub fn accept_selected(&mut self) -> Option<Edit> {
        match self.selected()? {
            Pick::Suggestion(i) => self.accept_suggestion(i),
            Pick::Box(_) => None,
        }
    }

    /// Accepts every offered suggestion scored at or above `threshold` (an unscored one
    /// counts as sure). `None` when there is none.
    pub fn accept_all(&mut self, threshold: f64) -> Option<Edit> {
        let take: Vec<BoundingBox> = self
            .suggestions()
            .into_iter()
            .filter(|(_, g)| g.score.is_none_or(|s| s >= threshold))
            .map(|(_, g)| BoundingBox { score: None, ..g })
            .collect();
        if take.is_empty() {
            return None;
        }
        let s = self.shown.as_mut()?;
        s.boxes.extend(take);
        s.selected = None;
        self.edit()
    }

    /// Adds `boxes` (another image's, in its stored frame of the same size and turn) to
    /// this image, clipped to it; boxes this image already holds are not added twice.
    /// `None` when nothing was added.
    pub fn paste(&mut self, boxes: &[BoundingBox], from: Turn) -> Option<Edit> {
        let s = self.shown.as_mut()?;
        let [w, h] = s.turn.upright_size().map(f64::from);
        let mut added = 0;
        for b in boxes {
            let [x, y, bw, bh] = from.rect_to_upright([b.x, b.y, b.w, b.h]);
            let (x0, y0) = (x.clamp(0.0, w), y.clamp(0.0, h));
            let (x1, y1) = ((x + bw).clamp(0.0, w), (y + bh).clamp(0.0, h));
            let nb = BoundingBox {
                x: x0,
                y: y0,
                w: x1 - x0,
                h: y1 - y0,
                score: None,
                ..*b
            };
            if nb.w <= 0.0 || nb.h <= 0.0 {
                continue;
            }
            if s.boxes
                .iter()
                .any(|o| o.class == nb.class && o.iou(&nb) >= 0.95)
            {
                continue;
            }
            s.boxes.push(nb);
            added += 1;
        }
        if added == 0 {
            return None;
        }
        s.selected = None;
        self.edit()
    }

    /// The stored frame of the image shown.
    pub fn turn(&self) -> Option<Turn> {
        self.shown.as_ref().map(|s| s.turn)
    }
}

/// Keeps a point on the image.
fn clamp_point(p: Point, turn: Turn) -> Point {
    let [w, h] = turn.upright_size().map(f64::from);
    [p[0].clamp(0.0, w), p[1].clamp(0.0, h)]
}

/// The box with corners `a` and `b`, its edges on whole pixels.
fn snapped(class: ClassId, a: Point, b: Point) -> BoundingBox {
    let (x0, x1) = (a[0].min(b[0]).round(), a[0].max(b[0]).round());
    let (y0, y1) = (a[1].min(b[1]).round(), a[1].max(b[1]).round());
    BoundingBox::new(class, x0, y0, x1 - x0, y1 - y0)
}

/// One axis of a resize: the edge held moves by `d` (on whole pixels, inside `0..=limit`),
/// the other stays; dragged past it, the two trade places. Returns the new (min, max).
fn resize(lo: f64, len: f64, edge: Option<Edge>, d: f64, limit: f64) -> (f64, f64) {
    let hi = lo + len;
    let (a, b) = match edge {
        None => return (lo, hi),
        Some(Edge::Min) => ((lo + d).round().clamp(0.0, limit), hi),
        Some(Edge::Max) => (lo, (hi + d).round().clamp(0.0, limit)),
    };
    let (a, b) = (a.min(b), a.max(b));
    if b - a < 1.0 {
        // Never thinner than a pixel.
        match edge {
            Some(Edge::Min) => ((b - 1.0).max(0.0), b),
            _ => (a, (a + 1.0).min(limit)),
        }
    } else {
        (a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::metadata::Orientation;

    const CAR: ClassId = ClassId(1);
    const DOG: ClassId = ClassId(2);

    fn editor(turn: Turn, own: &[BoundingBox]) -> BoxEditor {
        let mut e = BoxEditor {
            class: Some(CAR),
            ..Default::default()
        };
        e.show(SampleId(7), None, turn, own, &[]);
        e
    }

    fn drag(e: &mut BoxEditor, from: Point, to: Point) -> Option<Edit> {
        e.drag_start(from, 3.0).unwrap();
        e.drag_to([(from[0] + to[0]) / 2.0, (from[1] + to[1]) / 2.0]);
        e.drag_to(to);
        e.drag_end()
    }

    #[test]
    fn a_drag_draws_a_box_on_whole_pixels_inside_the_image() {
        let mut e = editor(Turn::none([100, 80]), &[]);
        let edit = drag(&mut e, [10.4, 20.6], [-5.0, 90.0]).unwrap();
        assert_eq!(edit.sample, SampleId(7));
        assert_eq!(
            edit.boxes,
            vec![BoundingBox::new(CAR, 0.0, 21.0, 10.0, 59.0)]
        );
        assert_eq!(e.selected(), Some(Pick::Box(0)));
        // A drag of no area draws nothing.
        assert_eq!(drag(&mut e, [50.0, 50.0], [50.2, 70.0]), None);
        // Without a class, nothing can be drawn.
        let mut none = BoxEditor::default();
        none.show(SampleId(1), None, Turn::none([10, 10]), &[], &[]);
        assert!(none.drag_start([1.0, 1.0], 1.0).is_err());
    }

    #[test]
    fn two_clicks_draw_a_box_and_a_click_on_a_box_selects_it() {
        let mut e = editor(
            Turn::none([100, 80]),
            &[BoundingBox::new(DOG, 60.0, 10.0, 20.0, 20.0)],
        );
        assert_eq!(e.click([5.0, 5.0], 2.0), Ok(None));
        assert_eq!(e.corner(), Some([5.0, 5.0]));
        let edit = e.click([30.0, 40.0], 2.0).unwrap().unwrap();
        assert_eq!(edit.boxes[1], BoundingBox::new(CAR, 5.0, 5.0, 25.0, 35.0));
        assert_eq!(e.click([70.0, 20.0], 2.0), Ok(None));
        assert_eq!(e.selected(), Some(Pick::Box(0)));
    }

    #[test]
    fn edges_resize_the_inside_moves_and_keys_nudge() {
        let start = BoundingBox::new(CAR, 20.0, 20.0, 40.0, 30.0);
        let mut e = editor(Turn::none([100, 80]), &[start]);
        // The right edge, dragged 10 px right.
        let edit = drag(&mut e, [60.0, 35.0], [70.0, 36.0]).unwrap();
        assert_eq!(edit.boxes[0], BoundingBox::new(CAR, 20.0, 20.0, 50.0, 30.0));
        // The top-left corner, dragged up and left.
        let edit = drag(&mut e, [20.0, 20.0], [10.0, 5.0]).unwrap();
        assert_eq!(edit.boxes[0], BoundingBox::new(CAR, 10.0, 5.0, 60.0, 45.0));
        // The inside moves, kept on the image.
        let edit = drag(&mut e, [40.0, 30.0], [100.0, 30.0]).unwrap();
        assert_eq!(edit.boxes[0], BoundingBox::new(CAR, 40.0, 5.0, 60.0, 45.0));
        // Moved back where it was: no change to record.
        assert_eq!(drag(&mut e, [60.0, 30.0], [60.0, 30.0]), None);
        assert_eq!(
            e.nudge(-1.0, 10.0).unwrap().unwrap().boxes[0],
            BoundingBox::new(CAR, 39.0, 15.0, 60.0, 45.0)
        );
        // Against the image's edge, a nudge changes nothing.
        e.nudge(0.0, 100.0).unwrap();
        assert_eq!(e.nudge(0.0, 1.0), Some(None));
        // Alt+arrows: the edge nearest the pointer, else the right / bottom one.
        let edit = e
            .nudge_edge(true, -5.0, Some([41.0, 0.0]))
            .unwrap()
            .unwrap();
        assert_eq!(edit.boxes[0], BoundingBox::new(CAR, 34.0, 35.0, 65.0, 45.0));
        let edit = e.nudge_edge(false, -10.0, None).unwrap().unwrap();
        assert_eq!(edit.boxes[0], BoundingBox::new(CAR, 34.0, 35.0, 65.0, 35.0));
        e.deselect();
        assert_eq!(e.nudge(1.0, 0.0), None, "no box selected: the key is free");
    }

    #[test]
    fn class_keys_tab_delete_and_no_objects() {
        let a = BoundingBox::new(CAR, 0.0, 0.0, 10.0, 10.0);
        let b = BoundingBox::new(CAR, 20.0, 20.0, 10.0, 10.0);
        let mut e = editor(Turn::none([100, 80]), &[a, b]);
        // No selection: a class key makes the class sticky.
        assert_eq!(e.class_key(DOG), None);
        assert_eq!(e.class, Some(DOG));
        assert!(e.cycle(true));
        assert_eq!(e.selected(), Some(Pick::Box(0)));
        assert!(e.cycle(false));
        assert_eq!(e.selected(), Some(Pick::Box(1)));
        assert_eq!(e.class_key(CAR), None, "already a car: no edit");
        let edit = e.class_key(DOG).unwrap();
        assert_eq!(edit.boxes[1].class, DOG);
        let edit = e.delete().unwrap();
        assert_eq!(edit.boxes, vec![a]);
        assert_eq!(e.selected(), Some(Pick::Box(0)));
        assert_eq!(e.no_objects().unwrap().boxes, vec![]);
        // Empty and undecided: "no objects" is still a decision to record.
        let mut fresh = editor(Turn::none([10, 10]), &[]);
        assert_eq!(fresh.no_objects().unwrap().boxes, vec![]);
    }

    #[test]
    fn suggestions_are_accepted_by_score_one_by_one_or_put_away() {
        let sure = BoundingBox {
            score: Some(0.9),
            ..BoundingBox::new(CAR, 0.0, 0.0, 10.0, 10.0)
        };
        let unsure = BoundingBox {
            score: Some(0.3),
            ..BoundingBox::new(DOG, 50.0, 50.0, 10.0, 10.0)
        };
        let mut e = editor(Turn::none([100, 80]), &[]);
        e.show(
            SampleId(7),
            Some("s"),
            Turn::none([100, 80]),
            &[],
            &[sure, unsure],
        );
        let edit = e.accept_all(0.5).unwrap();
        assert_eq!(
            edit.boxes,
            vec![BoundingBox {
                score: None,
                ..sure
            }]
        );
        // The accepted one is no longer offered; the other is, and a click takes it.
        assert_eq!(e.suggestions().len(), 1);
        let edit = e.click([55.0, 55.0], 1.0).unwrap().unwrap();
        assert_eq!(edit.boxes.len(), 2);
        assert!(e.suggestions().is_empty());
        assert_eq!(e.accept_all(0.0), None);
        // Put away with Delete: no edit, no longer offered.
        e.show(
            SampleId(7),
            Some("t"),
            Turn::none([100, 80]),
            &[],
            &[unsure],
        );
        assert!(e.cycle(true));
        assert_eq!(e.selected(), Some(Pick::Suggestion(0)));
        assert_eq!(e.delete(), None);
        assert!(e.suggestions().is_empty());
    }

    /// A photo whose EXIF says "turn 90° clockwise" is stored 60×40 and seen 40×60: a box
    /// drawn at the top-left of the upright view is stored at the bottom-left.
    #[test]
    fn boxes_drawn_upright_are_recorded_in_the_stored_frame() {
        let turn = Turn {
            orientation: Orientation::Rotate90,
            stored: [60, 40],
        };
        let mut e = editor(turn, &[]);
        assert_eq!(e.size(), Some([40.0, 60.0]));
        let edit = drag(&mut e, [0.0, 0.0], [10.0, 20.0]).unwrap();
        assert_eq!(
            edit.boxes,
            vec![BoundingBox::new(CAR, 0.0, 30.0, 20.0, 10.0)]
        );
        // Read back (the decision recorded), it is shown where it was drawn.
        e.show(SampleId(7), Some("e1"), turn, &edit.boxes, &[]);
        assert_eq!(e.boxes(), &[BoundingBox::new(CAR, 0.0, 0.0, 10.0, 20.0)]);
        assert_eq!(e.selected(), Some(Pick::Box(0)), "the selection survives");
    }

    #[test]
    fn pasting_the_previous_images_boxes_skips_what_is_there_and_clips() {
        let a = BoundingBox::new(CAR, 0.0, 0.0, 10.0, 10.0);
        let mut e = editor(Turn::none([50, 50]), &[a]);
        let from = Turn::none([100, 100]);
        let far = BoundingBox::new(DOG, 40.0, 40.0, 30.0, 30.0);
        let edit = e.paste(&[a, far], from).unwrap();
        assert_eq!(
            edit.boxes,
            vec![a, BoundingBox::new(DOG, 40.0, 40.0, 10.0, 10.0)]
        );
        assert_eq!(e.paste(&[a], from), None);
    }
}
