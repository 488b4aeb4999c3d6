//! `serve --tls-cert --tls-key`: both APIs speak TLS with a throwaway CA's certificate, the
//! client trusts it with `--ca-cert`, and a client that never completes its handshake holds up
//! nobody.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{logsight, logsight_ok};

/// A CA and a certificate it signed for 127.0.0.1 and localhost: (CA, certificate, key) files.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "logsight test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    let paths = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// `logsight serve` with TLS on 127.0.0.1:0: the child, the gRPC and the HTTP addresses.
fn serve_tls(data: &Path, cert: &Path, key: &Path) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |prefix: &str| {
        let line = lines.next().unwrap().unwrap();
        line.strip_prefix(prefix).unwrap_or_else(|| panic!("{line:?}")).to_owned()
    };
    let grpc = next("listening on ");
    let http = next("http listening on ");
    (child, grpc, http)
}

/// DescribeLogGroups over HTTPS, trusting `ca`: the response's status line and body.
async fn describe_over_https(addr: &str, ca: &Path) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: Logs_20140328.DescribeLogGroups\r\n\
         Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    // The server may close without a TLS close_notify once the response is sent.
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn both_apis_speak_tls_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let (mut child, grpc, http) = serve_tls(&dir.path().join("data"), &cert, &key);
    let https = format!("https://{grpc}");
    let ca_arg = ca.to_str().unwrap();

    // A client that connects and never says a word does not hold up the others.
    let _silent = std::net::TcpStream::connect(&grpc).unwrap();

    logsight_ok(&["groups", "create", "tls-app", "--endpoint", &https, "--ca-cert", ca_arg], b"");
    let out = logsight_ok(&["groups", "list", "--endpoint", &https, "--ca-cert", ca_arg], b"");
    assert!(out.contains("tls-app"), "{out}");
    // Without the CA the server's certificate is not trusted; plain HTTP/2 gets no answer.
    for args in
        [vec!["groups", "list", "--endpoint", &https], vec!["groups", "list", "--endpoint", &grpc]]
    {
        let out = logsight(&args, b"");
        assert!(!out.status.success(), "{args:?} succeeded without TLS trust");
    }

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let response = rt.block_on(describe_over_https(&http, &ca));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"logGroupName\":\"tls-app\""), "{response}");

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_refuses_a_key_that_does_not_fit_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, _) = certificates(dir.path());
    let other = dir.path().join("other-key.pem");
    std::fs::write(&other, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let out = logsight(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            other.to_str().unwrap(),
        ],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS"), "{err}");
    let out = logsight(&["serve", "--tls-cert", cert.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
