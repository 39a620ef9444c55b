//! `EMPTY_TEXT`: text samples whose text is empty or only whitespace.

use super::{Finding, MAX_LISTED, Options, Severity, names_of, plural};
use crate::project::{Project, Result, SampleId};

/// Must stay identical to the condition of the `samples_empty_text` partial index
/// (migration 2), so that SQLite answers from the index instead of reading every row.
/// The characters are Unicode's White_Space set, the one Rust's `str::trim` uses.
const EMPTY_TEXT: &str = "kind = 'text' AND trim(coalesce(text, ''), char(9, 10, 11, 12, 13, \
     32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, \
     8232, 8233, 8239, 8287, 12288)) = ''";

pub(super) fn empty_text(
    project: &Project,
    options: &Options,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let sql = format!(
        "SELECT s.id FROM samples s INDEXED BY samples_empty_text WHERE {EMPTY_TEXT} AND {} \
         ORDER BY s.id",
        super::scope_condition(options)
    );
    let mut stmt = project.conn().prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut count = 0u64;
    let mut ids: Vec<SampleId> = Vec::new();
    while let Some(r) = rows.next()? {
        count += 1;
        if ids.len() < MAX_LISTED {
            ids.push(r.get(0)?);
        }
    }
    if count > 0 {
        out.push(
            Finding::new(
                "EMPTY_TEXT",
                Severity::Warning,
                count,
                format!(
                    "{} no text (empty or only whitespace); check the text column of the \
                     import, or exclude them",
                    plural(count, "text sample has", "text samples have")
                ),
            )
            .with_samples(names_of(project, &ids)?),
        );
    }
    Ok(())
}
