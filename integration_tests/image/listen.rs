//! `listen` in the image, as an orchestrator runs it: its port published, a delivery over it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use pipedrive_sandbox::webhooks::{deliver, event, EventMeta};
use serde_json::{json, Value};

use super::{image, out_dir, Inputs};
use crate::util::{poll, PATIENCE};

/// `docker rm -f` of the named containers when the test ends, however it ends.
struct Removed(Vec<String>);

impl Drop for Removed {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker")
                .args(["rm", "-f", name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn docker_output(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs a Docker engine and an image: integration_tests/image/run.sh"]
fn listen_receives_deliveries_on_a_published_port() {
    const USER: &str = "image-test-hooks";
    const PASSWORD: &str = "image-test-password-0123";
    let tag = std::process::id();
    let (pod, listener) = (
        format!("sp-image-test-pod-{tag}"),
        format!("sp-image-test-listen-{tag}"),
    );
    let _removed = Removed(vec![listener.clone(), pod.clone()]);
    // A pod as Kubernetes runs one: a network namespace with a published port, shared by the
    // sandbox (the image's own `sandbox` command, on the pod's loopback) and `listen`, which
    // reaches the sandbox at 127.0.0.1 as a connector reaches a local API.
    docker_output(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &pod,
        "-p",
        "127.0.0.1::8787",
        &image(),
        "sandbox",
        "--port",
        "9000",
        "--size",
        "20",
    ]);
    let sandbox_config: Value = poll(|| {
        let logs = Command::new("docker").args(["logs", &pod]).output().ok()?;
        let text = String::from_utf8_lossy(&logs.stderr).into_owned();
        text.lines()
            .find(|l| l.contains("\"base_url\""))
            .and_then(|l| serde_json::from_str(l).ok())
    })
    .expect("the sandbox in the pod prints its config");
    let mut config = sandbox_config.clone();
    config["webhook_user"] = json!(USER);
    config["webhook_password"] = json!(PASSWORD);
    let inputs = Inputs::new();
    let config = inputs.put("source_config.json", &config.to_string());
    let catalog = inputs.put(
        "source_catalog.json",
        &crate::util::catalog(&["deals"], "incremental"),
    );
    let mut child = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-i",
            "--name",
            &listener,
            "--network",
            &format!("container:{pod}"),
            "-v",
            &inputs.mount(),
            &image(),
            "listen",
            "--config",
            &config,
            "--catalog",
            &catalog,
            "--bind",
            "0.0.0.0:8787",
            "--reconcile-every",
            "3600",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let seen = |what: &str| lines.lock().unwrap().iter().any(|l| l.contains(what));
    let listening = poll(|| seen("listening for Pipedrive webhooks on ").then_some(()));
    assert!(
        listening.is_some(),
        "listen starts in the container: {:?}",
        lines.lock().unwrap()
    );
    // The start-up reconciliation read, over the pod's loopback, ends with its summary.
    assert!(
        poll(|| seen("summary total: ").then_some(())).is_some(),
        "{:?}",
        lines.lock().unwrap()
    );

    let port = docker_output(&["port", &pod, "8787/tcp"]);
    let url = format!("http://{}/pipedrive", port.lines().next().unwrap().trim());
    let deal = json!({"id": 990_123, "title": "delivered into the container", "update_time": "2026-06-01T10:00:00Z"});
    let meta = |n| EventMeta {
        timestamp: "2026-06-01T10:00:00Z".parse().unwrap(),
        ..EventMeta::numbered(n)
    };
    let create = event("create", "deal", Some(&deal), None, meta(1));
    let refused = deliver(&url, USER, "not-the-password-0123", &create, PATIENCE);
    assert_eq!(refused.status, Some(401), "wrong credentials are refused");
    let delivered = deliver(&url, USER, PASSWORD, &create, PATIENCE);
    assert_eq!(delivered.status, Some(200), "{}", delivered.body);
    // Acknowledged means written and flushed: the record is on stdout already, once.
    let records: Vec<Value> = poll(|| {
        let found: Vec<Value> = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["type"] == "RECORD" && m["record"]["data"]["id"] == deal["id"])
            .collect();
        (!found.is_empty()).then_some(found)
    })
    .expect("the delivered deal's record");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["record"]["stream"], "deals");
    assert_eq!(records[0]["record"]["data"]["title"], deal["title"]);

    let _ = Command::new("docker")
        .args(["stop", "-t", "5", &listener])
        .stdout(Stdio::null())
        .status();
    let _ = child.wait();
    let all = lines.lock().unwrap().join("\n");
    std::fs::write(out_dir().join("listen.jsonl"), format!("{all}\n")).unwrap();
    assert!(
        !all.contains(PASSWORD)
            && !all.contains(&sandbox_config["api_key"].as_str().unwrap().to_string())
    );
}
