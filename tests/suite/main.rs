//! The integration suite: one binary, one private redis-server and one private Redis Cluster for all of it.

#[macro_use]
mod harness;

mod admin;
mod auth;
mod bench_tool;
mod bootstrap;
mod bounds;
mod campaigns;
mod captcha;
mod comments;
mod concurrency;
mod console;
mod detection;
mod durability;
mod examples;
mod figures;
mod health;
mod hot_swap;
mod http;
mod layering;
mod lifecycle;
mod load;
mod oracles;
mod privacy;
mod rate_limits;
mod semantics;
mod store_conformance;
mod webhooks;
mod wire;
