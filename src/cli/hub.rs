//! `hub init | user add | user list | publish | fetch`, `join`, `sync`, `next` and `label`.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};

use super::{
    Cli, HubCommand, JoinArgs, JsonArg, LabelArgs, Outcome, UserCommand, open, print_json,
    terminal_safe,
};
use crate::hub::{self, HubUrl};
use crate::project::{NewEvent, Project};

pub fn hub(cli: &Cli, command: &HubCommand) -> anyhow::Result<Outcome> {
    match command {
        HubCommand::Init { url } => {
            let url = HubUrl::parse(url)?;
            let version = hub::init(&url)?;
            println!(
                "The hub at `{}` is ready (schema `keylabel`, version {version}; roles \
                 keylabel_annotator, keylabel_reviewer, keylabel_admin)",
                url.shown()
            );
        }
        HubCommand::User(UserCommand::Add { url, name, role }) => {
            let url = HubUrl::parse(url)?;
            let password = new_password(name)?;
            hub::add_user(&url, name, *role, &password)?;
            println!("Added the hub user `{name}` ({})", role.group());
        }
        HubCommand::User(UserCommand::List { url, json }) => {
            let users = hub::users(&HubUrl::parse(url)?)?;
            if *json {
                print_json(&users)?;
            } else if users.is_empty() {
                println!("No hub users yet (`keylabel hub user add URL NAME --role annotator`)");
            } else {
                for u in users {
                    println!("{:<24} {}", terminal_safe(&u.name), u.role.as_str());
                }
            }
        }
        HubCommand::Publish {
            url,
            name,
            with_files,
        } => {
            let mut project = open(cli)?;
            let url = HubUrl::parse(url)?;
            let p = hub::publish(
                &mut project,
                &url,
                name,
                *with_files,
                &super::progress::TerminalProgress::new(),
            )?;
            println!(
                "Published `{}` as `{name}` on `{}`: {} samples, {} events{}; it is now linked \
                 to the hub",
                project.path().display(),
                url.shown(),
                p.samples,
                p.events,
                if *with_files {
                    format!(", {} files", p.files)
                } else {
                    String::new()
                }
            );
        }
        HubCommand::Fetch { next, json } => fetch(cli, *next, *json)?,
        HubCommand::Cache { limit, json } => cache(cli, limit.as_deref(), *json)?,
    }
    Ok(Outcome::Exit(0))
}

/// The new hub user `name`'s password: typed twice, unseen, at a terminal; else all of
/// standard input but its final line break (a script pipes it in).
fn new_password(name: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let ask = |prompt: String| {
            rpassword::prompt_password(prompt).context("cannot read the password at the terminal")
        };
        let first = ask(format!("Password for the new hub user `{name}`: "))?;
        if first.is_empty() {
            bail!("no password typed: the hub user `{name}` was not added");
        }
        if ask("The same password again: ".into())? != first {
            bail!("the two passwords typed differ: the hub user `{name}` was not added");
        }
        return Ok(first);
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the new user's password from standard input")?;
    Ok(password.trim_end_matches(['\n', '\r']).to_string())
}

/// What `hub fetch` did.
#[derive(serde::Serialize)]
struct Fetched {
    /// Files brought from the hub now.
    fetched: u64,
    /// Images asked for, whose files are all in the cache now.
    images: u64,
}

/// The file source of `project`, refused when it does not fetch its files from a hub.
fn hub_files(project: &Project) -> anyhow::Result<std::sync::Arc<hub::files::HubFiles>> {
    hub::files::HubFiles::of(project)?.with_context(|| {
        format!(
            "`{}` does not fetch its files from a hub: it was joined with `--files`, or its \
             project was published without them",
            project.path().display()
        )
    })
}

fn size(bytes: u64) -> String {
    bytesize::ByteSize(bytes).to_string()
}

fn cache(cli: &Cli, limit: Option<&str>, json: bool) -> anyhow::Result<()> {
    let project = open(cli)?;
    let files = hub_files(&project)?;
    if let Some(limit) = limit {
        let limit = match limit {
            "none" => None,
            v => Some(
                v.parse::<bytesize::ByteSize>()
                    .map_err(|e| anyhow::anyhow!("`--limit {v}` is not a size ({e})"))?
                    .0,
            ),
        };
        hub::files::set_cache_limit(&project, limit)?;
    }
    let who = hub::replica_annotator(&project)?.unwrap_or_default();
    let ahead = hub::files::queue_ahead(&project, &who, hub::files::AHEAD)?;
    let keep = files.files_of(&project, &ahead)?;
    let state = files.trim(hub::files::cache_limit(&project)?, &keep)?;
    if json {
        return print_json(&state);
    }
    println!(
        "The cache `{}` holds {} ({}); its limit is {}",
        state.folder,
        crate::plural(state.files, "file", "files"),
        size(state.bytes),
        state.limit.map_or_else(|| "none".to_string(), size),
    );
    if state.removed_files > 0 {
        println!(
            "Removed {} ({}) needed longest ago: they are fetched again when needed",
            crate::plural(state.removed_files, "file", "files"),
            size(state.removed_bytes)
        );
    }
    if state.limit.is_some_and(|l| state.bytes > l) {
        println!(
            "It is over its limit with files of the samples to come or needed in the last \
             hour: those go at a later trim (each window trims once it is open)"
        );
    }
    Ok(())
}

fn fetch(cli: &Cli, next: Option<usize>, json: bool) -> anyhow::Result<()> {
    let project = open(cli)?;
    let files = hub_files(&project)?;
    let ids = match next {
        Some(n) => {
            let who = hub::replica_annotator(&project)?.unwrap_or_default();
            hub::files::queue_ahead(&project, &who, n)?
        }
        None => project.image_ids()?,
    };
    let fetched = files.fetch_samples(&project, &ids, usize::MAX)?;
    let mut images = 0;
    for chunk in ids.chunks(512) {
        images += project
            .samples_by_ids(chunk)?
            .iter()
            .filter(|s| s.kind == crate::project::SampleKind::Image)
            .count() as u64;
    }
    let out = Fetched { fetched, images };
    if json {
        print_json(&out)?;
    } else {
        println!(
            "Fetched {} into `{}`: the files of {} are there now",
            crate::plural(fetched, "file", "files"),
            files.cache().display(),
            crate::plural(images, "image", "images"),
        );
    }
    Ok(())
}

pub fn join(cli: &Cli, args: &JoinArgs) -> anyhow::Result<Outcome> {
    let local = cli.project_path();
    if local.exists() {
        bail!(
            "`{}` exists already: join makes a new replica (choose another -p)",
            local.display()
        );
    }
    let url = HubUrl::parse(&args.url)?;
    let j = hub::join(&url, &args.name, &local, args.files.as_deref())?;
    println!(
        "Joined `{}` on `{}` as `{}`: {} samples, {} events in `{}`",
        args.name,
        url.shown(),
        url.user(),
        j.samples,
        j.events,
        local.display()
    );
    if j.changed_files > 0 {
        eprintln!(
            "keylabel: {} sample files under `{}` are not the published ones (their content \
             differs), for example:",
            j.changed_files,
            args.files
                .as_deref()
                .unwrap_or_else(|| std::path::Path::new(""))
                .display()
        );
        for path in &j.changed {
            eprintln!("  {}", terminal_safe(path));
        }
        eprintln!(
            "keylabel: validation refuses them until they are; copy the files the project \
             was published from"
        );
    }
    if let Some(cache) = &j.fetched_into {
        println!(
            "Sample files are fetched from the hub when first needed, into `{}`",
            cache.display()
        );
    }
    match &args.files {
        Some(dir) if j.missing_files > 0 => println!(
            "{} sample files are not under `{}` (validation names them)",
            j.missing_files,
            dir.display()
        ),
        None if j.missing_files > 0 => println!(
            "The project was published without its files: put them beside the replica at \
             their published relative paths, or join again with `--files DIR` (validation \
             names the {} missing ones)",
            j.missing_files
        ),
        _ => {}
    }
    Ok(Outcome::Exit(0))
}

pub fn sync(cli: &Cli, args: &JsonArg) -> anyhow::Result<Outcome> {
    let mut project = open(cli)?;
    let s = hub::sync(&mut project, hub::Refused::Retry)?;
    for why in &s.refusals {
        eprintln!("keylabel: {why}");
    }
    if args.json {
        print_json(&s)?;
    } else {
        println!(
            "Pushed {} events, pulled {}; {} waiting for the hub",
            s.pushed,
            s.pulled,
            s.pending - s.refused
        );
        if s.refused > 0 {
            println!(
                "{} refused by the hub (named above): kept here, and offered again at the next \
                 `keylabel sync`",
                crate::plural(s.refused, "event", "events")
            );
        }
    }
    Ok(Outcome::Exit(0))
}

/// The annotator of a command that records decisions: on a linked replica its hub login
/// (refusing another name: the hub would refuse the events), else `--annotator` or the
/// default.
pub(super) fn annotator(cli: &Cli, project: &Project) -> anyhow::Result<String> {
    let Some(login) = hub::replica_annotator(project)? else {
        return Ok(cli.annotator_name());
    };
    if let Some(given) = cli.annotator.as_deref().filter(|a| !a.trim().is_empty())
        && given.trim() != login
    {
        bail!(
            "`{}` is a replica of the hub `{}`, where you label as your login `{login}`, not \
             `{given}`",
            project.path().display(),
            project.hub_link()?.map(|l| l.url).unwrap_or_default()
        );
    }
    Ok(login)
}

#[derive(serde::Serialize)]
struct Next {
    sample: Option<String>,
}

pub fn next(cli: &Cli, args: &JsonArg) -> anyhow::Result<Outcome> {
    let mut project = open(cli)?;
    let who = annotator(cli, &project)?;
    let id = match project.hub_link()? {
        // Offline (the hub unreachable), the local queue: extra labels that result are
        // ordinary overlap. A hub that answers with a refusal is an error, not offline.
        Some(_) => match hub::next(&mut project) {
            Ok(id) => id,
            Err(e) if !hub::is_unreachable(&e) => return Err(e),
            Err(e) => {
                eprintln!("keylabel: the hub is out of reach, using the local queue: {e:#}");
                project.next_for_annotator(&who, None)?
            }
        },
        None => project.next_for_annotator(&who, None)?,
    };
    let sample = match id {
        Some(id) => project.sample(id)?.map(|s| s.name),
        None => None,
    };
    if args.json {
        print_json(&Next { sample })?;
    } else {
        match sample {
            Some(name) => println!("{}", terminal_safe(&name)),
            None => println!("Nothing left to label for `{who}`"),
        }
    }
    Ok(Outcome::Exit(0))
}

pub fn label(cli: &Cli, args: &LabelArgs) -> anyhow::Result<Outcome> {
    let mut project = open(cli)?;
    let who = annotator(cli, &project)?;
    if project.task().is_detect() {
        bail!(
            "`label` gives classes; a detect project's labels are boxes (draw them in the window or use `import-labels`)"
        );
    }
    let sample = project
        .sample_by_name(&args.sample)?
        .with_context(|| format!("there is no sample named `{}`", args.sample))?;
    let mut ids = Vec::new();
    for name in args
        .classes
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let class = project
            .class_by_name(name)?
            .with_context(|| format!("there is no class named `{name}`"))?;
        ids.push(class.id);
    }
    ids.sort_unstable();
    ids.dedup();
    project.record(NewEvent::label(sample.id, &who, ids))?;
    // Committed locally first; the hub gets it now if it can, else at the next sync.
    if project.hub_link()?.is_some()
        && let Err(e) = hub::sync(&mut project, hub::Refused::Skip)
    {
        eprintln!("keylabel: the label is saved here and waits for the hub: {e:#}");
    }
    Ok(Outcome::Exit(0))
}
