//! Claims: which sample the hub hands an annotator next.
//!
//! Every sample has a row in `keylabel.queue` with who has decided it and who holds a
//! claim (annotator → end of the lease). `next` takes the first sample this annotator has
//! not decided whose decisions and live claims by others are fewer than the overlap,
//! locking its row with `FOR UPDATE SKIP LOCKED`, and writes the claim in that same row:
//! a concurrent claimer skips the locked row, and one that reaches it after the commit
//! sees the new claim (PostgreSQL re-checks a locked row's condition on its newest
//! version), so no sample is handed to more annotators than the overlap at once. A label
//! ends the claim (the hub's trigger), an expired claim is offered again. The samples the
//! project's QA fraction selects are offered to one annotator more, as the local queue
//! does (each row keeps the [`crate::project::qa_rank`] of its sample's content).
//!
//! Each row also holds how many decisions its sample needs (`need`: the overlap, one more
//! when the QA fraction selects it), set when the sample reaches the hub and again when an
//! admin changes the overlap or the fraction ([`set_need`]). The search walks a partial
//! index of the rows with fewer decisions than their need, so it never passes a sample
//! already decided by enough annotators: a claim costs the same at the end of a
//! million-sample project as at its start, with a QA fraction or without. It passes only
//! samples this annotator decided whose need is unfilled and those claimed by others.

use anyhow::Result;

use crate::project::Settings;

/// How many annotators the project wants per sample, and for how long a claim holds.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub overlap: u32,
    /// The largest QA rank the project's QA fraction selects (see
    /// [`crate::project::qa_threshold`]).
    pub qa_threshold: Option<i64>,
    pub lease_secs: u64,
}

impl Rule {
    pub fn of(settings: &Settings) -> Rule {
        Rule {
            overlap: settings.overlap.max(1),
            qa_threshold: crate::project::qa_threshold(settings.qa_fraction),
            lease_secs: settings.claim_lease,
        }
    }

    /// Whether `other` asks a different number of decisions of some sample.
    pub fn needs_differ(&self, other: &Rule) -> bool {
        (self.overlap, self.qa_threshold) != (other.overlap, other.qa_threshold)
    }
}

/// The SQL expression of the need of a sample of QA rank `rank` under the rule whose
/// overlap and QA threshold are the statement's parameters `overlap` and `threshold`
/// (`keylabel.need_of`, hub schema 8).
pub fn need_sql(overlap: &str, threshold: &str, rank: &str) -> String {
    format!("keylabel.need_of({overlap}::bigint, {threshold}::bigint, {rank})")
}

/// Sets the need of every sample of hub project `project` as `rule` says (after an admin
/// changed the overlap or the QA fraction; a claim held on a sample no longer needed
/// stays until its lease ends or a label ends it).
pub fn set_need(
    client: &mut impl postgres::GenericClient,
    project: i64,
    rule: &Rule,
) -> Result<u64> {
    let need = need_sql("$2", "$3", "qa_rank");
    Ok(client.execute(
        &format!(
            "UPDATE keylabel.queue SET need = {need} \
             WHERE project_id = $1 AND need IS DISTINCT FROM {need}"
        ),
        &[&project, &i64::from(rule.overlap), &rule.qa_threshold],
    )?)
}

/// The live claims this hub user holds in hub project `project`, in queue order, after
/// claiming `showing` (the sample on screen, when the annotator chose it), renewing the
/// claims' leases to the rule's lease, giving back those beyond `showing` and the next
/// ones up to `ahead`, and claiming more until they hold `ahead` (or nothing more is free
/// for them). The window keeps the sample on screen and the next one claimed this way, so
/// that it moves on to a claimed sample without waiting for the hub; an open window renews
/// its claims at every sync, a closed one lets them expire.
pub fn claim_ahead(
    client: &mut postgres::Client,
    project: i64,
    rule: &Rule,
    ahead: usize,
    showing: Option<i64>,
) -> Result<Vec<i64>> {
    let lease = rule.lease_secs as f64;
    if let Some(sample) = showing {
        // Chosen by the annotator (opened from the grid, say): claimed whatever the
        // overlap, as their label on it counts anyway, so that the hub hands it to nobody
        // else while it is on their screen. Not when they have decided it.
        client.execute(
            "UPDATE keylabel.queue q
                SET claims = q.claims || jsonb_build_object(current_user::text,
                        (now() + make_interval(secs => $3::double precision))::text)
              WHERE q.project_id = $1 AND q.sample_id = $2
                AND NOT (current_user::text = ANY(q.decided_by))",
            &[&project, &sample, &lease],
        )?;
    }
    let mut held: Vec<i64> = client
        .query(
            "UPDATE keylabel.queue q
                SET claims = q.claims || jsonb_build_object(current_user::text,
                        (now() + make_interval(secs => $2::double precision))::text)
              WHERE q.project_id = $1 AND q.claims ? current_user::text
                AND (q.claims ->> current_user::text)::timestamptz > now()
                AND NOT (current_user::text = ANY(q.decided_by))
             RETURNING q.sample_id",
            &[&project, &lease],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    held.sort_unstable();
    // A sample left undecided for one chosen elsewhere goes back to the others: beyond the
    // one on screen, only the first ones up to `ahead` stay held.
    let on_screen = showing.filter(|s| held.contains(s));
    let keep = ahead.saturating_sub(usize::from(on_screen.is_some()));
    let extra: Vec<i64> = held
        .iter()
        .copied()
        .filter(|&h| Some(h) != on_screen)
        .skip(keep)
        .collect();
    if !extra.is_empty() {
        client.execute(
            "UPDATE keylabel.queue SET claims = claims - current_user::text
              WHERE project_id = $1 AND sample_id = ANY($2)",
            &[&project, &extra],
        )?;
        held.retain(|h| !extra.contains(h));
    }
    while held.len() < ahead {
        match claim_one_more(client, project, rule)? {
            Some(id) => held.push(id),
            None => break,
        }
    }
    held.sort_unstable();
    Ok(held)
}

/// Claims one sample for the hub user of `client` in hub project `project`, for `rule`'s
/// lease: the first one whose decisions and live claims by others are fewer than its need
/// and that they have neither decided nor claimed already; `None` when nothing is left
/// for them.
fn claim_one_more(client: &mut postgres::Client, project: i64, rule: &Rule) -> Result<Option<i64>> {
    // Whether sample row `w` still needs an annotator and this user may be the one. The
    // first condition is the partial index's, so that PostgreSQL walks only open rows.
    let open = "cardinality(w.decided_by) < w.need
        AND w.project_id = $1 AND NOT (current_user::text = ANY(w.decided_by))
        AND NOT (w.claims ? current_user::text
                 AND (w.claims ->> current_user::text)::timestamptz > now())
        AND cardinality(w.decided_by)
            + (SELECT count(*) FROM jsonb_each(w.claims) c
                WHERE c.key <> current_user AND (c.value #>> '{}')::timestamptz > now())
            < w.need";
    let claim = format!(
        "UPDATE keylabel.queue q
            SET claims = (SELECT coalesce(jsonb_object_agg(c.key, c.value), '{{}}'::jsonb)
                            FROM jsonb_each(q.claims) c
                           WHERE c.key <> current_user
                             AND (c.value #>> '{{}}')::timestamptz > now())
                         || jsonb_build_object(current_user::text,
                                (now() + make_interval(secs => $2::double precision))::text)
          WHERE q.project_id = $1 AND q.sample_id = (
              SELECT w.sample_id FROM keylabel.queue w WHERE {open}
               ORDER BY w.sample_id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING q.sample_id"
    );
    let any_open = format!("SELECT EXISTS (SELECT 1 FROM keylabel.queue w WHERE {open})");
    let lease = rule.lease_secs as f64;
    // A row re-checked under the lock and no longer matching leaves the sub-select empty
    // although other samples are free: ask again while any sample could still be free.
    for _ in 0..20 {
        if let Some(r) = client.query_opt(&claim, &[&project, &lease])? {
            return Ok(Some(r.get(0)));
        }
        let open: bool = client.query_one(&any_open, &[&project])?.get(0);
        if !open {
            return Ok(None);
        }
        // Free samples locked by claimers in flight: their transactions are short.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(None)
}

/// Gives up every claim the hub user of `client` holds in hub project `project` (a
/// window closing): the samples are offered to others at once, not after the lease.
pub fn release(client: &mut postgres::Client, project: i64) -> Result<u64> {
    Ok(client.execute(
        "UPDATE keylabel.queue SET claims = claims - current_user::text
          WHERE project_id = $1 AND claims ? current_user::text",
        &[&project],
    )?)
}
