//! Changing project settings by name (`keylabel settings set KEY VALUE`), with the range
//! checks that keep a project's settings meaningful.

use crate::project::{ConsensusPolicy, ProjectError, Result, Settings};

/// The names `settings set` accepts, with what they take.
pub const KEYS: &[(&str, &str)] = &[
    ("overlap", "annotators per sample, an integer from 1 to 100"),
    (
        "qa-fraction",
        "share of samples that get one more annotator, 0 to 1",
    ),
    (
        "blind",
        "true, false or auto (auto: on when overlap > 1 or qa-fraction > 0)",
    ),
    ("consensus", "unanimous, majority or dawid-skene"),
    (
        "imbalance-ratio",
        "CLASS_IMBALANCE above this largest/smallest ratio, at least 1",
    ),
    (
        "near-duplicate-distance",
        "NEAR_DUPLICATES at or below this many bits, 0 to 64",
    ),
    (
        "min-agreement",
        "LOW_AGREEMENT below this Krippendorff's alpha, -1 to 1",
    ),
    (
        "drift-linf",
        "LABEL_DRIFT above this L-infinity distance, 0 to 1",
    ),
    (
        "drift-js",
        "LABEL_DRIFT above this Jensen-Shannon divergence, 0 to 1",
    ),
    (
        "size-outlier-factor",
        "SIZE_OUTLIERS this many times off the median, at least 1",
    ),
    (
        "min-box-area",
        "TINY_BOXES below this many square pixels, 0 or more",
    ),
    (
        "suggestion-threshold",
        "the window's accept key takes suggested boxes scored at or above this, 0 to 1",
    ),
    (
        "claim-lease",
        "seconds a team hub keeps a sample for the annotator it was handed to, at least 1",
    ),
];

fn invalid(key: &str, value: &str, what: &str) -> anyhow::Error {
    ProjectError::Invalid(format!(
        "`{value}` is not a valid value for `{key}`: expected {what}"
    ))
    .into()
}

fn number(key: &str, value: &str, what: &str, lo: f64, hi: f64) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= lo && v <= hi => Ok(v),
        _ => Err(invalid(key, value, what)),
    }
}

/// Sets one setting from its name and text value. Names are case-insensitive; `_` and `-`
/// are the same, and the validation thresholds may be written with a `validation.` prefix.
/// Nothing changes when the name or the value is refused.
pub fn set_by_name(settings: &mut Settings, key: &str, value: &str) -> Result<()> {
    let norm = key.trim().to_ascii_lowercase().replace('_', "-");
    let norm = norm.strip_prefix("validation.").unwrap_or(&norm);
    let what = KEYS
        .iter()
        .find(|(k, _)| *k == norm)
        .map(|(_, w)| *w)
        .ok_or_else(|| {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            ProjectError::Invalid(format!(
                "unknown setting `{key}`; known settings: {}",
                known.join(", ")
            ))
        })?;
    let v = value.trim();
    let val = &mut settings.validation;
    match norm {
        "overlap" => {
            settings.overlap = match v.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => return Err(invalid(key, value, what)),
            }
        }
        "qa-fraction" => settings.qa_fraction = number(key, value, what, 0.0, 1.0)?,
        "blind" => {
            settings.blind = match v.to_ascii_lowercase().as_str() {
                "true" | "on" | "yes" => Some(true),
                "false" | "off" | "no" => Some(false),
                "auto" | "default" => None,
                _ => return Err(invalid(key, value, what)),
            }
        }
        "consensus" => {
            settings.consensus = match v.to_ascii_lowercase().replace('_', "-").as_str() {
                "unanimous" => ConsensusPolicy::Unanimous,
                "majority" => ConsensusPolicy::Majority,
                "dawid-skene" | "dawidskene" | "ds" => ConsensusPolicy::DawidSkene,
                _ => return Err(invalid(key, value, what)),
            }
        }
        "imbalance-ratio" => val.imbalance_ratio = number(key, value, what, 1.0, f64::MAX)?,
        "near-duplicate-distance" => {
            val.near_duplicate_distance = match v.parse::<u32>() {
                Ok(n) if n <= 64 => n,
                _ => return Err(invalid(key, value, what)),
            }
        }
        "min-agreement" => val.min_agreement = number(key, value, what, -1.0, 1.0)?,
        "drift-linf" => val.drift_linf = number(key, value, what, 0.0, 1.0)?,
        "drift-js" => val.drift_js = number(key, value, what, 0.0, 1.0)?,
        "size-outlier-factor" => val.size_outlier_factor = number(key, value, what, 1.0, f64::MAX)?,
        "min-box-area" => val.min_box_area = number(key, value, what, 0.0, f64::MAX)?,
        "suggestion-threshold" => {
            settings.suggestion_threshold = number(key, value, what, 0.0, 1.0)?
        }
        "claim-lease" => {
            settings.claim_lease = match v.parse::<u64>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(invalid(key, value, what)),
            }
        }
        _ => unreachable!("every name in KEYS is handled"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_refusals() {
        let mut s = Settings::default();
        set_by_name(&mut s, "overlap", "3").unwrap();
        set_by_name(&mut s, "QA_fraction", "0.25").unwrap();
        set_by_name(&mut s, "consensus", "dawid-skene").unwrap();
        set_by_name(&mut s, "validation.min_agreement", "0.8").unwrap();
        set_by_name(&mut s, "blind", "false").unwrap();
        assert_eq!(s.overlap, 3);
        assert_eq!(s.qa_fraction, 0.25);
        assert_eq!(s.consensus, ConsensusPolicy::DawidSkene);
        assert_eq!(s.validation.min_agreement, 0.8);
        assert_eq!(s.blind, Some(false));
        let before = s.clone();
        for (k, v) in [
            ("overlap", "0"),
            ("overlap", "two"),
            ("qa-fraction", "1.5"),
            ("qa-fraction", "NaN"),
            ("consensus", "vote"),
            ("blind", "maybe"),
            ("near-duplicate-distance", "65"),
            ("colour", "red"),
        ] {
            let e = set_by_name(&mut s, k, v).unwrap_err().to_string();
            assert!(e.contains(k) || e.contains(v), "{e}");
        }
        assert_eq!(s, before);
    }
}
