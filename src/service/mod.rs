//! Domain services the HTTP API and the command line both call: knowledge (packs, lab
//! diagnoser, reference index), ask, and accounts (users' secrets and API tokens). Nothing
//! here knows HTTP or the terminal.

pub mod accounts;
pub mod ask;
pub mod knowledge;
