//! `validate` and `export`.

use super::{Cli, ExportArgs, JsonArg, Outcome};

pub fn validate(cli: &Cli, args: &JsonArg) -> anyhow::Result<Outcome> {
    super::validate::run(cli, args)
}

pub fn export(_cli: &Cli, _args: &ExportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`export` is not available in this build yet")
}
