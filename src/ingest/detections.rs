//! `import-labels` for detect projects: boxes from a COCO JSON file, a folder of Pascal VOC
//! XML files or a folder of YOLO `.txt` files.
//!
//! As for classification labels, the input is checked as a whole before anything is
//! written: an unknown image or class, or an image whose size in the file differs from the
//! stored image's, refuses it, naming the first bad entries. Each image the input lists
//! becomes one decision holding all of its boxes (an image listed with no boxes is decided
//! as "no objects"); images it does not list stay as they are.
//!
//! Coordinates are converted to keylabel's frame (see [`crate::project::boxes`]): COCO's
//! `bbox` is already `[x, y, w, h]` in continuous pixels; VOC's corners are 1-based pixel
//! indices (`x = xmin - 1`, `w = xmax - xmin + 1`); YOLO's are normalised centre and size.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::labels::{LabelsReport, refusal};
use crate::project::{
    BoundingBox, ClassId, EventKind, NewEvent, Project, Result, Sample, SampleId, SampleKind,
    SampleStatus, Source,
};

/// The box formats `import-labels` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BoxFormat {
    Coco,
    Voc,
    Yolo,
}

impl BoxFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BoxFormat::Coco => "coco",
            BoxFormat::Voc => "voc",
            BoxFormat::Yolo => "yolo",
        }
    }
}

/// One image's boxes as an input gives them, before they are checked.
struct Entry {
    /// Where in the input, for messages (`annotation file`, `image 17`).
    at: String,
    /// How the input names the image.
    image: String,
    /// The image size the input states, when it does.
    size: Option<(f64, f64)>,
    boxes: Vec<RawBox>,
}

struct RawBox {
    at: String,
    class: ClassRef,
    geometry: Geometry,
    score: Option<f64>,
}

enum ClassRef {
    Name(String),
    /// A YOLO class index into the project's class order.
    Index(usize),
}

enum Geometry {
    /// Pixels, continuous: x, y, w, h.
    Pixels([f64; 4]),
    /// YOLO: centre x, centre y, width, height as fractions of the image.
    Normalised([f64; 4]),
}

/// Reads boxes from `input` and records them, as `import_labels` does for classes.
pub fn import_boxes(
    project: &mut Project,
    input: &Path,
    format: Option<BoxFormat>,
    annotator: &str,
    as_suggestions: bool,
) -> Result<LabelsReport> {
    let shown = input.display();
    let format = match format {
        Some(f) => f,
        None => sniff(input).map_err(|reason| anyhow::anyhow!("`{shown}`: {reason}"))?,
    };
    let (entries, mut bad) = match format {
        BoxFormat::Coco => read_coco(input),
        BoxFormat::Voc => read_voc(input),
        BoxFormat::Yolo => read_yolo(input, project),
    }
    .map_err(|reason| anyhow::anyhow!("`{shown}`: {reason}"))?;

    let classes = project.classes()?;
    let by_name: HashMap<&str, ClassId> = classes.iter().map(|c| (c.name.as_str(), c.id)).collect();
    let mut images = ImageIndex::default();
    // A file with scores is a model's output: all of it is suggestions.
    let suggest = as_suggestions
        || entries
            .iter()
            .any(|e| e.boxes.iter().any(|b| b.score.is_some()));
    // Each image's boxes, with the name the input gave it.
    let mut decided: BTreeMap<SampleId, (String, Vec<BoundingBox>)> = BTreeMap::new();
    for entry in &entries {
        let sample = match images.find(project, &entry.image)? {
            Found::One(s) => s,
            Found::None => {
                bad.push(format!("{}: unknown image `{}`", entry.at, entry.image));
                continue;
            }
            Found::Several(names) => {
                bad.push(format!(
                    "{}: `{}` could be any of {}; name it by its path in the project",
                    entry.at,
                    entry.image,
                    names.join(", ")
                ));
                continue;
            }
        };
        let (width, height) = match (sample.width, sample.height) {
            (Some(w), Some(h)) => (f64::from(w), f64::from(h)),
            _ => {
                bad.push(format!("{}: `{}` has no image size", entry.at, sample.name));
                continue;
            }
        };
        if let Some((w, h)) = entry.size
            && (w != width || h != height)
        {
            let swapped = w == height && h == width;
            bad.push(format!(
                "{}: the file says `{}` is {w}×{h} pixels, the image is {width}×{height}{}",
                entry.at,
                entry.image,
                if swapped {
                    " (width and height swapped: boxes drawn on the upright view of a rotated \
                     photo, not in the stored pixels)"
                } else {
                    ""
                }
            ));
            continue;
        }
        let mut boxes = Vec::with_capacity(entry.boxes.len());
        let mut entry_bad = false;
        for raw in &entry.boxes {
            let class = match &raw.class {
                ClassRef::Name(name) => by_name.get(name.as_str()).copied(),
                ClassRef::Index(i) => classes.get(*i).map(|c| c.id),
            };
            let Some(class) = class else {
                bad.push(match &raw.class {
                    ClassRef::Name(name) => format!("{}: unknown class `{name}`", raw.at),
                    ClassRef::Index(i) => format!(
                        "{}: class index {i}, but the project has {} classes",
                        raw.at,
                        classes.len()
                    ),
                });
                entry_bad = true;
                continue;
            };
            let [x, y, w, h] = match raw.geometry {
                Geometry::Pixels(p) => p,
                Geometry::Normalised([cx, cy, w, h]) => [
                    (cx - w / 2.0) * width,
                    (cy - h / 2.0) * height,
                    w * width,
                    h * height,
                ],
            };
            let b = BoundingBox {
                score: raw.score,
                ..BoundingBox::new(class, x, y, w, h)
            };
            if let Some(why) = b.unstorable() {
                bad.push(format!("{}: {why}", raw.at));
                entry_bad = true;
                continue;
            }
            boxes.push(b);
        }
        if entry_bad {
            continue;
        }
        if let Some((earlier, _)) = decided.get(&sample.id) {
            bad.push(format!(
                "{}: `{}` is listed twice (also as `{earlier}`)",
                entry.at, entry.image
            ));
            continue;
        }
        decided.insert(sample.id, (entry.image.clone(), boxes));
    }
    if !bad.is_empty() {
        return Err(refusal(input, &bad, ("entry", "entries")));
    }

    let mut events = Vec::new();
    let mut unchanged = 0u64;
    for (sample, (_, boxes)) in decided {
        let same = if suggest {
            project.suggested_boxes(sample)?.as_deref() == Some(boxes.as_slice())
        } else {
            project.decision_of(sample, annotator)?.is_some_and(|d| {
                d.status == SampleStatus::Labeled && d.boxes.as_deref() == Some(boxes.as_slice())
            })
        };
        if same {
            unchanged += 1;
            continue;
        }
        let (kind, source) = if suggest {
            (EventKind::Suggest, Source::Model)
        } else {
            (EventKind::Label, Source::Imported)
        };
        events.push(NewEvent {
            source,
            ..NewEvent::boxes(sample, annotator, kind, boxes)
        });
    }
    let samples: std::collections::BTreeSet<_> = events.iter().map(|e| e.sample).collect();
    project.record_all(&events)?;
    Ok(LabelsReport {
        rows: entries.len() as u64,
        recorded: events.len() as u64,
        unchanged,
        samples: samples.len() as u64,
        as_suggestions: suggest,
    })
}

/// The format of `input`: a COCO file (a JSON object with `images` and `annotations`), or a
/// folder of VOC `.xml` or YOLO `.txt` files.
fn sniff(input: &Path) -> std::result::Result<BoxFormat, String> {
    let meta = std::fs::metadata(input).map_err(|e| super::images::io_reason(&e))?;
    if !meta.is_dir() {
        return Ok(BoxFormat::Coco); // read_coco says so when it is not
    }
    let (mut xml, mut txt) = (false, false);
    for entry in walkdir::WalkDir::new(input).into_iter().flatten() {
        match extension(entry.path()).as_deref() {
            Some("xml") => xml = true,
            Some("txt") if !is_yolo_side_file(entry.path()) => txt = true,
            _ => {}
        }
    }
    match (xml, txt) {
        (true, false) => Ok(BoxFormat::Voc),
        (false, true) => Ok(BoxFormat::Yolo),
        (true, true) => Err(
            "the folder holds both `.xml` (Pascal VOC) and `.txt` (YOLO) files; say which \
             with --format voc or --format yolo"
                .into(),
        ),
        (false, false) => {
            Err("the folder holds no `.xml` (Pascal VOC) or `.txt` (YOLO) label files".into())
        }
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// `classes.txt` beside YOLO label files names the classes, it labels no image.
fn is_yolo_side_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "classes.txt")
}

// ---------------------------------------------------------------------------------------
// COCO

#[derive(Deserialize)]
struct CocoFile {
    images: Vec<CocoImage>,
    #[serde(default)]
    annotations: Vec<CocoAnnotation>,
    categories: Vec<CocoCategory>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: serde_json::Value,
    file_name: String,
    width: Option<f64>,
    height: Option<f64>,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    image_id: serde_json::Value,
    category_id: serde_json::Value,
    bbox: Vec<f64>,
    score: Option<f64>,
}

#[derive(Deserialize)]
struct CocoCategory {
    id: serde_json::Value,
    name: String,
}

type Read = std::result::Result<(Vec<Entry>, Vec<String>), String>;

fn read_coco(file: &Path) -> Read {
    // Read once: the file may be a pipe.
    let bytes = std::fs::read(file).map_err(|e| super::images::io_reason(&e))?;
    coco_entries(&bytes)
}

/// A COCO file's images with their boxes, and its bad entries.
fn coco_entries(bytes: &[u8]) -> Read {
    let coco: CocoFile = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not a COCO annotation file (a JSON object with `images`, `annotations` and \
             `categories`): {e}"
        )
    })?;
    let key = |v: &serde_json::Value| v.to_string();
    let categories: HashMap<String, &str> = coco
        .categories
        .iter()
        .map(|c| (key(&c.id), c.name.as_str()))
        .collect();
    let mut bad = Vec::new();
    let mut entries: Vec<Entry> = Vec::with_capacity(coco.images.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(coco.images.len());
    for (i, img) in coco.images.iter().enumerate() {
        if index.insert(key(&img.id), entries.len()).is_some() {
            bad.push(format!("image {}: id {} is used twice", i + 1, img.id));
            continue;
        }
        entries.push(Entry {
            at: format!("image {} (id {})", i + 1, img.id),
            image: img.file_name.clone(),
            size: img.width.zip(img.height),
            boxes: Vec::new(),
        });
    }
    for (i, a) in coco.annotations.iter().enumerate() {
        let at = format!("annotation {}", i + 1);
        let Some(&e) = index.get(&key(&a.image_id)) else {
            bad.push(format!("{at}: image id {} is not in `images`", a.image_id));
            continue;
        };
        let Some(&name) = categories.get(&key(&a.category_id)) else {
            bad.push(format!(
                "{at}: category id {} is not in `categories`",
                a.category_id
            ));
            continue;
        };
        let Ok(bbox) = <[f64; 4]>::try_from(a.bbox.as_slice()) else {
            bad.push(format!("{at}: `bbox` has {} numbers, not 4", a.bbox.len()));
            continue;
        };
        entries[e].boxes.push(RawBox {
            at,
            class: ClassRef::Name(name.to_string()),
            geometry: Geometry::Pixels(bbox),
            score: a.score,
        });
    }
    Ok((entries, bad))
}

// ---------------------------------------------------------------------------------------
// Pascal VOC

fn label_files(folder: &Path, ext: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(folder).sort_by_file_name() {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_type().is_file()
            && extension(entry.path()).as_deref() == Some(ext)
            && !(ext == "txt" && is_yolo_side_file(entry.path()))
        {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

fn read_voc(folder: &Path) -> Read {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for file in label_files(folder, "xml")? {
        let shown = file
            .strip_prefix(folder)
            .unwrap_or(&file)
            .display()
            .to_string();
        match std::fs::read_to_string(&file)
            .map_err(|e| super::images::io_reason(&e))
            .and_then(|text| voc_entry(&text, &shown))
        {
            Ok(entry) => entries.push(entry),
            Err(reason) => bad.push(format!("{shown}: {reason}")),
        }
    }
    Ok((entries, bad))
}

fn voc_entry(text: &str, shown: &str) -> std::result::Result<Entry, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("annotation") {
        return Err(format!(
            "not a Pascal VOC annotation (its root element is `{}`)",
            root.tag_name().name()
        ));
    }
    fn child<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
        node.children()
            .find(|c| c.has_tag_name(name))
            .and_then(|c| c.text())
            .map(str::trim)
    }
    let number = |node: roxmltree::Node, name: &str, what: &str| {
        let raw = child(node, name).ok_or_else(|| format!("{what} has no `{name}`"))?;
        raw.parse::<f64>()
            .map_err(|_| format!("{what}: `{name}` is `{raw}`, not a number"))
    };
    let image = child(root, "filename")
        .filter(|f| !f.is_empty())
        .ok_or("no `filename`")?
        .to_string();
    let size = match root.children().find(|c| c.has_tag_name("size")) {
        Some(size) => Some((
            number(size, "width", "`size`")?,
            number(size, "height", "`size`")?,
        )),
        None => None,
    };
    let mut boxes = Vec::new();
    for (i, object) in root
        .children()
        .filter(|c| c.has_tag_name("object"))
        .enumerate()
    {
        let at = format!("{shown}: object {}", i + 1);
        let name = child(object, "name").ok_or_else(|| format!("{at} has no `name`"))?;
        let bndbox = object
            .children()
            .find(|c| c.has_tag_name("bndbox"))
            .ok_or_else(|| format!("{at} has no `bndbox`"))?;
        let what = format!("{at}'s `bndbox`");
        let (xmin, ymin) = (
            number(bndbox, "xmin", &what)?,
            number(bndbox, "ymin", &what)?,
        );
        let (xmax, ymax) = (
            number(bndbox, "xmax", &what)?,
            number(bndbox, "ymax", &what)?,
        );
        boxes.push(RawBox {
            at,
            class: ClassRef::Name(name.to_string()),
            geometry: Geometry::Pixels([
                xmin - 1.0,
                ymin - 1.0,
                xmax - xmin + 1.0,
                ymax - ymin + 1.0,
            ]),
            score: None,
        });
    }
    Ok(Entry {
        at: shown.to_string(),
        image,
        size,
        boxes,
    })
}

// ---------------------------------------------------------------------------------------
// YOLO

fn read_yolo(folder: &Path, project: &Project) -> Read {
    let mut bad = Vec::new();
    // `classes.txt`, when there, must name the project's classes in order: the indices
    // mean nothing otherwise.
    let side = folder.join("classes.txt");
    if side.is_file() {
        let text = std::fs::read_to_string(&side).map_err(|e| super::images::io_reason(&e))?;
        let named: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let ours: Vec<String> = project
            .classes()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|c| c.name)
            .collect();
        if named != ours {
            return Err(format!(
                "`classes.txt` names the classes [{}], the project's are [{}] in this order: \
                 YOLO class indices would mean other classes",
                named.join(", "),
                ours.join(", ")
            ));
        }
    }
    let mut entries = Vec::new();
    for file in label_files(folder, "txt")? {
        let relative = file.strip_prefix(folder).unwrap_or(&file).to_path_buf();
        let shown = relative.display().to_string();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                bad.push(format!("{shown}: {}", super::images::io_reason(&e)));
                continue;
            }
        };
        let boxes = yolo_boxes(&text, &shown, &mut bad);
        entries.push(Entry {
            at: shown,
            image: relative.with_extension("").to_string_lossy().into_owned(),
            size: None,
            boxes,
        });
    }
    Ok((entries, bad))
}

/// The boxes of one YOLO label file's text; lines that are not boxes go to `bad`.
fn yolo_boxes(text: &str, shown: &str, bad: &mut Vec<String>) -> Vec<RawBox> {
    let mut boxes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{shown}: line {}", n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = (fields.len() == 5 || fields.len() == 6)
            .then(|| {
                let class = fields[0].parse::<usize>().ok()?;
                let v: Vec<f64> = fields[1..]
                    .iter()
                    .map(|f| f.parse().ok())
                    .collect::<Option<_>>()?;
                Some((class, v))
            })
            .flatten();
        let Some((class, v)) = parsed else {
            bad.push(format!(
                "{at}: `{line}` is not `class x_centre y_centre width height [score]`"
            ));
            continue;
        };
        boxes.push(RawBox {
            at,
            class: ClassRef::Index(class),
            geometry: Geometry::Normalised([v[0], v[1], v[2], v[3]]),
            score: v.get(4).copied(),
        });
    }
    boxes
}

/// Parses one input of `format` from its bytes (a COCO file, one VOC XML file or one YOLO
/// label file): how many images and boxes it gives, and its bad entries (for fuzzing the
/// readers).
pub(crate) fn parse(
    bytes: &[u8],
    format: BoxFormat,
) -> Result<(usize, usize, Vec<String>), String> {
    let (entries, bad) = match format {
        BoxFormat::Coco => coco_entries(bytes)?,
        BoxFormat::Voc => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            (vec![voc_entry(text, "fuzz.xml")?], Vec::new())
        }
        BoxFormat::Yolo => {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let mut bad = Vec::new();
            let boxes = yolo_boxes(text, "fuzz.txt", &mut bad);
            let entry = Entry {
                at: "fuzz.txt".into(),
                image: "fuzz".into(),
                size: None,
                boxes,
            };
            (vec![entry], bad)
        }
    };
    let boxes = entries.iter().map(|e| e.boxes.len()).sum();
    Ok((entries.len(), boxes, bad))
}

// ---------------------------------------------------------------------------------------
// Finding the image an entry names

enum Found {
    One(Box<Sample>),
    None,
    /// The names of the images it could be.
    Several(Vec<String>),
}

/// Image samples by file name and by stem, built on first use: a label file names an
/// image by the project's name for it, by its path, or (when that is unique) by its file
/// name alone; YOLO names it by its label file's path without the extension.
#[derive(Default)]
struct ImageIndex {
    by_file_name: Option<HashMap<String, Vec<(SampleId, String)>>>,
    by_stem: Option<HashMap<String, Vec<(SampleId, String)>>>,
}

impl ImageIndex {
    fn build(&mut self, project: &Project) -> Result<()> {
        if self.by_file_name.is_some() {
            return Ok(());
        }
        let mut by_file_name: HashMap<String, Vec<(SampleId, String)>> = HashMap::new();
        let mut by_stem: HashMap<String, Vec<(SampleId, String)>> = HashMap::new();
        for (id, name) in project.image_names()? {
            let path = Path::new(&name);
            if let Some(f) = path.file_name() {
                by_file_name
                    .entry(f.to_string_lossy().into_owned())
                    .or_default()
                    .push((id, name.clone()));
            }
            by_stem
                .entry(path.with_extension("").to_string_lossy().into_owned())
                .or_default()
                .push((id, name.clone()));
            if let Some(stem) = path.file_stem() {
                let stem = stem.to_string_lossy().into_owned();
                if stem != path.with_extension("").to_string_lossy() {
                    by_stem.entry(stem).or_default().push((id, name));
                }
            }
        }
        for list in by_file_name.values_mut().chain(by_stem.values_mut()) {
            list.sort_unstable();
            list.dedup_by_key(|(id, _)| *id);
        }
        self.by_file_name = Some(by_file_name);
        self.by_stem = Some(by_stem);
        Ok(())
    }

    fn find(&mut self, project: &Project, name: &str) -> Result<Found> {
        if let Some(s) = super::labels::find(project, name)?
            && s.kind == SampleKind::Image
        {
            return Ok(Found::One(Box::new(s)));
        }
        self.build(project)?;
        let path = Path::new(name);
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let candidates = [
            self.by_file_name.as_ref().and_then(|m| m.get(&file_name)),
            self.by_stem.as_ref().and_then(|m| m.get(name)),
            // A YOLO label file under `labels/` for an image under `images/`.
            self.by_stem
                .as_ref()
                .and_then(|m| m.get(path.file_name()?.to_str()?)),
        ];
        for list in candidates.into_iter().flatten() {
            match list.as_slice() {
                [] => {}
                [(id, _)] => {
                    return Ok(match project.sample(*id)? {
                        Some(s) => Found::One(Box::new(s)),
                        None => Found::None,
                    });
                }
                several => {
                    return Ok(Found::Several(
                        several
                            .iter()
                            .take(3)
                            .map(|(_, n)| format!("`{n}`"))
                            .collect(),
                    ));
                }
            }
        }
        Ok(Found::None)
    }
}
