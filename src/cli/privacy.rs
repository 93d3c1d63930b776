//! `moderato privacy`: erase or export one reader (ops token), and the erasure measurement on a Redis store.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::{ClientArgs, authed, connect, status_error};
use crate::proto::admin_service_client::AdminServiceClient;
use crate::proto::{AuthorSelector, EraseAuthorRequest, ExportAuthorRequest};

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Erase one reader's data (name, phone, e-mail, text, label rows); decisions and audit entries stay.
    Erase(EraseArgs),
    /// Export one reader's comments and decisions as JSON lines.
    Export(ExportArgs),
    /// Measure an erasure on a Redis store: fills it with comments, erases one author under a concurrent load,
    /// and prints the time and the longest command latency. Writes under its own key prefix; use a private Redis.
    BenchErase(BenchEraseArgs),
}

/// Who and where.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id; omit (or `*`) for every site that ever had a comment.
    #[arg(long, default_value = "")]
    site: String,
    /// The reader's phone number.
    #[arg(long, default_value = "")]
    phone: String,
    /// The reader's e-mail address.
    #[arg(long, default_value = "")]
    email: String,
    /// A comment id standing for its author.
    #[arg(long, default_value = "")]
    comment: String,
}

impl Target {
    fn selector(&self) -> Option<AuthorSelector> {
        Some(AuthorSelector {
            phone: self.phone.clone(),
            email: self.email.clone(),
            comment_id: self.comment.clone(),
        })
    }
}

/// `moderato privacy erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    target: Target,
    /// Stop after this many batches of 100 comments (0: to the end); run again to continue.
    #[arg(long, default_value_t = 0)]
    max_batches: u32,
}

/// `moderato privacy export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    target: Target,
    /// Write the JSON lines here instead of stdout.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// `moderato privacy bench-erase`.
#[derive(Debug, Args)]
pub struct BenchEraseArgs {
    /// Redis URL (a private instance: the run leaves its data behind under --key-prefix).
    #[arg(long = "redis-url")]
    redis_url: String,
    /// Key prefix of the run.
    #[arg(long, default_value = "bench-erase:")]
    key_prefix: String,
    /// Comments stored in all.
    #[arg(long, default_value_t = 100_000)]
    comments: usize,
    /// Of which by the author erased.
    #[arg(long, default_value_t = 1_000)]
    author_comments: usize,
    /// Concurrent load tasks during the erasure (each alternates a submission and a lookup).
    #[arg(long, default_value_t = 8)]
    load: usize,
}

/// Runs a `moderato privacy` command.
pub async fn run(c: PrivacyCommand) -> anyhow::Result<()> {
    match c {
        PrivacyCommand::Erase(a) => erase(a).await,
        PrivacyCommand::Export(a) => export(a).await,
        PrivacyCommand::BenchErase(a) => bench_erase(a).await,
    }
}

async fn erase(a: EraseArgs) -> anyhow::Result<()> {
    let t = &a.target;
    let mut admin = AdminServiceClient::new(connect(&t.client).await?);
    let r = admin
        .erase_author(authed(
            &t.client,
            EraseAuthorRequest {
                site: t.site.clone(),
                author: t.selector(),
                max_batches: a.max_batches,
            },
        )?)
        .await
        .map_err(status_error)?
        .into_inner();
    println!(
        "{} records erased on {} site(s) ({}); the reader is now {}",
        r.records_erased,
        r.sites.len(),
        r.sites.join(", "),
        r.tombstone
    );
    if !r.complete {
        println!("stopped at --max-batches: run the same command again to continue");
    }
    Ok(())
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let t = &a.target;
    let mut admin = AdminServiceClient::new(connect(&t.client).await?);
    let mut stream = admin
        .export_author(authed(
            &t.client,
            ExportAuthorRequest {
                site: t.site.clone(),
                author: t.selector(),
            },
        )?)
        .await
        .map_err(status_error)?
        .into_inner();
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut n = 0usize;
    while let Some(m) = stream.message().await.map_err(status_error)? {
        writeln!(out, "{}", m.json)?;
        n += 1;
    }
    out.flush()?;
    eprintln!("{n} comments exported");
    Ok(())
}

fn bench_record(
    i: usize,
    phone: &str,
    status: crate::review::Status,
) -> crate::review::CommentRecord {
    crate::review::CommentRecord {
        comment_id: format!("{i:032x}"),
        site: "bench".into(),
        thread_id: format!("bai-{}", i % 500),
        name: format!("Bạn đọc {i}"),
        phone: phone.into(),
        email: String::new(),
        title: "Ý kiến".into(),
        body: "Đoạn đường Nguyễn Hữu Thọ ngập sâu mỗi khi mưa lớn, mong phường sớm khơi thông cống thoát nước.".into(),
        score: 0.3,
        reasons: Vec::new(),
        model_version: "bench".into(),
        policy_version: 1,
        initial_status: status,
        created_ms: 0,
    }
}

async fn admit_one(
    store: &dyn crate::store::Store,
    ids: &crate::rate_limit::Identifiers,
    i: usize,
    phone: &str,
) -> anyhow::Result<()> {
    let status = if i.is_multiple_of(10) {
        crate::review::Status::PendingReview
    } else {
        crate::review::Status::Published
    };
    let rec = bench_record(i, phone, status);
    let authors = crate::privacy::author_hashes(ids, phone, "");
    store
        .admit(crate::store::Admit {
            idempotency_key: &format!("bench-{i}"),
            captcha: None,
            limits: &[],
            record: &rec,
            response: "{}",
            retention_ms: 86_400_000,
            idempotency_ttl_ms: 86_400_000,
            authors: &authors,
            campaign: None,
        })
        .await?;
    Ok(())
}

async fn bench_erase(a: BenchEraseArgs) -> anyhow::Result<()> {
    use crate::store::Store;
    let settings = crate::store::redis::RedisSettings {
        urls: vec![a.redis_url.clone()],
        timeout: Duration::from_secs(10),
    };
    let store = Arc::new(
        crate::store::redis::RedisStore::connect(
            &settings,
            crate::store::Keys::new(a.key_prefix.clone()),
        )
        .await?,
    );
    let ids = crate::rate_limit::Identifiers::new(b"bench-erase", 64);
    let target = "0912345678".to_string();
    let every = (a.comments / a.author_comments.max(1)).max(1);
    eprintln!(
        "storing {} comments ({} by the author erased)...",
        a.comments, a.author_comments
    );
    let started = Instant::now();
    let workers = 32;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (store, ids, target) = (store.clone(), ids.clone(), target.clone());
        let (n, author_n) = (a.comments, a.author_comments);
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let phone = if i.is_multiple_of(every) && i / every < author_n {
                    target.clone()
                } else {
                    format!("09{:08}", i % 100_000_000)
                };
                admit_one(&*store, &ids, i, &phone).await?;
                i += workers;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!("stored in {:.1} s", started.elapsed().as_secs_f64());

    // Redis' own record of every command's execution time during the erasure.
    let mut conn = store.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .query_async(&mut conn)
        .await?;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-max-len")
        .arg(1_000_000)
        .query_async(&mut conn)
        .await?;
    let _: () = redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async(&mut conn)
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for w in 0..a.load {
        let (store, ids, stop) = (store.clone(), ids.clone(), stop.clone());
        let base = a.comments + w * 10_000_000;
        load.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = base;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                admit_one(&*store, &ids, i, &format!("08{:08}", i % 100_000_000)).await?;
                lat.push(t.elapsed());
                let t = Instant::now();
                store
                    .get_comment("bench", &format!("{:032x}", i % 1000))
                    .await?;
                lat.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(lat)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let privacy = crate::privacy::Privacy::new(store.clone(), ids.clone(), Default::default());
    let t = Instant::now();
    let report = privacy
        .erase(
            &crate::privacy::Scope::Site("bench".into()),
            &crate::privacy::Selector::Phone(target.clone()),
            "bench",
            None,
        )
        .await?;
    let took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in load {
        lat.extend(t.await??);
    }
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let slow: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    // (microseconds, command, its first argument: a script's SHA1, or a key) of the longest command; and the
    // longest erasure step.
    let mut longest = (0i64, String::new(), String::new());
    let mut longest_erase = 0i64;
    let erase_sha = crate::store::redis::erase_script_hash();
    let word = |v: Option<&redis::Value>| match v {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).to_string(),
        _ => String::new(),
    };
    for e in &slow {
        if let redis::Value::Array(f) = e
            && let (Some(redis::Value::Int(us)), Some(redis::Value::Array(args))) =
                (f.get(2), f.get(3))
            && word(args.get(1)) == erase_sha
        {
            longest_erase = longest_erase.max(*us);
        }
        if let redis::Value::Array(f) = e
            && let (Some(redis::Value::Int(us)), Some(redis::Value::Array(args))) =
                (f.get(2), f.get(3))
            && *us > longest.0
            // The measurement's own SLOWLOG and CONFIG calls are not part of it.
            && !matches!(word(args.first()).to_ascii_uppercase().as_str(), "SLOWLOG" | "CONFIG")
        {
            longest = (*us, word(args.first()), word(args.get(1)));
        }
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(10_000)
        .query_async(&mut conn)
        .await?;
    println!(
        "erased {} of {} comments of one author among {} in {:.0} ms ({} batches of up to {})",
        report.total(),
        a.author_comments,
        a.comments,
        took.as_secs_f64() * 1000.0,
        a.author_comments.div_ceil(crate::privacy::BATCH),
        crate::privacy::BATCH
    );
    println!(
        "concurrent load: {} calls, p50 {:.2} ms, p99 {:.2} ms, longest {:.2} ms (round trip seen by the client)",
        lat.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "longest single command inside Redis during the run: {:.2} ms ({}{}); longest erasure step (erase.lua, one batch): {:.2} ms; SLOWLOG, {} commands logged",
        longest.0 as f64 / 1000.0,
        longest.1,
        if longest.2 == erase_sha {
            " of erase.lua"
        } else {
            ""
        },
        longest_erase as f64 / 1000.0,
        slow.len()
    );
    Ok(())
}
