//! The `moderato` command line: `serve` runs the service; the other subcommands are clients for people that
//! call a running server (`--addr`, token from `--token` or `MODERATO_TOKEN`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

mod bench;
pub mod bootstrap;
mod campaigns;
pub mod classifier;
mod combiner;
mod lexicon;
mod ops;
mod privacy;
mod review;
mod webhook;

use crate::config::{Config, FlagOverrides};
use crate::startup::{Application, identifiers, open_store, resolve_tokens};

/// moderato: comment moderation for news portals.
#[derive(Debug, Parser)]
#[command(name = "moderato", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC service (embedded store unless --redis-url is given).
    Serve(ServeArgs),
    /// Ask a running server for its health (grpc.health.v1).
    Health(HealthArgs),
    /// Captcha challenges.
    #[command(subcommand)]
    Captcha(CaptchaCommand),
    /// Bearer tokens for the config file.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Train a classifier model and write its artifact, report and plot.
    Train(crate::cli::classifier::TrainArgs),
    /// Evaluate a model on held-out data.
    Eval(crate::cli::classifier::EvalArgs),
    /// Score one comment with a model and show the reasons.
    Score(crate::cli::classifier::ScoreArgs),
    /// The review queue, for moderators.
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Moderator labels.
    #[command(subcommand)]
    Labels(review::LabelsCommand),
    /// Load tool: SubmitComment next to grpc.health Check on a running server.
    Bench(bench::BenchArgs),
    /// Per-site policy, for ops.
    #[command(subcommand)]
    Policy(Box<ops::PolicyCommand>),
    /// Classifier models, for ops.
    #[command(subcommand)]
    Model(ops::ModelCommand),
    /// Review-queue figures of a site (moderator or ops token).
    Stats(ops::StatsArgs),
    /// The audit log: policy changes, model activations, decisions, overturns, takeovers (ops token).
    Audit(ops::AuditArgs),
    /// Readers' data: erase or export one reader (ops token).
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
    /// The shipped Vietnamese spam lexicon.
    #[command(subcommand)]
    Lexicon(lexicon::LexiconCommand),
    /// A new site's way to a model of its own.
    #[command(subcommand)]
    Bootstrap(bootstrap::BootstrapCommand),
    /// The fitted combination of the model's score with the rule signals.
    #[command(subcommand)]
    Combiner(combiner::CombinerCommand),
    /// A site's signed webhook: set, rotate the secret, show delivery, list dead letters (ops token).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML config file (optional; defaults, then this file, then MODERATO__... env, then flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// gRPC listen address, e.g. 127.0.0.1:50051.
    #[arg(long)]
    listen: Option<String>,
    /// Prometheus /metrics listen address.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// HTTP (JSON API) listen address; empty disables it.
    #[arg(long)]
    http_listen: Option<String>,
    /// Redis URL; repeat it (or use redis+cluster://) for Redis Cluster seed nodes.
    #[arg(long = "redis-url")]
    redis_urls: Vec<String>,
    /// Prefix of every Redis key.
    #[arg(long)]
    key_prefix: Option<String>,
    /// Log JSON lines instead of human-readable text.
    #[arg(long)]
    log_json: bool,
}

/// A server and one site on it (commands that need nothing more).
#[derive(Debug, Args)]
pub struct SiteArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    /// Site id.
    #[arg(long)]
    pub(crate) site: String,
}

/// Where the server is and how to authenticate.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Server address: http://host:port, or https://host:port for a server with TLS.
    #[arg(long, env = "MODERATO_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// PEM CA certificate that signed the server's certificate (https:// only; default: the system's roots).
    #[arg(long, env = "MODERATO_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Bearer token.
    #[arg(long, env = "MODERATO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
struct HealthArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// One service (e.g. moderato.v1.CommentService); empty asks for the whole server.
    #[arg(long, default_value = "")]
    service: String,
}

#[derive(Debug, Subcommand)]
enum CaptchaCommand {
    /// Create a challenge and save its image.
    New(CaptchaNewArgs),
    /// Render sample challenges offline, without a server: the images, numbered, and their answers in a separate
    /// file, so a person can read them and compare (how readable a difficulty is).
    Samples(CaptchaSamplesArgs),
}

#[derive(Debug, Args)]
struct CaptchaSamplesArgs {
    /// How many images.
    #[arg(long, default_value_t = 20)]
    count: u32,
    /// Characters per challenge.
    #[arg(long, default_value_t = 5)]
    length: u32,
    /// 1 (easy) to 3 (hard), as `captcha.difficulty`.
    #[arg(long, default_value_t = 2)]
    difficulty: u32,
    /// Directory for `01.png`, `02.png`, … and `answers.txt`.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct CaptchaNewArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// Client IP the challenge is for.
    #[arg(long, default_value = "127.0.0.1")]
    client_ip: String,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print the SHA-256 to put in [[auth.tokens]] for a token.
    Hash {
        /// The token in clear.
        token: String,
    },
    /// Generate a random token and print it with its hash.
    New,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause that the message before it already ends with
/// after a ": " (errors that print their source, as most library errors do, would otherwise say it twice).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if previous.ends_with(&format!(": {text}")) {
            previous = text;
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        previous = text;
    }
    out
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => serve(a).await,
        Command::Health(a) => health(a).await,
        Command::Captcha(CaptchaCommand::New(a)) => captcha_new(a).await,
        Command::Captcha(CaptchaCommand::Samples(a)) => captcha_samples(a),
        Command::Token(TokenCommand::Hash { token }) => {
            println!("{}", crate::auth::hash_token(&token));
            Ok(())
        }
        Command::Train(a) => {
            tokio::task::spawn_blocking(move || crate::cli::classifier::train(a)).await?
        }
        Command::Eval(a) => {
            tokio::task::spawn_blocking(move || crate::cli::classifier::eval(a)).await?
        }
        Command::Score(a) => crate::cli::classifier::score(a),
        Command::Review(c) => review::run(c).await,
        Command::Labels(c) => review::labels(c).await,
        Command::Bench(a) => bench::run(a).await,
        Command::Policy(c) => ops::policy(*c).await,
        Command::Model(c) => ops::model(c).await,
        Command::Stats(a) => ops::stats(a).await,
        Command::Audit(a) => ops::audit(a).await,
        Command::Privacy(c) => privacy::run(c).await,
        Command::Lexicon(c) => lexicon::run(c),
        Command::Bootstrap(c) => bootstrap::run(c).await,
        Command::Combiner(combiner::CombinerCommand::Campaigns(a)) => campaigns::run(a).await,
        Command::Combiner(c) => combiner::run(c),
        Command::Webhook(c) => webhook::run(c).await,
        Command::Token(TokenCommand::New) => {
            let t = crate::auth::generate_token();
            println!("token:  {t}\nsha256: {}", crate::auth::hash_token(&t));
            Ok(())
        }
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        listen: a.listen,
        metrics_listen: a.metrics_listen,
        http_listen: a.http_listen,
        redis_urls: a.redis_urls,
        key_prefix: a.key_prefix,
        log_json: a.log_json,
    };
    let cfg = Config::load(a.config.as_deref(), std::env::vars(), &flags)?;
    crate::telemetry::init_tracing(cfg.server.log_format == "json");
    let (tokens, generated) = resolve_tokens(&cfg)?;
    if !generated.is_empty() {
        tracing::warn!(
            "no auth tokens configured: generated one token per role for this run only (printed on stdout)"
        );
        println!("No auth tokens configured; tokens for this run only:");
        for (role, name, token) in &generated {
            println!("  {:<9} {name}: {token}", role.as_str());
        }
        println!(
            "Configure [[auth.tokens]] (see `moderato token new`) to keep tokens across restarts."
        );
    }
    if cfg.identifier_hmac_key.expose().is_empty() {
        tracing::warn!(
            "identifier_hmac_key is not set: using a random key for this run (rate limits reset on restart; replicas must share a key)"
        );
    }
    let store = open_store(&cfg).await?;
    let ids = identifiers(&cfg);
    let app = Application::build(cfg, store, tokens, ids).await?;
    if let Some(a) = app.http_addr() {
        println!("HTTP JSON API: http://{a}/v1/ (routes: http://{a}/v1/openapi.json)");
        println!("Web console:   http://{a}/console (sign in with a moderator or ops token)");
    }
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Connects to the server named in `c`.
pub async fn connect(c: &ClientArgs) -> anyhow::Result<Channel> {
    let mut ep = Channel::from_shared(c.addr.clone())
        .map_err(|e| anyhow::anyhow!("invalid --addr {:?}: {e}", c.addr))?
        .connect_timeout(std::time::Duration::from_secs(5));
    if c.addr.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new();
        tls = match &c.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read --ca-file {}: {e}", path.display())
                })?;
                tls.ca_certificate(tonic::transport::Certificate::from_pem(pem))
            }
            None => tls.with_native_roots(),
        };
        ep = ep
            .tls_config(tls)
            .map_err(|e| anyhow::anyhow!("TLS setup for {} failed: {e}", c.addr))?;
    } else if c.ca_file.is_some() {
        anyhow::bail!(
            "--ca-file is for TLS: use an https:// address (got {:?})",
            c.addr
        );
    }
    ep.connect()
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot connect to {}", c.addr)))
}

/// Wraps a message in a request carrying the bearer token.
pub fn authed<T>(c: &ClientArgs, msg: T) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    let token = c
        .token
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("no token: pass --token or set MODERATO_TOKEN"))?;
    let v: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .map_err(|_| anyhow::anyhow!("the token contains characters not allowed in a header"))?;
    req.metadata_mut().insert("authorization", v);
    Ok(req)
}

/// A readable error from a gRPC status, with its field violations.
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt;
    let mut msg = format!("{:?}: {}", s.code(), s.message());
    if let Some(b) = s.get_error_details().bad_request() {
        for v in &b.field_violations {
            msg.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow::anyhow!(msg)
}

async fn health(a: HealthArgs) -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let ch = connect(&a.client).await?;
    let resp = HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: a.service.clone(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let status = tonic_health::pb::health_check_response::ServingStatus::try_from(resp.status)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| resp.status.to_string());
    let name = if a.service.is_empty() {
        "server"
    } else {
        &a.service
    };
    println!("{name}: {status}");
    if status == "SERVING" {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{name} is not serving"))
    }
}

async fn captcha_new(a: CaptchaNewArgs) -> anyhow::Result<()> {
    use crate::proto::CreateChallengeRequest;
    use crate::proto::captcha_service_client::CaptchaServiceClient;
    let ch = connect(&a.client).await?;
    let req = authed(
        &a.client,
        CreateChallengeRequest {
            site: a.site.clone(),
            client_ip: a.client_ip.clone(),
        },
    )?;
    let r = CaptchaServiceClient::new(ch)
        .create_challenge(req)
        .await
        .map_err(status_error)?
        .into_inner();
    std::fs::write(&a.out, &r.image_png)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", a.out.display()))?;
    let expires = r.expires_at.map(|t| t.seconds).unwrap_or_default();
    println!(
        "challenge {} ({} characters), image written to {}, expires at unix time {}",
        r.challenge_id,
        r.answer_length,
        a.out.display(),
        expires
    );
    Ok(())
}

fn captcha_samples(a: CaptchaSamplesArgs) -> anyhow::Result<()> {
    if a.count == 0 || a.count > 1000 {
        anyhow::bail!("--count must be 1 to 1000, got {}", a.count);
    }
    if a.length == 0 || a.length as usize > crate::captcha::MAX_ANSWER_CHARS {
        anyhow::bail!(
            "--length must be 1 to {}, got {}",
            crate::captcha::MAX_ANSWER_CHARS,
            a.length
        );
    }
    if !(1..=3).contains(&a.difficulty) {
        anyhow::bail!("--difficulty must be 1, 2 or 3, got {}", a.difficulty);
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", a.out.display()))?;
    let mut answers = String::new();
    for i in 1..=a.count {
        let answer = crate::captcha::random_answer(a.length);
        let png = crate::captcha::render(&answer, a.difficulty)
            .ok_or_else(|| anyhow::anyhow!("the challenge {answer:?} did not render"))?;
        let path = a.out.join(format!("{i:02}.png"));
        std::fs::write(&path, png)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        answers.push_str(&format!("{i:02} {answer}\n"));
    }
    let path = a.out.join("answers.txt");
    std::fs::write(&path, answers)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    println!(
        "{} images in {}, answers in {}",
        a.count,
        a.out.display(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[test]
    fn a_cause_already_printed_by_its_parent_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(io).context("cannot read m/model.bin: no such file");
        let e = e.context("loading model m");
        assert_eq!(
            error_chain(&e),
            "loading model m: cannot read m/model.bin: no such file"
        );
        let e = anyhow::anyhow!("disk full").context("writing labels.csv");
        assert_eq!(error_chain(&e), "writing labels.csv: disk full");
        // Only a whole cause after ": " counts as already said.
        let e = anyhow::anyhow!("denied").context("access denied");
        assert_eq!(error_chain(&e), "access denied: denied");
    }
}
