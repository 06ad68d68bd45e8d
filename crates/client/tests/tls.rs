//! TLS against a local TLS listener with a test CA: a client that trusts the CA file reaches the
//! emulator through it; a client that trusts only the public roots is refused before anything
//! is sent; an HTTPS proxy is used through a `CONNECT` tunnel; and a plain-HTTP endpoint off
//! loopback is refused without the opt-in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reimage_auth::aksk::AkSk;
use reimage_client::{EcsAuth, EcsClient, Error, Proxy, Roots, Transport, TransportConfig};
use reimage_core::{ProjectId, ServerId};
use reimage_wire::Endpoint;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SERVER: &str = "11111111-2222-3333-4444-555555555555";

/// A test CA, and a certificate for `localhost` and 127.0.0.1 that it signed.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reimage test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A TLS listener on loopback that hands each decrypted stream to `backend`.
async fn tls_relay(pki: &Pki, backend: SocketAddr) -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    // The emulator behind speaks HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reimage-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn client(transport: Transport, endpoint: &str) -> EcsClient {
    let keys = AkSk::new(
        "REIMAGEEMULATORAK",
        SecretString::from("reimage-emulator-sk"),
    )
    .unwrap();
    EcsClient::new(
        transport,
        Endpoint::parse(endpoint).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap()
}

#[tokio::test]
async fn a_private_ca_file_is_trusted_and_the_public_roots_refuse_it() {
    let config = reimage_emulator::Config::builder().build().unwrap();
    let emu = reimage_emulator::start(config).await.unwrap();
    let pki = pki();
    let relay = tls_relay(&pki, emu.local_addr()).await;
    let url = format!("https://localhost:{}", relay.port());
    let ca = temp_file("ca.pem", &pki.ca_pem);

    // Trusting the test CA only: the whole signed call goes through TLS.
    let trusted = Transport::new(
        TransportConfig::default()
            .roots(Roots::CustomOnly)
            .ca_file(&ca)
            .proxy_from_env(false),
    )
    .unwrap();
    let server = client(trusted, &url)
        .server(&ServerId::new(SERVER).unwrap())
        .await
        .unwrap();
    assert_eq!(server.id.as_str(), SERVER);

    // The public roots do not know the test CA: refused at the handshake, nothing sent.
    let public = Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(5))
            .retry(reimage_client::RetryPolicy::none())
            .proxy_from_env(false),
    )
    .unwrap();
    let err = client(public, &url)
        .server(&ServerId::new(SERVER).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("certificate") && text.contains("nothing was sent"),
        "{text}"
    );
    let requests = emu.requests();
    let logged = requests
        .as_array()
        .or_else(|| requests["requests"].as_array())
        .map_or(0, Vec::len);
    assert_eq!(logged, 1, "only the trusted call reached the emulator");
    std::fs::remove_dir_all(ca.parent().unwrap()).unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_before_sending() {
    let transport = Transport::new(TransportConfig::default()).unwrap();
    let keys = AkSk::new(
        "REIMAGEEMULATORAK",
        SecretString::from("reimage-emulator-sk"),
    )
    .unwrap();
    let err = EcsClient::new(
        transport,
        Endpoint::parse("http://ecs.eu-de.otc.t-systems.com").unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PlainHttp { .. }), "{err}");
}

/// A minimal HTTP proxy that serves `CONNECT host:port` and reports each target it tunnels to.
async fn connect_proxy() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, targets) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(tcp);
                let mut line = String::new();
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let Some(target) = line
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                    .map(str::to_owned)
                else {
                    return;
                };
                // The rest of the request head.
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if header == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let _ = seen.send(target.clone());
                let Ok(mut upstream) = TcpStream::connect(target.as_str()).await else {
                    return;
                };
                let mut client = reader.into_inner();
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, targets)
}

#[tokio::test]
async fn https_goes_through_the_proxy_and_no_proxy_bypasses_it() {
    let config = reimage_emulator::Config::builder().build().unwrap();
    let emu = reimage_emulator::start(config).await.unwrap();
    let pki = pki();
    let relay = tls_relay(&pki, emu.local_addr()).await;
    let url = format!("https://localhost:{}", relay.port());
    let ca = temp_file("proxy-ca.pem", &pki.ca_pem);
    let (proxy, mut targets) = connect_proxy().await;

    let through = |no_proxy: &str| {
        Transport::new(
            TransportConfig::default()
                .roots(Roots::CustomOnly)
                .ca_file(&ca)
                .proxy(Proxy::Explicit {
                    url: format!("http://{proxy}"),
                    no_proxy: no_proxy.to_owned(),
                }),
        )
        .unwrap()
    };
    let server = client(through(""), &url)
        .server(&ServerId::new(SERVER).unwrap())
        .await
        .unwrap();
    assert_eq!(server.id.as_str(), SERVER);
    assert_eq!(
        targets.try_recv().unwrap(),
        format!("localhost:{}", relay.port()),
        "the call was tunnelled"
    );

    // NO_PROXY: straight to the host, the proxy sees nothing.
    client(through("localhost"), &url)
        .server(&ServerId::new(SERVER).unwrap())
        .await
        .unwrap();
    assert!(targets.try_recv().is_err(), "the proxy was bypassed");
    std::fs::remove_dir_all(ca.parent().unwrap()).unwrap();
    emu.shutdown().await;
}
