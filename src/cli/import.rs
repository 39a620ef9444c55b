//! `import` and `import-labels`.

use super::{Cli, ImportArgs, ImportLabelsArgs, Outcome};

pub fn import(_cli: &Cli, _args: &ImportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`import` is not available in this build yet")
}

pub fn import_labels(_cli: &Cli, _args: &ImportLabelsArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`import-labels` is not available in this build yet")
}
