//! Samples with identical content (one content hash under several names, which arises when
//! copies of a project are merged): `CONFLICTING_DUPLICATES` when their final labels
//! differ, else `DUPLICATE_SAMPLES`.

use std::collections::BTreeSet;

use super::labels::final_label;
use super::{Finding, MAX_LISTED, Options, Severity, names_of, plural};
use crate::project::{ClassId, ConsensusPolicy, Project, Result, SampleId};
use crate::review::Resolution;

pub(super) fn check(
    project: &Project,
    options: &Options,
    policy: ConsensusPolicy,
    out: &mut Vec<Finding>,
) -> Result<()> {
    let conn = project.conn();
    let groups = project.hashes_with_several_samples()?;
    if groups.is_empty() {
        return Ok(());
    }
    let in_scope_sql = format!(
        "SELECT 1 FROM samples s WHERE s.id = ?1 AND {}",
        super::scope_condition(options)
    );
    let mut in_scope = conn.prepare(&in_scope_sql)?;

    let (mut conflicting, mut conflicting_groups, mut conflicting_listed) = (0u64, 0u64, vec![]);
    let (mut duplicate, mut duplicate_groups, mut duplicate_listed) = (0u64, 0u64, vec![]);
    for (_, ids) in groups {
        let mut members: Vec<SampleId> = Vec::with_capacity(ids.len());
        for id in ids {
            if in_scope.exists([id])? {
                members.push(id);
            }
        }
        if members.len() < 2 {
            continue;
        }
        members.sort_unstable();
        let mut labels: BTreeSet<Vec<ClassId>> = BTreeSet::new();
        for id in &members {
            if let Some(Resolution::Reviewed(l) | Resolution::Agreed(l)) =
                final_label(conn, policy, *id)?
            {
                labels.insert(l);
            }
        }
        let (count, groups, listed) = if labels.len() > 1 {
            (
                &mut conflicting,
                &mut conflicting_groups,
                &mut conflicting_listed,
            )
        } else {
            (&mut duplicate, &mut duplicate_groups, &mut duplicate_listed)
        };
        *count += members.len() as u64;
        *groups += 1;
        // Members of one group are listed next to each other.
        let room = MAX_LISTED.saturating_sub(listed.len());
        listed.extend(members.into_iter().take(room));
    }

    if conflicting > 0 {
        out.push(
            Finding::new(
                "CONFLICTING_DUPLICATES",
                Severity::Error,
                conflicting,
                format!(
                    "{} identical content in {} but different labels; give every copy \
                     the same label, or exclude the extra copies",
                    plural(conflicting, "sample has", "samples have"),
                    plural(conflicting_groups, "group", "groups")
                ),
            )
            .with_samples(names_of(project, &conflicting_listed)?),
        );
    }
    if duplicate > 0 {
        out.push(
            Finding::new(
                "DUPLICATE_SAMPLES",
                Severity::Warning,
                duplicate,
                format!(
                    "{} identical content under different names ({}); they land in one \
                     split, but weigh more in training: exclude the extra copies",
                    plural(duplicate, "sample has", "samples have"),
                    plural(duplicate_groups, "group", "groups")
                ),
            )
            .with_samples(names_of(project, &duplicate_listed)?),
        );
    }
    Ok(())
}
