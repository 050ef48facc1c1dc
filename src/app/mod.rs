//! Use cases: every operation psn offers lives here once. The MCP tools and the CLI
//! are thin adapters over these functions.

pub mod access;
pub mod accounts;
pub mod chart;
pub mod commands;
pub mod connect;
pub mod ctx;
pub mod doctor;
pub mod error;
pub mod ideas;
pub mod init;
pub mod jobs;
pub mod metrics;
pub mod opportunities;
pub mod posts;
pub mod text;
pub mod tokens;

pub use ctx::Ctx;
pub use error::{AppError, AppResult};
