//! The `keylabel` command line: argument definitions and dispatch. Each command's work is
//! done by the core library; the handlers here only parse, call and print.

mod export;
mod hub;
mod import;
mod progress;
mod project_cmds;
mod review;
mod validate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The project file used when `-p` is not given.
pub const DEFAULT_PROJECT: &str = "keylabel.db";

#[derive(Debug, Parser)]
#[command(
    name = "keylabel",
    version,
    about = "Keyboard-first labeling of machine-learning data, with validated export to TFX",
    long_about = "Keyboard-first labeling of machine-learning data, with validated export to \
                  TFX.\n\nWithout a command, opens the labeling window."
)]
pub struct Cli {
    /// The project file (default `keylabel.db` in the current folder).
    #[arg(short = 'p', long = "project", global = true, value_name = "FILE")]
    pub project: Option<PathBuf>,

    /// Who is labeling (default: $KEYLABEL_ANNOTATOR, else the OS user name).
    #[arg(long, global = true, value_name = "NAME", env = "KEYLABEL_ANNOTATOR")]
    pub annotator: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    pub fn project_path(&self) -> PathBuf {
        self.project
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PROJECT))
    }

    pub fn annotator_name(&self) -> String {
        crate::annotator_name(self.annotator.as_deref())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project file.
    Init(InitArgs),
    /// List or change the label classes.
    #[command(subcommand)]
    Classes(ClassesCommand),
    /// Import images (folders are walked) and CSV / JSON Lines rows.
    Import(ImportArgs),
    /// Import labels or model suggestions from a CSV or JSON Lines file.
    ImportLabels(ImportLabelsArgs),
    /// Counts of samples, labels, classes and annotators.
    Status(JsonArg),
    /// The event log of one sample, or of the whole project.
    History(HistoryArgs),
    /// Add the events of other copies of this project.
    Merge(MergeArgs),
    /// Write a complete copy of the project file, safe while the window has it open.
    Backup(BackupArgs),
    /// Check every page and index of the project file for damage.
    Check,
    /// Copy what can still be read out of a damaged project file into a new one.
    Recover(RecoverArgs),
    /// Check the whole project before export.
    Validate(ValidateArgs),
    /// Write a validated dataset for TFX (TFRecord, CSV or JSON Lines; for a detect project
    /// also COCO, Pascal VOC or YOLO).
    Export(ExportArgs),
    /// Inter-annotator agreement.
    Agreement(AgreementArgs),
    /// Per-annotator statistics.
    Annotators(JsonArg),
    /// Show the project settings as JSON, or change one with `settings set KEY VALUE`.
    Settings(SettingsArgs),
    /// A team hub on PostgreSQL: create it, add users, publish a project on it.
    #[command(subcommand)]
    Hub(HubCommand),
    /// Make a new local replica (`-p FILE`) of a project on a team hub.
    Join(JoinArgs),
    /// Push this replica's new events to its hub and pull the hub's.
    Sync(JsonArg),
    /// The next sample to label, as the window would show it (claimed on a linked hub).
    Next(JsonArg),
    /// Record a human label, exactly as one key press in the window would.
    Label(LabelArgs),
    /// Open the labeling window.
    Gui,
    /// Open the built-in demo project in the labeling window.
    Demo,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read and hash every image file again, also those that a previous validation found
    /// intact and whose size, times and inode have not changed since.
    #[arg(long)]
    pub rehash: bool,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Class names in order, separated by commas (names may start with `-`).
    #[arg(
        long,
        required = true,
        value_delimiter = ',',
        allow_hyphen_values = true,
        num_args = 1
    )]
    pub classes: Vec<String>,
    /// What a label is: classes of a whole sample (`classify`), or boxes of classes on an
    /// image (`detect`).
    #[arg(long, value_enum, default_value_t = TaskArg::Classify)]
    pub task: TaskArg,
    /// Each sample may have several classes (classification only).
    #[arg(long)]
    pub multi_label: bool,
}

/// `init --task`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskArg {
    Classify,
    Detect,
}

#[derive(Debug, Subcommand)]
pub enum ClassesCommand {
    /// List the classes with their hotkeys, colours and counts.
    List(JsonArg),
    /// Add a class at the end.
    Add {
        #[arg(allow_hyphen_values = true)]
        name: String,
        /// Hotkey (default: the next free of 1…9, 0).
        #[arg(long)]
        key: Option<String>,
        /// Colour as #rrggbb.
        #[arg(long)]
        color: Option<String>,
    },
    /// Rename a class; its labels follow.
    Rename {
        #[arg(allow_hyphen_values = true)]
        old: String,
        #[arg(allow_hyphen_values = true)]
        new: String,
    },
    /// Stop offering a class for labeling; its labels are kept.
    Archive {
        #[arg(allow_hyphen_values = true)]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Image files, folders (walked recursively) and CSV / JSON Lines files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The column shown to the annotator for table rows.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// The column whose value names a row (default: file name and row number).
    #[arg(long)]
    pub id_column: Option<String>,
    /// An image's parent folder, when it names a class, becomes an imported label.
    #[arg(long)]
    pub labels_from_folders: bool,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportLabelsArgs {
    /// CSV or JSON Lines with `sample`, `label`, optional `annotator` and `score`; for a
    /// detect project, a COCO JSON file or a folder of Pascal VOC or YOLO files.
    pub file: PathBuf,
    /// The box format of a detect project's input (default: recognised by its content).
    #[arg(long, value_enum)]
    pub format: Option<crate::ingest::BoxFormat>,
    /// Store model suggestions for annotators to confirm, not labels.
    #[arg(long)]
    pub as_suggestions: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A sample name (as imported); all events when omitted.
    pub sample: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The copy to write (refused when it exists).
    pub dest: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The new project file to write (refused when it exists).
    pub dest: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Other copies of this project.
    #[arg(required = true)]
    pub others: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Tfrecord,
    Csv,
    Jsonl,
    /// Detect projects: COCO annotations and the images.
    Coco,
    /// Detect projects: Pascal VOC XML files and the images.
    Voc,
    /// Detect projects: YOLO label files, the images and `data.yaml`.
    Yolo,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The dataset folder to create.
    #[arg(long)]
    pub out: PathBuf,
    /// Split names and weights.
    #[arg(long, default_value = "train=8,eval=2")]
    pub split: String,
    /// Seed of the split assignment.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// GZIP-compress TFRecord files (`.tfrecord.gz`).
    #[arg(long)]
    pub gzip: bool,
    /// TFRecord files per split.
    #[arg(long, default_value_t = 1)]
    pub shards: u32,
    /// Export the labeled subset; unlabeled samples become a warning.
    #[arg(long)]
    pub only_labeled: bool,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct AgreementArgs {
    #[arg(long)]
    pub json: bool,
    /// Per-class (one-vs-rest) alpha and a confusion matrix per annotator pair.
    #[arg(long)]
    pub by_class: bool,
    /// Detect projects: the IoU two boxes need to match.
    #[arg(long, default_value_t = crate::review::box_agreement::DEFAULT_IOU)]
    pub iou: f64,
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub action: Option<SettingsAction>,
}

#[derive(Debug, Subcommand)]
pub enum SettingsAction {
    /// Change one setting: overlap, qa-fraction, blind (true|false|auto), consensus
    /// (unanimous|majority|dawid-skene), imbalance-ratio, near-duplicate-distance,
    /// min-agreement, drift-linf, drift-js, size-outlier-factor.
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Create (or migrate) the hub schema `keylabel` and its roles; idempotent.
    Init {
        /// `postgres://user@host:port/dbname` (password from PGPASSWORD or ~/.pgpass).
        url: String,
    },
    /// Hub users (PostgreSQL login roles).
    #[command(subcommand)]
    User(UserCommand),
    /// Put the local project (`-p`) on the hub as NAME, and link it.
    Publish {
        url: String,
        #[arg(long)]
        name: String,
        /// Also store every sample file's bytes on the hub.
        #[arg(long)]
        with_files: bool,
    },
    /// Fetch the sample files of the replica (`-p`) from the hub into its cache now, to
    /// label with the hub out of reach: every image's, or the next N of this annotator's
    /// queue.
    Fetch {
        #[arg(long, value_name = "N")]
        next: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Show the replica's (`-p`) cache of files fetched from the hub and keep it within
    /// its limit (10 GiB unless set): the files needed longest ago go first, never those of
    /// the samples to come nor one needed in the last hour; `--limit 50GB`, `--limit 2GiB`
    /// or `--limit none` sets it.
    Cache {
        #[arg(long, value_name = "SIZE")]
        limit: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        url: String,
        name: String,
        #[arg(long, value_enum)]
        role: crate::hub::Role,
    },
    /// List the hub's users and their roles.
    List {
        url: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    pub url: String,
    /// The project's name on the hub.
    #[arg(long)]
    pub name: String,
    /// Where the sample files are (matched by their relative path).
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The sample's name.
    pub sample: String,
    /// The class, or several separated by `|` (multi-label).
    #[arg(allow_hyphen_values = true)]
    pub classes: String,
}

/// What a command asks of `main` after it ran.
pub enum Outcome {
    /// Exit with this code.
    Exit(i32),
    /// Open the window on this project (or the start screen).
    Gui(Option<PathBuf>),
    /// Open the window on the demo project.
    Demo,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let Some(command) = &cli.command else {
        return Ok(Outcome::Gui(cli.project.clone()));
    };
    // A command on a terminal asks for a hub password it needs and finds nowhere, as psql
    // does; the window asks in a dialog of its own.
    if !matches!(command, Command::Gui | Command::Demo) {
        crate::hub::password::prompt_at_terminal();
    }
    let outcome = run_command(&cli, command);
    // A write refused because the project is read-only or its disk full says so, not in
    // SQLite's words.
    outcome.map_err(|e| crate::project::storage_error(&e, &cli.project_path()).unwrap_or(e))
}

fn run_command(cli: &Cli, command: &Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Init(a) => project_cmds::init(cli, a),
        Command::Classes(c) => project_cmds::classes(cli, c),
        Command::Import(a) => import::import(cli, a),
        Command::ImportLabels(a) => import::import_labels(cli, a),
        Command::Status(a) => project_cmds::status(cli, a),
        Command::History(a) => project_cmds::history(cli, a),
        Command::Merge(a) => project_cmds::merge(cli, a),
        Command::Backup(a) => project_cmds::backup(cli, a),
        Command::Check => project_cmds::check(cli),
        Command::Recover(a) => project_cmds::recover(cli, a),
        Command::Validate(a) => export::validate(cli, a),
        Command::Export(a) => export::export(cli, a),
        Command::Agreement(a) => review::agreement(cli, a),
        Command::Annotators(a) => review::annotators(cli, a),
        Command::Settings(a) => review::settings(cli, a),
        Command::Hub(c) => hub::hub(cli, c),
        Command::Join(a) => hub::join(cli, a),
        Command::Sync(a) => hub::sync(cli, a),
        Command::Next(a) => hub::next(cli, a),
        Command::Label(a) => hub::label(cli, a),
        Command::Gui => Ok(Outcome::Gui(cli.project.clone())),
        Command::Demo => Ok(Outcome::Demo),
    }
}

/// Opens the project named on the command line.
fn open(cli: &Cli) -> anyhow::Result<crate::Project> {
    crate::Project::open(&cli.project_path())
}

/// Opens the project for a bulk write (import, labels from a file, merge), refused when the
/// file is damaged: what is written into a damaged file may be lost with it.
fn open_sound(cli: &Cli) -> anyhow::Result<crate::Project> {
    let project = open(cli)?;
    let damage = project.damage(true)?;
    if !damage.is_empty() {
        anyhow::bail!(
            "`{}` is damaged ({}); nothing was written. `keylabel check` says more",
            project.path().display(),
            damage.join("; ")
        );
    }
    Ok(project)
}

/// `text` as it may be printed on a terminal: control characters (a sample name may hold a
/// line break or an escape sequence that would rewrite the screen) and the bidirectional
/// overrides that reorder what is shown are written as escapes (`\n`, `\u{1b}`). JSON
/// output needs none of this: it escapes them itself.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_debug().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
