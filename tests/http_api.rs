
#[test]
fn grpc_calls_are_audited_and_refused_under_auth() {
    use logsight_proto::v1 as pb;
    let server = Server::start(None, 0);
    rt().block_on(async {
        let mut g = pb::logs_client::LogsClient::connect(server.grpc.clone()).await.unwrap();
        g.create_log_group(pb::CreateLogGroupRequest { log_group_name: "viagrpc".into() }).await.unwrap();
        let e = g
            .create_log_group(pb::CreateLogGroupRequest { log_group_name: "viagrpc".into() })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::AlreadyExists);
        let c = server.client("AKIDANY", "any-secret");
        let records = audit_records(&c, |r| {
            r.iter().filter(|e| e["additionalEventData"]["protocol"] == "grpc").count() >= 2
        })
        .await;
        let grpc: Vec<_> =
            records.iter().filter(|e| e["additionalEventData"]["protocol"] == "grpc").collect();
        assert_eq!(grpc[0]["eventName"], "CreateLogGroup");
        assert!(grpc[0].get("errorCode").is_none(), "{}", grpc[0]);
        assert_eq!(grpc[0]["sourceIPAddress"], "127.0.0.1");
        assert_eq!(grpc[1]["errorCode"], "ResourceAlreadyExistsException");
        assert_eq!(grpc[1]["errorMessage"], "log group \"viagrpc\" already exists");
    });
    drop(server);

    // With principals, the gRPC API (which can not verify them yet) refuses every call.
    let server = Server::start(Some(PRINCIPALS), 0);
    rt().block_on(async {
        let mut g = pb::logs_client::LogsClient::connect(server.grpc.clone()).await.unwrap();
        let e = g
            .describe_log_groups(pb::DescribeLogGroupsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(e.message().starts_with("MissingAuthenticationTokenException: "), "{}", e.message());
    });
}

#[test]
fn serve_refuses_open_non_loopback_listeners_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = crate::support::logsight(
        &["serve", "--listen", "0.0.0.0:0", "--http-listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:") && err.contains("--auth"), "{err}");
    let out = crate::support::logsight(
        &["serve", "--http-listen", "0.0.0.0:0", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap(), "--auth", "/nonexistent/principals.json"],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("principals file /nonexistent/principals.json"), "{err}");
}
