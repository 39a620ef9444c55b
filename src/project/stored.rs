//! How keylabel's own values are stored in the project file, in one place: each enum as
//! one text per variant (written with `ToSql`, read back with `FromSql`), label lists as
//! JSON arrays of class ids.
//!
//! A stored value this keylabel does not understand (written by a newer keylabel, or by
//! hand) is an error that names the table, the row and the value. It never becomes a
//! default: reading `kind = 'bogus'` as a suggestion, or unreadable labels as "no labels",
//! would silently change what the project says.

use std::fmt::Display;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use strum::IntoEnumIterator;

/// A value in the project file that this keylabel does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the project file holds {what} `{value}` in table `{table}`, {row}, which this keylabel \
     does not know (the file was written by a newer keylabel, or edited by hand); nothing \
     was changed"
)]
pub struct UnknownValue {
    pub table: &'static str,
    /// Which row, e.g. `row 17` or `event 0192…`.
    pub row: String,
    pub what: &'static str,
    pub value: String,
}

impl UnknownValue {
    fn new(what: &'static str, value: impl Into<String>) -> UnknownValue {
        UnknownValue {
            table: "?",
            row: "row ?".into(),
            what,
            value: value.into(),
        }
    }
}

impl From<UnknownValue> for rusqlite::Error {
    fn from(u: UnknownValue) -> rusqlite::Error {
        rusqlite::Error::UserFunctionError(Box::new(u))
    }
}

/// An enum stored as one text per variant.
pub trait StoredEnum: Sized + Copy + IntoEnumIterator + 'static {
    /// What the value is, for messages ("event kind").
    const WHAT: &'static str;

    /// The stored text.
    fn as_str(self) -> &'static str;

    /// The variant stored as `text`.
    fn from_stored(text: &str) -> Option<Self> {
        Self::iter().find(|v| v.as_str() == text)
    }
}

/// Makes an enum with an `as_str` a [`StoredEnum`] named `$what`, with `ToSql` / `FromSql`.
macro_rules! stored_enum {
    ($ty:ty, $what:literal) => {
        impl StoredEnum for $ty {
            const WHAT: &'static str = $what;
            fn as_str(self) -> &'static str {
                <$ty>::as_str(self)
            }
        }

        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(StoredEnum::as_str(*self)))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$ty as StoredEnum>::from_stored(text).ok_or_else(|| {
                    FromSqlError::Other(Box::new(UnknownValue::new(
                        <$ty as StoredEnum>::WHAT,
                        text,
                    )))
                })
            }
        }
    };
}

stored_enum!(super::EventKind, "the event kind");
stored_enum!(super::Source, "the event source");
stored_enum!(super::SampleKind, "the sample kind");
stored_enum!(super::SampleStatus, "the sample status");
stored_enum!(super::TaskKind, "the task");

/// Declares a row id of one table: a newtype over the stored integer, so a sample's id
/// cannot be passed where a class's is meant. Stored and serialised as the bare integer.
macro_rules! stored_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_i64().map($name)
            }
        }
    };
}

stored_id!(
    /// A sample's row id in `samples`.
    SampleId
);
stored_id!(
    /// A class's row id in `classes`; labels refer to classes by it, so renaming keeps them.
    ClassId
);

/// Column `idx` of `r`, naming `table` and `row` when the stored value is not understood.
pub(crate) fn get<T: FromSql>(
    r: &rusqlite::Row<'_>,
    idx: usize,
    table: &'static str,
    row: impl Display,
) -> rusqlite::Result<T> {
    r.get(idx).map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, inner) => {
            match inner.downcast::<UnknownValue>() {
                Ok(mut u) => {
                    u.table = table;
                    u.row = row.to_string();
                    rusqlite::Error::UserFunctionError(u)
                }
                Err(inner) => rusqlite::Error::FromSqlConversionFailure(
                    idx,
                    rusqlite::types::Type::Text,
                    inner,
                ),
            }
        }
        other => other,
    })
}

/// A stored label list (a JSON array of class ids).
pub(crate) fn labels(
    json: &str,
    table: &'static str,
    row: impl Display,
) -> Result<Vec<ClassId>, UnknownValue> {
    serde_json::from_str(json).map_err(|_| UnknownValue {
        table,
        row: row.to_string(),
        what: "a label list",
        value: json.to_string(),
    })
}

/// A table row's stored feature columns (a JSON object), when it has them.
pub(crate) fn features(
    json: Option<String>,
    row: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, UnknownValue> {
    json.map(|f| {
        serde_json::from_str(&f).map_err(|_| UnknownValue {
            table: "samples",
            row: row.to_string(),
            what: "the feature columns",
            value: f,
        })
    })
    .transpose()
}

/// The stored text of a label list: sorted, without repeats.
pub(crate) fn labels_to_json(labels: &[ClassId]) -> String {
    let mut sorted: Vec<ClassId> = labels.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    serde_json::to_string(&sorted).unwrap_or_else(|_| "[]".into())
}

/// A rusqlite error as an `anyhow` error, with an unknown stored value lifted out so that
/// its message is said once.
pub(crate) fn lift(e: rusqlite::Error) -> anyhow::Error {
    match e {
        rusqlite::Error::UserFunctionError(inner) => match inner.downcast::<UnknownValue>() {
            Ok(u) => anyhow::Error::new(*u),
            Err(inner) => anyhow::Error::new(rusqlite::Error::UserFunctionError(inner)),
        },
        other => anyhow::Error::new(other),
    }
}
