//! Project settings, stored as one JSON document so that new settings need no migration.
//! Every field has a default; a project written before a setting existed reads the default.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Project, Result};

/// How the final label of a sample with several annotators is decided when no reviewer has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsensusPolicy {
    /// Every annotator gave the same label.
    #[default]
    Unanimous,
    /// Strictly more than half of the annotators gave the same label.
    Majority,
    /// Dawid–Skene: per-annotator confusion matrices estimated by EM.
    DawidSkene,
}

/// Thresholds of the validation checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationSettings {
    /// `CLASS_IMBALANCE` when the largest class has more than this many times the samples
    /// of the smallest non-empty one.
    pub imbalance_ratio: f64,
    /// `NEAR_DUPLICATES` when two perceptual hashes differ in at most this many bits.
    pub near_duplicate_distance: u32,
    /// `LOW_AGREEMENT` when Krippendorff's alpha is below this.
    pub min_agreement: f64,
    /// `LABEL_DRIFT` when the L-infinity distance to the previous export exceeds this.
    pub drift_linf: f64,
    /// `LABEL_DRIFT` when the Jensen–Shannon divergence to the previous export exceeds this.
    pub drift_js: f64,
    /// `SIZE_OUTLIERS` when an image's pixel count is this many times off the median.
    pub size_outlier_factor: f64,
    /// `SIZE_OUTLIERS` also names images whose colour type (channels and depth) is held by
    /// fewer than this fraction of the images.
    pub colour_outlier_fraction: f64,
    /// `TINY_BOXES` names boxes of a detect project smaller than this many square pixels.
    pub min_box_area: f64,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings {
            imbalance_ratio: 10.0,
            near_duplicate_distance: 4,
            min_agreement: 0.667,
            drift_linf: 0.1,
            drift_js: 0.05,
            size_outlier_factor: 16.0,
            colour_outlier_fraction: 0.05,
            min_box_area: 4.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How many different annotators must label each sample.
    pub overlap: u32,
    /// Fraction of samples (chosen reproducibly from the content hash) that get one more
    /// annotator than `overlap`, for quality checks.
    pub qa_fraction: f64,
    /// Annotators never see each other's labels. `None`: on when overlap > 1.
    pub blind: Option<bool>,
    pub consensus: ConsensusPolicy,
    pub validation: ValidationSettings,
    /// Detect projects: the window's accept key takes the suggested boxes scored at or
    /// above this.
    pub suggestion_threshold: f64,
    /// A team hub's replicas: seconds a sample handed to an annotator stays theirs before
    /// it is offered to others again.
    pub claim_lease: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            overlap: 1,
            qa_fraction: 0.0,
            blind: None,
            consensus: ConsensusPolicy::Unanimous,
            validation: ValidationSettings::default(),
            suggestion_threshold: 0.5,
            claim_lease: 600,
        }
    }
}

impl Settings {
    /// These settings with those each annotator keeps as their own taken from `own` (the
    /// accept key's suggestion threshold, a way of working): what a replica holds of its
    /// hub project's settings, which are otherwise the same for the whole team.
    pub fn with_own_of(&self, own: &Settings) -> Settings {
        Settings {
            suggestion_threshold: own.suggestion_threshold,
            ..self.clone()
        }
    }

    /// Whether `other` differs from these settings only in an annotator's own (see
    /// [`Settings::with_own_of`]).
    pub fn same_for_the_team(&self, other: &Settings) -> bool {
        other.with_own_of(self) == *self
    }

    pub fn is_blind(&self) -> bool {
        self.blind
            .unwrap_or(self.overlap > 1 || self.qa_fraction > 0.0)
    }
}

impl Project {
    /// A table import's feature columns in the order of its file (empty for images and
    /// JSON Lines, whose objects keep no order).
    pub fn feature_columns(&self) -> Result<Vec<String>> {
        Ok(self
            .setting_value("table_schema")?
            .and_then(|v| serde_json::from_value(v.get("columns")?.clone()).ok())
            .unwrap_or_default())
    }
}

impl Project {
    pub fn settings(&self) -> Result<Settings> {
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = 'project'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(match json {
            Some(j) => serde_json::from_str(&j)?,
            None => Settings::default(),
        })
    }

    pub fn set_settings(&self, settings: &Settings) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES ('project', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![serde_json::to_string(settings)?],
        )?;
        Ok(())
    }

    /// A free-form value kept in the project (e.g. the previous export's distribution).
    pub fn setting_value(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let json: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    pub fn set_setting_value(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, serde_json::to_string(value)?],
        )?;
        Ok(())
    }
}
