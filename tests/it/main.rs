//! psn's integration tests: one binary, one module per area.

mod support;

mod analytics_acceptance;
mod bench_smoke;
mod cli;
mod cli_analytics;
mod cli_posts;
mod connect;
mod crash;
mod mcp;
mod mcp_analytics;
mod mcp_tools;
mod metrics;
mod opportunities;
mod pending_total;
mod platforms;
mod scheduler;
mod scheduler_batch;
mod scheduler_jobs;
mod scheduler_many;
mod store_analytics;
mod store_conformance;
