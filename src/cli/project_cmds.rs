//! `init`, `classes`, `status`, `history` and `merge`.

use super::{
    ClassesCommand, Cli, HistoryArgs, InitArgs, JsonArg, MergeArgs, Outcome, TaskArg, open,
    open_sound, print_json,
};
use crate::hub::classes::Change;
use crate::project::{Project, TaskKind};

pub fn init(cli: &Cli, args: &InitArgs) -> anyhow::Result<Outcome> {
    let path = cli.project_path();
    let task = match (args.task, args.multi_label) {
        (TaskArg::Detect, true) => anyhow::bail!(
            "--multi-label is a classification option: a detect project's boxes each have \
             one class, and an image any number of boxes"
        ),
        (TaskArg::Detect, false) => TaskKind::Detect,
        (TaskArg::Classify, true) => TaskKind::MultiLabel,
        (TaskArg::Classify, false) => TaskKind::SingleLabel,
    };
    let project = Project::create(&path, &args.classes, task)?;
    let classes = project.classes()?;
    println!(
        "Created {} project `{}` with {} classes:",
        task.as_str(),
        path.display(),
        classes.len()
    );
    for c in classes {
        println!("  [{}] {}", c.key.as_deref().unwrap_or(" "), c.name);
    }
    Ok(Outcome::Exit(0))
}

pub fn classes(cli: &Cli, cmd: &ClassesCommand) -> anyhow::Result<Outcome> {
    let mut project = open(cli)?;
    match cmd {
        ClassesCommand::List(a) => {
            let status = project.status()?;
            let classes = project.classes()?;
            if a.json {
                let rows: Vec<serde_json::Value> = classes
                    .iter()
                    .zip(&status.classes)
                    .map(|(c, s)| {
                        serde_json::json!({
                            "name": c.name, "key": c.key, "color": c.color,
                            "archived": c.archived, "count": s.count,
                        })
                    })
                    .collect();
                print_json(&serde_json::json!({
                    "task": status.task,
                    "multi_label": status.multi_label,
                    "classes": rows,
                }))?;
            } else {
                for (c, s) in classes.iter().zip(&status.classes) {
                    println!(
                        "[{}] {:<24} {} {:>9}{}",
                        c.key.as_deref().unwrap_or(" "),
                        c.name,
                        c.color,
                        s.count,
                        if c.archived { "  (archived)" } else { "" }
                    );
                }
            }
        }
        ClassesCommand::Add { name, key, color } => {
            let c = crate::hub::classes::change(
                &mut project,
                &Change::Add {
                    name: name.clone(),
                    key: key.clone(),
                    color: color.clone(),
                },
            )?;
            println!(
                "Added class `{}` (key {})",
                c.name,
                c.key.as_deref().unwrap_or("none")
            );
        }
        ClassesCommand::Rename { old, new } => {
            let c = crate::hub::classes::change(
                &mut project,
                &Change::Rename {
                    old: old.clone(),
                    new: new.clone(),
                },
            )?;
            println!("Renamed `{old}` to `{}`; its labels follow", c.name);
        }
        ClassesCommand::Archive { name } => {
            crate::hub::classes::change(&mut project, &Change::Archive { name: name.clone() })?;
            println!("Archived `{name}`: no longer offered for labeling; its labels are kept");
        }
    }
    if !matches!(cmd, ClassesCommand::List(_))
        && let Some(link) = project.hub_link()?
    {
        println!(
            "Changed on the hub project `{}`: every replica takes it in at its next sync",
            link.name
        );
    }
    Ok(Outcome::Exit(0))
}

pub fn status(cli: &Cli, args: &JsonArg) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let s = project.status()?;
    if args.json {
        print_json(&s)?;
        return Ok(Outcome::Exit(0));
    }
    println!("{} ({})", project.path().display(), project.task().as_str());
    let pct = |n: u64| {
        if s.samples == 0 {
            0.0
        } else {
            100.0 * n as f64 / s.samples as f64
        }
    };
    println!(
        "samples   {:>10}  ({} image, {} text)",
        s.samples,
        s.kinds.get("image").copied().unwrap_or(0),
        s.kinds.get("text").copied().unwrap_or(0)
    );
    for (name, n) in [
        ("labeled", s.labeled),
        ("unlabeled", s.unlabeled),
        ("skipped", s.skipped),
        ("excluded", s.excluded),
        ("flagged", s.flagged),
    ] {
        println!("{name:<9} {n:>10}  {:5.1}%", pct(n));
    }
    match s.boxes {
        Some(boxes) => println!("boxes     {boxes:>10}\nclasses (boxes of each)"),
        None => println!("classes"),
    }
    for c in &s.classes {
        println!(
            "  [{}] {:<24} {:>9}{}",
            c.key.as_deref().unwrap_or(" "),
            c.name,
            c.count,
            if c.archived { "  (archived)" } else { "" }
        );
    }
    if !s.annotators.is_empty() {
        println!("annotators");
        for a in &s.annotators {
            println!("  {:<28} {:>9}", a.name, a.labels);
        }
    }
    if let Some(h) = &s.hub {
        println!(
            "hub       {} at {}, last synced {}",
            h.name,
            h.url,
            h.last_sync.as_deref().unwrap_or("never")
        );
        println!("  waiting  {:>10}", h.pending - h.refused);
        if h.refused > 0 {
            println!(
                "  refused  {:>10}  (kept here; `keylabel sync` names why and offers them again)",
                h.refused
            );
        }
    }
    Ok(Outcome::Exit(0))
}

pub fn history(cli: &Cli, args: &HistoryArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let sample = match &args.sample {
        Some(name) => Some(
            project
                .find_sample(name)?
                .ok_or_else(|| anyhow::anyhow!("no sample named `{name}` in this project"))?,
        ),
        None => None,
    };
    let events = project.history(sample.as_ref().map(|s| s.id))?;
    if args.json {
        print_json(&events)?;
        return Ok(Outcome::Exit(0));
    }
    if let Some(s) = &sample {
        let aliases = project.aliases_of(s.id)?;
        if !aliases.is_empty() {
            let names: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
            let line = format!(
                "`{}`, also imported as {} (the same content)",
                s.name,
                names.join(", ")
            );
            println!("{}", super::terminal_safe(&line));
        }
    }
    let class_names: std::collections::HashMap<crate::project::ClassId, String> = project
        .classes()?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    for e in &events {
        let mut line = format!(
            "{}  {:<12} {:<9} {:<8} {}",
            e.at,
            e.annotator,
            e.kind.as_str(),
            e.source.as_str(),
            e.sample
        );
        match &e.boxes {
            Some(boxes) => line.push_str(&format!("  {}", boxes_line(boxes, &class_names))),
            None if !e.labels.is_empty() => {
                line.push_str(&format!("  [{}]", e.labels.join("|")));
            }
            None => {}
        }
        if let Some(score) = e.score {
            line.push_str(&format!("  score {score:.3}"));
        }
        if let Some(note) = &e.note {
            line.push_str(&format!("  \"{note}\""));
        }
        if let Some(ms) = e.spent_ms {
            line.push_str(&format!("  {:.1}s", ms as f64 / 1000.0));
        }
        if e.undone {
            line.push_str("  (undone)");
        }
        println!("{}", super::terminal_safe(&line));
    }
    if events.is_empty() {
        println!("no events");
    }
    Ok(Outcome::Exit(0))
}

/// A detect decision as `history` prints it: "no objects", or its boxes (class, then
/// x, y, width × height in stored pixels; a suggestion's score), the first few of many.
fn boxes_line(
    boxes: &[crate::project::BoundingBox],
    names: &std::collections::HashMap<crate::project::ClassId, String>,
) -> String {
    const SHOWN: usize = 6;
    if boxes.is_empty() {
        return "no objects".into();
    }
    let mut parts: Vec<String> = boxes
        .iter()
        .take(SHOWN)
        .map(|b| {
            let class = names
                .get(&b.class)
                .cloned()
                .unwrap_or_else(|| format!("#{}", b.class));
            let score = b.score.map(|s| format!(" {s:.2}")).unwrap_or_default();
            format!("{class}{score} ({}, {}, {}×{})", b.x, b.y, b.w, b.h)
        })
        .collect();
    if boxes.len() > SHOWN {
        parts.push(format!("and {} more", boxes.len() - SHOWN));
    }
    format!(
        "{}: {}",
        crate::plural(boxes.len() as u64, "box", "boxes"),
        parts.join(", ")
    )
}

pub fn backup(cli: &Cli, args: &super::BackupArgs) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    project.backup_to(&args.dest)?;
    println!("{}", args.dest.display());
    Ok(Outcome::Exit(0))
}

/// `recover`: copies what can be read into a new file and says what was copied; exit 0
/// when every row was read, 1 when some could not be.
pub fn recover(cli: &Cli, args: &super::RecoverArgs) -> anyhow::Result<Outcome> {
    let damaged = cli.project_path();
    let report = crate::Project::recover(&damaged, &args.dest)?;
    let code = if report.complete() { 0 } else { 1 };
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Exit(code));
    }
    println!(
        "Copied what could be read of `{}` into `{}`:",
        damaged.display(),
        args.dest.display()
    );
    for t in &report.tables {
        let mut line = format!(
            "  {:<15} {}",
            t.table,
            crate::plural(t.copied, "row", "rows")
        );
        if t.unreadable > 0 {
            let rows = crate::plural(t.unreadable, "unreadable row", "unreadable rows");
            line.push_str(&format!(", {rows} left out"));
        }
        if let Some(why) = &t.lost {
            line.push_str(&format!(", and possibly more: {why}"));
        }
        println!("{line}");
    }
    println!(
        "{}",
        if report.sound {
            "The new file is sound. Check it (`keylabel -p NEW status`, `validate`), then \
             `merge` other copies of the project into it to bring back what was lost."
        } else {
            "The new file does not pass SQLite's integrity check: keep both files and ask \
             for help."
        }
    );
    Ok(Outcome::Exit(code))
}

/// `check`: exit 0 when the file is sound, 1 with what is wrong and what to do.
pub fn check(cli: &Cli) -> anyhow::Result<Outcome> {
    let project = open(cli)?;
    let damage = project.damage(false)?;
    let path = project.path().display().to_string();
    if damage.is_empty() {
        println!("`{path}` is sound: every page and index checked");
        return Ok(Outcome::Exit(0));
    }
    println!("`{path}` is damaged:");
    for d in &damage {
        println!("  {d}");
    }
    println!(
        "Keep a copy of the file as it is. Restore the project from a backup \
         (`keylabel backup`) or a team member's copy, or copy what can be read into a new \
         file (`keylabel -p {path} recover NEW.keylabel`), then `merge` the other copies to \
         bring back their labels. Do not label in the damaged file: what is written there \
         may be lost."
    );
    Ok(Outcome::Exit(1))
}

pub fn merge(cli: &Cli, args: &MergeArgs) -> anyhow::Result<Outcome> {
    let mut project = open_sound(cli)?;
    for other in &args.others {
        let r = project.merge_from(other)?;
        println!(
            "{}: {} new events, {} new samples, {} samples updated",
            other.display(),
            r.events_added,
            r.samples_added,
            r.samples_touched
        );
    }
    Ok(Outcome::Exit(0))
}
