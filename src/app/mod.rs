//! Use cases: every operation psn offers lives here once. The MCP tools and the CLI
//! are thin adapters over these functions.

pub mod doctor;
