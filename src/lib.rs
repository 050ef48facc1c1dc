//! psn: let Claude Code run your social media. See ARCHITECTURE.md for the map.

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod domain;
pub mod mcp;
pub mod platforms;
pub mod scheduler;
pub mod store;
pub mod vault;
