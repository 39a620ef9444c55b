//! `validate` and `export`.

use super::{Cli, ExportArgs, JsonArg, Outcome};

pub fn validate(_cli: &Cli, _args: &JsonArg) -> anyhow::Result<Outcome> {
    anyhow::bail!("`validate` is not available in this build yet")
}

pub fn export(_cli: &Cli, _args: &ExportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`export` is not available in this build yet")
}
