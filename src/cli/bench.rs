//! `moderato bench`: a load tool. Drives SubmitComment with realistic Vietnamese comments at a fixed concurrency,
//! and grpc.health Check on the same server in the same run, and prints throughput, latency percentiles, error
//! counts and the ratio of the two (absolute numbers on a shared machine mean little; the ratio does).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use tonic::transport::Channel;

use super::{ClientArgs, authed, connect};
use crate::proto::comment_service_client::CommentServiceClient;
use crate::proto::{Author, Client, SubmitCommentRequest};

/// The development set's `dev` split supplies the comment bodies.
const COMMENTS_CSV: &str = include_str!("../../data/vi-dev/comments.csv");

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id to submit to (the server must not require a captcha for it).
    #[arg(long, default_value = "bench")]
    site: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// gRPC connections shared by the workers.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

/// The outcome of one phase.
#[derive(Debug)]
pub struct Phase {
    /// What ran.
    pub name: &'static str,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls.
    pub errors: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Latencies of successful calls, microseconds.
    pub latency_us: Histogram<u64>,
}

impl Phase {
    /// Successful calls per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self) {
        println!(
            "{:<14} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ok {:>8}   errors {:>6}",
            self.name,
            self.throughput(),
            self.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            self.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            self.ok,
            self.errors
        );
    }
}

fn bodies() -> Vec<(String, String, String)> {
    let mut r = csv::Reader::from_reader(COMMENTS_CSV.as_bytes());
    r.records()
        .filter_map(Result::ok)
        .filter(|rec| rec.get(5) == Some("dev"))
        .filter_map(|rec| {
            Some((
                rec.get(1)?.to_string(),
                rec.get(2)?.to_string(),
                rec.get(3)?.to_string(),
            ))
        })
        .filter(|(name, title, body)| !name.is_empty() && !title.is_empty() && !body.is_empty())
        .collect()
}

async fn run_phase<F, Fut>(
    name: &'static str,
    channels: &[Channel],
    concurrency: usize,
    duration: Duration,
    call: F,
) -> Phase
where
    F: Fn(Channel, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let ch = channels[w % channels.len()].clone();
        let call = call.clone();
        let seq = seq.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (mut ok, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if call(ch.clone(), n).await {
                    ok += 1;
                    let _ = h.record(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (h, ok, errors)
        }));
    }
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        if let Ok((h, o, e)) = t.await {
            let _ = latency_us.add(h);
            ok += o;
            errors += e;
        }
    }
    Phase {
        name,
        ok,
        errors,
        elapsed: start.elapsed(),
        latency_us,
    }
}

/// Runs the load and prints the table.
pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    let mut channels = Vec::new();
    for _ in 0..a.connections.max(1) {
        channels.push(connect(&a.client).await?);
    }
    let duration = Duration::from_secs(a.seconds.max(1));
    let samples = Arc::new(bodies());
    anyhow::ensure!(!samples.is_empty(), "no comment bodies found");
    let run_id = std::process::id();
    println!(
        "moderato bench: {} concurrent, {} s per phase, {} connections, {} distinct comments",
        a.concurrency,
        duration.as_secs(),
        channels.len(),
        samples.len()
    );
    let check = |name| {
        run_phase(
            name,
            &channels,
            a.concurrency,
            duration,
            |ch, _| async move {
                tonic_health::pb::health_client::HealthClient::new(ch)
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .is_ok()
            },
        )
    };
    let first = check("health Check").await;
    first.print();
    let token = a.client.clone();
    let site = a.site.clone();
    let errors_seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let errs = errors_seen.clone();
    let submit = run_phase(
        "SubmitComment",
        &channels,
        a.concurrency,
        duration,
        move |ch, n| {
            let (name, title, body) = samples[(n as usize) % samples.len()].clone();
            let req = SubmitCommentRequest {
                site: site.clone(),
                thread_id: format!("bai-viet-{}", n % 50),
                idempotency_key: format!("bench-{run_id}-{n}"),
                author: Some(Author {
                    name,
                    phone: String::new(),
                    email: String::new(),
                }),
                title,
                body,
                client: Some(Client {
                    ip: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
                    user_agent: "moderato-bench".into(),
                }),
                captcha: None,
            };
            let token = token.clone();
            let errs = errs.clone();
            async move {
                let Ok(req) = authed(&token, req) else {
                    return false;
                };
                match CommentServiceClient::new(ch).submit_comment(req).await {
                    Ok(_) => true,
                    Err(e) => {
                        if let Ok(mut m) = errs.lock() {
                            *m.entry(format!("{:?}", e.code())).or_default() += 1;
                        }
                        false
                    }
                }
            }
        },
    )
    .await;
    submit.print();
    let second = check("health Check").await;
    second.print();
    let check_tp = (first.throughput() + second.throughput()) / 2.0;
    println!(
        "ratio SubmitComment / health Check throughput: {:.3}",
        submit.throughput() / check_tp
    );
    if let Ok(m) = errors_seen.lock()
        && !m.is_empty()
    {
        println!("SubmitComment errors by code: {m:?}");
    }
    Ok(())
}
