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
}

#[derive(Clone, Debug, PartialEq)]
pub struct FeatureSpec {
    pub key: String,
    pub role: Role,
    pub ty: ValueType,
    /// How many exported records hold a value.
    pub present: u64,
    /// `Some(max)`: a variable number of values, 1 to `max` (multi-label);
    /// `None`: exactly one value where present.
    pub max_values: Option<u64>,
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
        multi_label: bool,
        text_column: &str,
    ) -> Layout {
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
                features.extend(label_specs(LABEL, TEXT));
                for (role, key) in [
                    ("id", FILENAME),
                    ("label", LABEL),
                    ("label_text", TEXT),
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

    /// The values of one record, aligned with [`Layout::features`]. `labels` are indices
    /// into `label_map`; `encoded` is the image file's bytes (TFRecord only).
    pub fn record(
        &self,
        sample: &Sample,
        labels: &[u32],
        label_map: &[String],
        mut encoded: Option<Vec<u8>>,
    ) -> Vec<Option<Value>> {
        let text = |s: &str| Some(Value::Bytes(vec![s.as_bytes().to_vec()]));
        self.features
            .iter()
            .map(|spec| match &spec.role {
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
