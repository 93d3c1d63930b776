//! The integration suite: one binary, one private redis-server and one private Redis Cluster for all of it.

#[macro_use]
mod harness;

mod admin;
mod auth;
mod bootstrap;
mod bounds;
mod captcha;
mod comments;
mod concurrency;
mod health;
mod layering;
mod lifecycle;
mod oracles;
mod privacy;
mod rate_limits;
mod semantics;
mod store_conformance;
mod wire;
