//! psn's integration tests: one binary, one module per area.

mod support;

mod cli;
mod store_conformance;
