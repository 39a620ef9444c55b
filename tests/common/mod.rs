//! What the integration tests share beyond `keylabel-testkit`: the binary under test.

pub use keylabel_testkit::fixtures::{image_sample, image_sample_of, text_row, text_sample};
pub use keylabel_testkit::window;
pub use keylabel_testkit::{Cli, images};

/// The `keylabel` binary of this build, with a clean environment.
pub fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_keylabel"))
}
