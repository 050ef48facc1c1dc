//! Shared test support: fresh stores on SQLite and Postgres.

pub mod db;
pub mod mcp;
pub mod scripted;
