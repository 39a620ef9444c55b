//! What keylabel's tests, benchmarks and examples share, so that no helper is written
//! twice: reproducible random numbers ([`Rng`]), generated pictures and photos
//! ([`images`]), project fixtures ([`fixtures`]), a hub on a PostgreSQL server ([`hub`]), the real binary run with a clean
//! environment ([`Cli`]), measured runs of it ([`measure`]) and the window in an
//! `egui_kittest` harness ([`window`]).

pub mod cli;
pub mod fixtures;
pub mod hub;
pub mod images;
pub mod measure;
pub mod progress;
pub mod rng;
pub mod window;

pub use cli::Cli;
pub use rng::Rng;
