//! `moderato webhook set|rotate|show|dead-letters`: a site's webhook, for ops.

use clap::{Args, Subcommand};

use super::{ClientArgs, SiteArgs, authed, connect, status_error};
use crate::proto::admin_service_client::AdminServiceClient;
use crate::proto::{
    GetWebhookRequest, ListWebhookDeadLettersRequest, RotateWebhookSecretRequest,
    SetWebhookRequest, Webhook,
};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Set a site's webhook URL (http:// or https://); prints the signing secret.
    Set(SetArgs),
    /// Replace a site's signing secret; the old one keeps signing during --overlap-seconds.
    Rotate(RotateArgs),
    /// Show a site's webhook and where delivery stands (never the secrets).
    Show(SiteArgs),
    /// List events given up after retrying for the configured time.
    DeadLetters(DeadLetterArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// Where events are POSTed.
    #[arg(long)]
    url: String,
    /// Signing secret (16-256 characters); omitted: keep the current one, or generate one.
    #[arg(
        long,
        env = "MODERATO_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    secret: String,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// How long the previous secret keeps signing next to the new one, seconds (at most 604800).
    #[arg(long, default_value_t = 86_400)]
    overlap_seconds: u64,
    /// The new secret; omitted: a generated one.
    #[arg(
        long,
        env = "MODERATO_WEBHOOK_SECRET",
        hide_env_values = true,
        default_value = ""
    )]
    secret: String,
}

#[derive(Debug, Args)]
pub struct DeadLetterArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Site id.
    #[arg(long)]
    site: String,
    /// Print each dead letter's JSON body too.
    #[arg(long)]
    body: bool,
}

fn time(t: Option<pbjson_types::Timestamp>) -> String {
    t.map(|t| crate::clock::rfc3339(&t))
        .unwrap_or_else(|| "-".into())
}

fn print(w: &Webhook) {
    println!("site                  {}", w.site);
    println!("url                   {}", w.url);
    println!("version               {}", w.version);
    println!("previous secret until {}", time(w.previous_secret_until));
    println!("delivered cursor      {}", w.delivered_cursor);
    println!("failed attempts       {}", w.attempts);
    println!("failing since         {}", time(w.failing_since));
    println!("next attempt          {}", time(w.next_attempt));
    println!("last error            {}", w.last_error);
    println!("dead letters          {}", w.dead_letters);
}

/// Runs one `moderato webhook` subcommand.
pub async fn run(c: WebhookCommand) -> anyhow::Result<()> {
    match c {
        WebhookCommand::Set(a) => {
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .set_webhook(authed(
                    &a.client,
                    SetWebhookRequest {
                        site: a.site,
                        url: a.url,
                        secret: a.secret,
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            print(&r.webhook.unwrap_or_default());
            println!("secret                {}", r.secret);
        }
        WebhookCommand::Rotate(a) => {
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .rotate_webhook_secret(authed(
                    &a.client,
                    RotateWebhookSecretRequest {
                        site: a.site,
                        secret: a.secret,
                        overlap_seconds: a.overlap_seconds,
                    },
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            print(&r.webhook.unwrap_or_default());
            println!("secret                {}", r.secret);
        }
        WebhookCommand::Show(a) => {
            let r = AdminServiceClient::new(connect(&a.client).await?)
                .get_webhook(authed(&a.client, GetWebhookRequest { site: a.site })?)
                .await
                .map_err(status_error)?
                .into_inner();
            print(&r.webhook.unwrap_or_default());
        }
        WebhookCommand::DeadLetters(a) => {
            let mut admin = AdminServiceClient::new(connect(&a.client).await?);
            let mut token = String::new();
            loop {
                let r = admin
                    .list_webhook_dead_letters(authed(
                        &a.client,
                        ListWebhookDeadLettersRequest {
                            site: a.site.clone(),
                            page_size: 500,
                            page_token: token,
                        },
                    )?)
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for d in r.dead_letters {
                    println!(
                        "{}  {}  attempts={} first_failure={} error={}",
                        time(d.dead_at),
                        d.event_id,
                        d.attempts,
                        time(d.failing_since),
                        d.last_error
                    );
                    if a.body {
                        println!("  {}", d.body);
                    }
                }
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
        }
    }
    Ok(())
}
