//! keylabel's integration tests: one binary (linked once), a module per area, helpers from
//! `keylabel-testkit` and `common`.

mod common;

mod crash;
mod detect;
mod draw;

mod export;
mod fuzz;
mod gui;
mod gui_views;
mod hub;
mod ingest;
mod loader;
mod media;
mod project;
mod review;
mod team;
mod validate;
