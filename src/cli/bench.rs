//! `moderato bench`: a load tool. Drives SubmitComment with realistic Vietnamese comments at a fixed concurrency,
//! and grpc.health Check on the same server in the same run, and prints throughput, latency percentiles, error
//! counts and the ratio of the two (absolute numbers on a shared machine mean little; the ratio does).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use prost::Message;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::{ClientArgs, authed, connect};
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
    /// Give each submission a phone number from a pool of this many readers (0: none), so that author indexes,
    /// the author rate limit and author trust see returning readers as a portal's traffic has them.
    #[arg(long, default_value_t = 0)]
    authors: u32,
    /// Make every submission's body its own text (each word's letters shifted by an amount drawn for the call),
    /// so no two are near-copies: campaign detection then pays its lookup without finding campaigns, as it does
    /// for most of a portal's comments. Without it the samples repeat, so every body soon has copies from many
    /// clients: campaign detection's worst case.
    #[arg(long)]
    distinct_bodies: bool,
    /// Also report the CPU another process spends per call in each phase, as NAME=PID (repeatable; Linux,
    /// from /proc/PID/stat). The load tool always reports its own.
    #[arg(long = "watch", value_name = "NAME=PID", value_parser = parse_watch)]
    watch: Vec<(String, u32)>,
}

/// SubmitComment's method path.
fn submit_path() -> tonic::codegen::http::uri::PathAndQuery {
    tonic::codegen::http::uri::PathAndQuery::from_static(
        "/moderato.v1.CommentService/SubmitComment",
    )
}

/// A codec that sends bytes already encoded and receives a reply without decoding it (the load tool's calls).
#[derive(Clone, Copy, Default)]
struct Raw;

/// A reply received and not decoded.
struct Unread;

impl tonic::codec::Codec for Raw {
    type Encode = bytes::Bytes;
    type Decode = Unread;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = bytes::Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: bytes::Bytes,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Unread;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Unread>, tonic::Status> {
        let n = bytes::Buf::remaining(buf);
        bytes::Buf::advance(buf, n);
        Ok(Some(Unread))
    }
}

fn parse_watch(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=PID"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("{pid:?} in {s:?} is not a process id"))?;
    if name.is_empty() {
        return Err(format!("{s:?} has no name before '='"));
    }
    Ok((name.to_string(), pid))
}

/// User + system CPU time a process has used so far (utime and stime of /proc/PID/stat, in clock ticks of
/// 1/100 s, the USER_HZ of Linux's /proc on every mainstream architecture), or None where there is no /proc.
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The processes whose CPU a phase reports: the load tool itself, then the watched ones.
struct Watched(Vec<(String, Option<u32>)>);

impl Watched {
    fn ticks(&self) -> Vec<Option<u64>> {
        self.0.iter().map(|(_, pid)| cpu_ticks(*pid)).collect()
    }

    /// "CPU per call: load tool 25 us, server 83 us" over `calls` calls between two readings.
    fn per_call(&self, before: &[Option<u64>], after: &[Option<u64>], calls: u64) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .zip(before.iter().zip(after))
            .map(|((name, _), (b, a))| match (b, a) {
                (Some(b), Some(a)) if calls > 0 => format!(
                    "{name} {:.1} us",
                    a.saturating_sub(*b) as f64 * 10_000.0 / calls as f64
                ),
                _ => format!("{name} n/a"),
            })
            .collect();
        format!("CPU per call: {}", parts.join(", "))
    }
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
    /// CPU per call of the load tool and the watched processes over the phase.
    pub cpu: String,
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
        println!("{:<14} {}", "", self.cpu);
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
    watched: &Watched,
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
    let cpu_before = watched.ticks();
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
    let elapsed = start.elapsed();
    let cpu = watched.per_call(&cpu_before, &watched.ticks(), ok + errors);
    Phase {
        name,
        ok,
        errors,
        elapsed,
        latency_us,
        cpu,
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
    let mut watched = vec![("load tool".to_string(), None)];
    watched.extend(a.watch.iter().map(|(n, p)| (n.clone(), Some(*p))));
    let watched = Watched(watched);
    let check = |name| {
        run_phase(
            name,
            &watched,
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
    // Each sample encoded once; a call sends it followed by an encoded message of the fields that change per call
    // (idempotency key, thread, client address, phone): protobuf reads two concatenated messages as one, merged. The
    // reply's bytes are received but not decoded. So a call costs the load tool little more than a portal's send,
    // and the ratio measures the server.
    let authorization: MetadataValue<Ascii> = authed(&a.client, ())?
        .metadata()
        .get("authorization")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no authorization header"))?;
    let encoded: Arc<Vec<bytes::Bytes>> = Arc::new(
        samples
            .iter()
            .map(|(name, title, body)| {
                SubmitCommentRequest {
                    site: a.site.clone(),
                    author: Some(Author {
                        name: name.clone(),
                        phone: String::new(),
                        email: String::new(),
                    }),
                    title: title.clone(),
                    body: body.clone(),
                    client: Some(Client {
                        ip: String::new(),
                        user_agent: "moderato-bench".into(),
                    }),
                    ..Default::default()
                }
                .encode_to_vec()
                .into()
            })
            .collect(),
    );
    let errors_seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let errs = errors_seen.clone();
    let authors = u64::from(a.authors);
    let distinct = a.distinct_bodies.then(|| samples.clone());
    let submit = run_phase(
        "SubmitComment",
        &watched,
        &channels,
        a.concurrency,
        duration,
        move |ch, n| {
            let base = &encoded[(n as usize) % encoded.len()];
            let varying = SubmitCommentRequest {
                thread_id: format!("bai-viet-{}", n % 50),
                idempotency_key: format!("bench-{run_id}-{n}"),
                client: Some(Client {
                    ip: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
                    user_agent: String::new(),
                }),
                author: (authors > 0).then(|| Author {
                    phone: format!("0912{:06}", n % authors),
                    ..Default::default()
                }),
                body: distinct
                    .as_ref()
                    .map(|s| shifted(&s[(n as usize) % s.len()].2, n))
                    .unwrap_or_default(),
                ..Default::default()
            };
            let mut body = bytes::BytesMut::with_capacity(base.len() + varying.encoded_len());
            body.extend_from_slice(base);
            varying.encode_raw(&mut body);
            let mut req = tonic::Request::new(body.freeze());
            req.metadata_mut()
                .insert("authorization", authorization.clone());
            let errs = errs.clone();
            async move {
                let mut grpc = tonic::client::Grpc::new(ch);
                let sent = match grpc.ready().await {
                    Ok(()) => grpc.unary(req, submit_path(), Raw).await.map(|_| ()),
                    Err(e) => Err(tonic::Status::unavailable(e.to_string())),
                };
                match sent {
                    Ok(()) => true,
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

/// `body` with the ASCII letters of each word shifted by an amount drawn from (`n`, the word's position): the texts
/// of two calls share almost no five-letter run.
fn shifted(body: &str, n: u64) -> String {
    let mut out = String::with_capacity(body.len());
    for (i, word) in body.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut z = n
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(i as u64 * 0xbf58_476d_1ce4_e5b9);
        z ^= z >> 31;
        let k = (z % 26) as u8;
        for c in word.chars() {
            out.push(match c {
                'a'..='z' => char::from(b'a' + (c as u8 - b'a' + k) % 26),
                'A'..='Z' => char::from(b'A' + (c as u8 - b'A' + k) % 26),
                _ => c,
            });
        }
    }
    out
}
