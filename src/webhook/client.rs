//! The webhook HTTP client: one POST per connection over `http://`, or `https://` with rustls and the system's
//! root certificates, the whole exchange bounded by a timeout. Redirects are not followed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// How much of an answer's body is read (and then dropped) before the connection is closed.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A webhook URL that can be delivered to: `http://` or `https://`, a host, no user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    uri: http::Uri,
    tls: bool,
    host: String,
    port: u16,
}

/// Why a URL is refused, one sentence.
pub fn parse_target(url: &str) -> Result<Target, String> {
    if url.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "is not a valid absolute URL".to_string())?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("must start with http:// or https://".into()),
    };
    let Some(auth) = uri.authority() else {
        return Err("must name a host".into());
    };
    if auth.as_str().contains('@') {
        return Err("must not carry user info (user:password@)".into());
    }
    let host = auth.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("must name a host".into());
    }
    let port = auth.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok(Target {
        host: host.to_string(),
        port,
        tls,
        uri,
    })
}

/// Sends webhook POSTs.
#[derive(Clone)]
pub struct Poster {
    tls: TlsConnector,
    timeout: Duration,
}

impl Poster {
    /// A client whose every exchange (connect, TLS, request, answer) ends within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        // ring, as the listeners' TLS: deprecated in this rustls only for lacking post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .expect("ring supports the default protocol versions");
        Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        }
    }

    /// POSTs `body` with `headers`; Ok with the answer's status code, or why nothing was answered.
    pub async fn post(
        &self,
        target: &Target,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<u16, String> {
        let path = target
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut req = http::Request::post(path)
            .header(http::header::HOST, host_header(target))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "moderato-webhook/1");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let exchange = async {
            let tcp = TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = tcp.set_nodelay(true);
            if target.tls {
                let name = rustls_pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|e| format!("TLS server name: {e}"))?;
                let io = self
                    .tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                send(io, req).await
            } else {
                send(tcp, req).await
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

fn host_header(t: &Target) -> String {
    let default = if t.tls { 443 } else { 80 };
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    if t.port == default {
        host
    } else {
        format!("{host}:{}", t.port)
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    req: http::Request<Full<Bytes>>,
) -> Result<u16, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let conn = tokio::spawn(conn);
    let answer = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = answer.status().as_u16();
    let mut body = answer.into_body();
    let mut read = 0;
    while read < MAX_ANSWER_BYTES {
        match body.frame().await {
            Some(Ok(f)) => read += f.data_ref().map(|d| d.len()).unwrap_or(0),
            _ => break,
        }
    }
    conn.abort();
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_are_targets() {
        let t = parse_target("https://portal.example/hooks/moderato?x=1").expect("https");
        assert_eq!(
            (t.tls, t.port, t.host.as_str()),
            (true, 443, "portal.example")
        );
        let t = parse_target("http://127.0.0.1:8099/h").expect("http");
        assert_eq!(
            (t.tls, t.port, host_header(&t).as_str()),
            (false, 8099, "127.0.0.1:8099")
        );
        for bad in [
            "ftp://portal.example/h",
            "file:///etc/passwd",
            "gopher://x/",
            "/relative",
            "https://user:pw@portal.example/",
            "",
            "javascript:alert(1)",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?} accepted");
        }
    }
}
