//! The exported features: which keys a record has, their types, presence and domains.
//!
//! One [`Layout`] describes a whole export; the TFRecord, CSV and JSON Lines writers, the
//! `schema.pbtxt` and the manifest all read it, so the files and the schema cannot disagree.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::Format;
use crate::project::{Sample, SampleKind};

/// Feature keys of image records (TensorFlow's long-standing conventions).
pub mod image_keys {
    pub const ENCODED: &str = "image/encoded";
    pub const FORMAT: &str = "image/format";
    pub const HEIGHT: &str = "image/height";
    pub const WIDTH: &str = "image/width";
    pub const FILENAME: &str = "image/filename";
    pub const SOURCE_ID: &str = "image/source_id";
    pub const LABEL: &str = "image/class/label";
    pub const TEXT: &str = "image/class/text";
}

/// Feature keys of detect records: the TensorFlow Object Detection API's.
pub mod object_keys {
    pub const KEY_SHA256: &str = "image/key/sha256";
    pub const XMIN: &str = "image/object/bbox/xmin";
    pub const XMAX: &str = "image/object/bbox/xmax";
    pub const YMIN: &str = "image/object/bbox/ymin";
    pub const YMAX: &str = "image/object/bbox/ymax";
    pub const LABEL: &str = "image/object/class/label";
    pub const TEXT: &str = "image/object/class/text";
    pub const AREA: &str = "image/object/area";
}

/// One box of an exported image: its class's index into the label map and its rectangle
/// in pixels, clipped to the image (validation refuses boxes that reach further out than
/// rounding explains).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportBox {
    pub class: u32,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl ExportBox {
    /// `b` clipped to a `width`×`height` image.
    pub fn clipped(class: u32, b: &crate::project::BoundingBox, width: f64, height: f64) -> Self {
        let (x0, y0) = (b.x.clamp(0.0, width), b.y.clamp(0.0, height));
        let (x1, y1) = (
            (b.x + b.w).clamp(0.0, width),
            (b.y + b.h).clamp(0.0, height),
        );
        ExportBox {
            class,
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    pub fn area(&self) -> f64 {
        self.w * self.h
    }
}

/// What one exported sample is labeled with.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// Indices into the label map.
    Classes(&'a [u32]),
    /// A detect image's boxes (possibly none).
    Boxes(&'a [ExportBox]),
}

/// Feature keys of table-row records that do not come from the table.
pub mod row_keys {
    pub const ID: &str = "id";
    pub const LABEL: &str = "label";
    pub const LABEL_TEXT: &str = "label_text";
}

/// The name of the string domain holding the class names.
pub const CLASS_DOMAIN: &str = "label_text";
/// The name of the string domain holding the image formats.
pub const FORMAT_DOMAIN: &str = "image_format";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ValueType {
    Bytes,
    Int,
    Float,
}

impl ValueType {
    /// The tensorflow_metadata `FeatureType` name.
    pub fn schema_name(self) -> &'static str {
        match self {
            ValueType::Bytes => "BYTES",
            ValueType::Int => "INT",
            ValueType::Float => "FLOAT",
        }
    }
}

/// The values of one feature in one record.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bytes(Vec<Vec<u8>>),
    Int(Vec<i64>),
    Float(Vec<f64>),
}

/// What a feature holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    ImageBytes,
    Format,
    Height,
    Width,
    Filename,
    SourceId,
    /// Index (or indices) into the label map.
    LabelIndex,
    /// Class name(s).
    LabelText,
    /// SHA-256 of the image bytes, lower-case hex.
    KeySha256,
    /// A detect image's box edges, normalised by its width or height.
    ObjectXmin,
    ObjectXmax,
    ObjectYmin,
    ObjectYmax,
    /// A box's class as a label-map id (from 1, as the Object Detection API's label maps).
    ObjectLabel,
    ObjectText,
    /// A box's area in pixels.
    ObjectArea,
    /// A table row's sample name.
    Id,
    /// A table row's text column.
    Text,
    /// Another column of a table row, by its name in the table.
    Column(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// A named string domain (declared at the schema's top level).
    Strings { name: String, values: Vec<String> },
    /// An inclusive integer range.
    IntRange { min: i64, max: i64 },
    /// An inclusive float range (`max` open when `None`).
    FloatRange { min: f64, max: Option<f64> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FeatureSpec {
    pub key: String,
    pub role: Role,
    pub ty: ValueType,
    /// How many exported records hold a value.
    pub present: u64,
    /// `Some(max)`: a variable number of values, `min_values` to `max` (multi-label, boxes);
    /// `None`: exactly one value where present.
    pub max_values: Option<u64>,
    /// The fewest values a record holds of a variable-length feature: 1 for labels, 0 for
    /// boxes (an image with no objects).
    pub min_values: u64,
    pub domain: Option<Domain>,
}

/// The type of a table column across the dataset: the narrowest type that holds every value
/// (int and float mix to float; anything mixed with text is text).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnType {
    #[default]
    Unknown,
    Int,
    Float,
    Text,
}

impl ColumnType {
    pub fn of(v: &Json) -> ColumnType {
        match v {
            Json::Null => ColumnType::Unknown,
            Json::Bool(_) => ColumnType::Int,
            Json::Number(n) if n.is_i64() => ColumnType::Int,
            Json::Number(_) => ColumnType::Float,
            _ => ColumnType::Text,
        }
    }

    pub fn merge(self, other: ColumnType) -> ColumnType {
        self.max(other)
    }
}

/// What the first pass over the exported samples learned.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub records: u64,
    pub images: u64,
    pub rows: u64,
    pub formats: BTreeSet<String>,
    pub with_format: u64,
    pub with_height: u64,
    pub with_width: u64,
    pub with_text: u64,
    /// Column name to (type, records holding a non-null value).
    pub columns: BTreeMap<String, (ColumnType, u64)>,
    /// The most boxes on one exported image (detect projects).
    pub max_boxes: u64,
}

impl Stats {
    /// Counts one exported sample.
    pub fn add(
        &mut self,
        kind: SampleKind,
        format: Option<&str>,
        size: (bool, bool),
        text: bool,
        features: Option<&serde_json::Map<String, Json>>,
    ) {
        self.records += 1;
        match kind {
            SampleKind::Image => {
                self.images += 1;
                if let Some(f) = format {
                    self.with_format += 1;
                    if !self.formats.contains(f) {
                        self.formats.insert(f.to_string());
                    }
                }
                self.with_height += u64::from(size.0);
                self.with_width += u64::from(size.1);
            }
            SampleKind::Text => {
                self.rows += 1;
                self.with_text += u64::from(text);
                for (name, v) in features.into_iter().flatten() {
                    let entry = self.columns.entry(name.clone()).or_default();
                    let t = ColumnType::of(v);
                    entry.0 = entry.0.merge(t);
                    if t != ColumnType::Unknown {
                        entry.1 += 1;
                    }
                }
            }
        }
    }
}

/// The features of one export.
#[derive(Clone, Debug)]
pub struct Layout {
    pub kind: SampleKind,
    pub features: Vec<FeatureSpec>,
    /// Column name to its type, for table rows.
    pub column_types: BTreeMap<String, ColumnType>,
    /// Role name to feature key, for the manifest (`id`, `label`, `label_text`, …).
    pub roles: BTreeMap<String, String>,
}

impl Layout {
    /// `text_column` names the table column shown to annotators (its feature key).
    pub fn new(
        format: Format,
        stats: &Stats,
        label_map: &[String],
        task: crate::project::TaskKind,
        text_column: &str,
    ) -> Layout {
        let multi_label = task == crate::project::TaskKind::MultiLabel;
        let detect = task.is_detect();
        let kind = if stats.rows > 0 {
            SampleKind::Text
        } else {
            SampleKind::Image
        };
        let n = stats.records;
        let one = |key: &str, role: Role, ty: ValueType, present: u64| FeatureSpec {
            key: key.to_string(),
            role,
            ty,
            present,
            max_values: None,
            min_values: 1,
            domain: None,
        };
        let classes = Domain::Strings {
            name: CLASS_DOMAIN.into(),
            values: label_map.to_vec(),
        };
        let index_range = Domain::IntRange {
            min: 0,
            max: label_map.len() as i64 - 1,
        };
        // CSV cells hold one value: several labels are joined with `|` into one string.
        let joined = multi_label && format == Format::Csv;
        let label_specs = |label_key: &str, text_key: &str| -> [FeatureSpec; 2] {
            let mut label = one(label_key, Role::LabelIndex, ValueType::Int, n);
            let mut text = one(text_key, Role::LabelText, ValueType::Bytes, n);
            if joined {
                label.ty = ValueType::Bytes;
            } else {
                label.domain = Some(index_range.clone());
                text.domain = Some(classes.clone());
                if multi_label {
                    label.max_values = Some(label_map.len() as u64);
                    text.max_values = Some(label_map.len() as u64);
                }
            }
            [label, text]
        };
        let mut features = Vec::new();
        let mut roles = BTreeMap::new();
        let mut column_types = BTreeMap::new();
        match kind {
            SampleKind::Image => {
                use image_keys::*;
                if format == Format::TfRecord {
                    features.push(one(ENCODED, Role::ImageBytes, ValueType::Bytes, n));
                    roles.insert("image".into(), ENCODED.into());
                }
                let mut fmt = one(FORMAT, Role::Format, ValueType::Bytes, stats.with_format);
                fmt.domain = Some(Domain::Strings {
                    name: FORMAT_DOMAIN.into(),
                    values: stats.formats.iter().cloned().collect(),
                });
                features.push(fmt);
                features.push(one(HEIGHT, Role::Height, ValueType::Int, stats.with_height));
                features.push(one(WIDTH, Role::Width, ValueType::Int, stats.with_width));
                features.push(one(FILENAME, Role::Filename, ValueType::Bytes, n));
                features.push(one(SOURCE_ID, Role::SourceId, ValueType::Bytes, n));
                if detect {
                    features.extend(object_specs(format, stats, &classes, label_map.len()));
                    roles.extend(
                        [
                            ("key_sha256", object_keys::KEY_SHA256),
                            ("bbox_xmin", object_keys::XMIN),
                            ("bbox_xmax", object_keys::XMAX),
                            ("bbox_ymin", object_keys::YMIN),
                            ("bbox_ymax", object_keys::YMAX),
                            ("object_label", object_keys::LABEL),
                            ("object_text", object_keys::TEXT),
                            ("object_area", object_keys::AREA),
                        ]
                        .map(|(r, k)| (r.to_string(), k.to_string())),
                    );
                    if format != Format::TfRecord {
                        roles.remove("key_sha256");
                    }
                } else {
                    features.extend(label_specs(LABEL, TEXT));
                    roles.insert("label".into(), LABEL.into());
                    roles.insert("label_text".into(), TEXT.into());
                }
                for (role, key) in [
                    ("id", FILENAME),
                    ("format", FORMAT),
                    ("height", HEIGHT),
                    ("width", WIDTH),
                    ("source_id", SOURCE_ID),
                ] {
                    roles.insert(role.into(), key.into());
                }
            }
            SampleKind::Text => {
                use row_keys::*;
                let mut taken: BTreeSet<String> = [ID, LABEL, LABEL_TEXT]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                // A table column whose name is already a key gets `_column` appended.
                let mut unique = |name: &str| {
                    let mut key = name.to_string();
                    while taken.contains(&key) {
                        key.push_str("_column");
                    }
                    taken.insert(key.clone());
                    key
                };
                let text_key = unique(text_column);
                features.push(one(ID, Role::Id, ValueType::Bytes, n));
                if stats.with_text > 0 {
                    features.push(one(
                        &text_key,
                        Role::Text,
                        ValueType::Bytes,
                        stats.with_text,
                    ));
                    roles.insert("text".into(), text_key.clone());
                }
                for (name, (ty, present)) in &stats.columns {
                    let vt = match ty {
                        ColumnType::Unknown => continue,
                        ColumnType::Int => ValueType::Int,
                        ColumnType::Float => ValueType::Float,
                        ColumnType::Text => ValueType::Bytes,
                    };
                    column_types.insert(name.clone(), *ty);
                    let key = unique(name);
                    features.push(one(&key, Role::Column(name.clone()), vt, *present));
                }
                features.extend(label_specs(LABEL, LABEL_TEXT));
                for (role, key) in [("id", ID), ("label", LABEL), ("label_text", LABEL_TEXT)] {
                    roles.insert(role.into(), key.into());
                }
            }
        }
        Layout {
            kind,
            features,
            column_types,
            roles,
        }
    }

    /// The values of one record, aligned with [`Layout::features`]. `encoded` is the image
    /// file's bytes (TFRecord only).
    pub fn record(
        &self,
        sample: &Sample,
        target: Target<'_>,
        label_map: &[String],
        mut encoded: Option<Vec<u8>>,
    ) -> Vec<Option<Value>> {
        let text = |s: &str| Some(Value::Bytes(vec![s.as_bytes().to_vec()]));
        let (labels, boxes): (&[u32], &[ExportBox]) = match target {
            Target::Classes(l) => (l, &[]),
            Target::Boxes(b) => (&[], b),
        };
        let sha256 = || {
            let digest = super::image_sha256(sample, encoded.as_deref()?);
            Some(Value::Bytes(vec![digest.into_bytes()]))
        };
        let (width, height) = (
            f64::from(sample.width.unwrap_or(1).max(1)),
            f64::from(sample.height.unwrap_or(1).max(1)),
        );
        let edges = |f: fn(&ExportBox) -> f64, by: f64| {
            Some(Value::Float(
                boxes.iter().map(|b| (f(b) / by).clamp(0.0, 1.0)).collect(),
            ))
        };
        let key_sha256 = self
            .features
            .iter()
            .any(|f| f.role == Role::KeySha256)
            .then(sha256)
            .flatten();
        let mut key_sha256 = Some(key_sha256);
        self.features
            .iter()
            .map(|spec| match &spec.role {
                Role::KeySha256 => key_sha256.take().flatten(),
                Role::ObjectXmin => edges(|b| b.x, width),
                Role::ObjectXmax => edges(|b| b.x + b.w, width),
                Role::ObjectYmin => edges(|b| b.y, height),
                Role::ObjectYmax => edges(|b| b.y + b.h, height),
                Role::ObjectLabel => Some(Value::Int(
                    boxes.iter().map(|b| i64::from(b.class) + 1).collect(),
                )),
                Role::ObjectText => Some(Value::Bytes(
                    boxes
                        .iter()
                        .map(|b| label_map[b.class as usize].as_bytes().to_vec())
                        .collect(),
                )),
                Role::ObjectArea => Some(Value::Float(boxes.iter().map(ExportBox::area).collect())),
                Role::ImageBytes => encoded.take().map(|b| Value::Bytes(vec![b])),
                Role::Format => sample.format.as_deref().and_then(text),
                Role::Height => sample.height.map(|h| Value::Int(vec![i64::from(h)])),
                Role::Width => sample.width.map(|w| Value::Int(vec![i64::from(w)])),
                Role::Filename | Role::Id => text(&sample.name),
                Role::SourceId => text(&sample.hash),
                Role::LabelIndex => {
                    Some(Value::Int(labels.iter().map(|&i| i64::from(i)).collect()))
                }
                Role::LabelText => Some(Value::Bytes(
                    labels
                        .iter()
                        .map(|&i| label_map[i as usize].as_bytes().to_vec())
                        .collect(),
                )),
                Role::Text => sample.text.as_deref().and_then(text),
                Role::Column(name) => {
                    let v = sample.features.as_ref().and_then(|f| f.get(name))?;
                    column_value(v, self.column_types.get(name).copied().unwrap_or_default())
                }
            })
            .collect()
    }
}

/// The box features of a detect export: the image's key, then its boxes' edges, classes
/// and areas, each a list of one value per box (empty for an image with no objects). CSV
/// cells hold one value: a list is joined with `|` into one string.
fn object_specs(format: Format, stats: &Stats, classes: &Domain, k: usize) -> Vec<FeatureSpec> {
    use object_keys::*;
    let n = stats.records;
    let joined = format == Format::Csv;
    let list = |key: &str, role: Role, ty: ValueType, domain: Option<Domain>| FeatureSpec {
        key: key.to_string(),
        role,
        ty: if joined { ValueType::Bytes } else { ty },
        present: n,
        max_values: (!joined).then_some(stats.max_boxes),
        min_values: 0,
        domain: if joined { None } else { domain },
    };
    let unit = || {
        Some(Domain::FloatRange {
            min: 0.0,
            max: Some(1.0),
        })
    };
    let mut specs = Vec::new();
    if format == Format::TfRecord {
        specs.push(FeatureSpec {
            key: KEY_SHA256.into(),
            role: Role::KeySha256,
            ty: ValueType::Bytes,
            present: n,
            max_values: None,
            min_values: 1,
            domain: None,
        });
    }
    specs.extend([
        list(XMIN, Role::ObjectXmin, ValueType::Float, unit()),
        list(XMAX, Role::ObjectXmax, ValueType::Float, unit()),
        list(YMIN, Role::ObjectYmin, ValueType::Float, unit()),
        list(YMAX, Role::ObjectYmax, ValueType::Float, unit()),
        list(
            LABEL,
            Role::ObjectLabel,
            ValueType::Int,
            Some(Domain::IntRange {
                min: 1,
                max: k as i64,
            }),
        ),
        list(
            TEXT,
            Role::ObjectText,
            ValueType::Bytes,
            Some(classes.clone()),
        ),
        list(
            AREA,
            Role::ObjectArea,
            ValueType::Float,
            Some(Domain::FloatRange {
                min: 0.0,
                max: None,
            }),
        ),
    ]);
    specs
}

/// A table cell as a feature value of its column's type; `None` for null.
fn column_value(v: &Json, ty: ColumnType) -> Option<Value> {
    match (v, ty) {
        (Json::Null, _) | (_, ColumnType::Unknown) => None,
        (Json::Bool(b), ColumnType::Int) => Some(Value::Int(vec![i64::from(*b)])),
        (Json::Bool(b), ColumnType::Float) => Some(Value::Float(vec![f64::from(u8::from(*b))])),
        (Json::Number(n), ColumnType::Int) => n.as_i64().map(|i| Value::Int(vec![i])),
        (Json::Number(n), ColumnType::Float) => n.as_f64().map(|f| Value::Float(vec![f])),
        (Json::String(s), ColumnType::Text) => Some(Value::Bytes(vec![s.as_bytes().to_vec()])),
        (other, _) => Some(Value::Bytes(vec![other.to_string().into_bytes()])),
    }
}
