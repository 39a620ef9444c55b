//! `agreement` and `annotators`.

use super::{AgreementArgs, Cli, JsonArg, Outcome};

pub fn agreement(_cli: &Cli, _args: &AgreementArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`agreement` is not available in this build yet")
}

pub fn annotators(_cli: &Cli, _args: &JsonArg) -> anyhow::Result<Outcome> {
    anyhow::bail!("`annotators` is not available in this build yet")
}
