//! The Docker image run as Airbyte's launcher runs it: `docker run --rm -i`, no TTY, the inputs
//! mounted read-only, as the image's own user, through the entrypoint and through
//! `sh -c "$AIRBYTE_ENTRYPOINT ..."`; its messages must be the ones the binary gives outside the
//! container. These tests need a Docker engine and a built image, so they are ignored in the
//! default run: `integration_tests/image/run.sh` builds the image from a clean clone and runs
//! them with `IMAGE_UNDER_TEST` naming it (and `IMAGE_TEST_OUT` a folder where every container
//! output is kept, for the protocol validation that follows).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use source_pipedrive::protocol::airbyte::Message;

use crate::packaging::yaml_scalar;
use crate::util::{default_streams, run, Run, World, START};

mod listen;

/// Where Airbyte's launcher puts a connector's inputs; mounted read-only.
const INPUTS: &str = "/config";

fn image() -> String {
    std::env::var("IMAGE_UNDER_TEST")
        .expect("IMAGE_UNDER_TEST names the image to test (integration_tests/image/run.sh sets it)")
}

/// Where container outputs are kept for the protocol validation (a temporary folder if unset).
fn out_dir() -> PathBuf {
    let dir = std::env::var_os("IMAGE_TEST_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("source-pipedrive-image-test"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Clone, Copy, Debug)]
enum Via {
    /// `docker run IMAGE args...`: the image's ENTRYPOINT.
    Entrypoint,
    /// `docker run --entrypoint sh IMAGE -c '$AIRBYTE_ENTRYPOINT args...'`, as Airbyte does.
    Shell,
}

/// The inputs of one container, in a folder readable by the image's user, mounted read-only.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Inputs {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        Inputs { dir }
    }

    /// Writes `name`, readable by all (the container's user is not the test's), and gives the
    /// path the container sees.
    fn put(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        chmod(&path, 0o644);
        format!("{INPUTS}/{name}")
    }

    /// The same file, as the binary outside the container sees it.
    fn host(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn mount(&self) -> String {
        format!("{}:{INPUTS}:ro", self.dir.path().display())
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs the image once as Airbyte's launcher does (`--rm -i`, no TTY, stdin closed), with
/// `options` (network, read-only root, ...) and the connector's `args`; keeps its stdout as
/// `<label>.jsonl` in `out_dir()`.
fn container(label: &str, via: Via, inputs: &Inputs, options: &[&str], args: &[&str]) -> Run {
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "-i", "-v", &inputs.mount()])
        .args(options);
    match via {
        Via::Entrypoint => {
            cmd.arg(image()).args(args);
        }
        Via::Shell => {
            assert!(
                args.iter().all(|a| a
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))),
                "arguments that need no shell quoting: {args:?}"
            );
            let line = format!("$AIRBYTE_ENTRYPOINT {}", args.join(" "));
            cmd.args(["--entrypoint", "sh", &image(), "-c", &line]);
        }
    }
    let out = cmd.stdin(Stdio::null()).output().expect("docker runs");
    let run = Run::from_output(label, out);
    std::fs::write(out_dir().join(format!("{label}.jsonl")), &run.stdout).unwrap();
    run
}

/// The messages as JSON, without what differs from run to run: `emitted_at`, and the cursors a
/// STATE takes from the sync's clock (a stream read to its end moves its cursor up to shortly
/// before the sync started), which become `<clock>`. The sandbox's records are older than a day.
fn comparable(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| {
            let mut m: Value = serde_json::from_str(l).unwrap();
            for kind in ["record", "trace"] {
                if let Some(o) = m.get_mut(kind).and_then(Value::as_object_mut) {
                    o.remove("emitted_at");
                }
            }
            if let Some(cursors) = m
                .pointer_mut("/state/stream/stream_state")
                .and_then(Value::as_object_mut)
            {
                for v in cursors.values_mut() {
                    let recent = v
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| (chrono::Utc::now() - t.to_utc()).num_hours().abs() < 24);
                    if recent {
                        *v = json!("<clock>");
                    }
                }
            }
            m
        })
        .collect()
}

/// A read's messages by stream, in order: its RECORDs, STATEs, stream statuses and errors
/// (streams are read concurrently, so only each stream's own order is fixed); LOGs of level
/// WARN and above under "". INFO LOGs carry timings and are left out.
fn by_stream(run: &Run) -> BTreeMap<String, Vec<Value>> {
    let mut streams: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in comparable(run) {
        let stream = match m["type"].as_str().unwrap() {
            "RECORD" => m["record"]["stream"].as_str(),
            "STATE" => m["state"]["stream"]["stream_descriptor"]["name"].as_str(),
            "TRACE" => m["trace"]["stream_status"]["stream_descriptor"]["name"]
                .as_str()
                .or(m["trace"]["error"]["stream_descriptor"]["name"].as_str())
                .or(Some("")),
            "LOG" if !matches!(m["log"]["level"].as_str(), Some("INFO" | "DEBUG" | "TRACE")) => {
                Some("")
            }
            _ => None,
        };
        if let Some(s) = stream {
            streams.entry(s.to_string()).or_default().push(m);
        }
    }
    streams
}

/// Each stream's messages with every run of RECORDs between two other messages sorted: the
/// child batches of a page go side by side, so their records come in any order, but always
/// between the same checkpoints.
fn in_order(streams: BTreeMap<String, Vec<Value>>) -> BTreeMap<String, Vec<Value>> {
    streams
        .into_iter()
        .map(|(name, msgs)| {
            let mut out: Vec<Value> = Vec::with_capacity(msgs.len());
            let mut run: Vec<Value> = Vec::new();
            for m in msgs {
                if m["type"] == "RECORD" {
                    run.push(m);
                    continue;
                }
                run.sort_by_key(Value::to_string);
                out.append(&mut run);
                out.push(m);
            }
            run.sort_by_key(Value::to_string);
            out.append(&mut run);
            (name, out)
        })
        .collect()
}

/// The first difference between two runs' messages, for a failure message.
fn first_difference(a: &[Value], b: &[Value]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(
            "message {i}:\n in the container: {}\n outside:          {}",
            a[i], b[i]
        ),
        None => format!("{} messages in the container, {} outside", a.len(), b.len()),
    }
}

fn assert_same_read(label: &str, inside: &Run, outside: &Run) {
    assert_eq!(
        inside.status, outside.status,
        "{label}: exit status; container stderr: {}",
        inside.stderr
    );
    let (a, b) = (in_order(by_stream(inside)), in_order(by_stream(outside)));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{label}: the same streams"
    );
    for (stream, msgs) in &a {
        assert!(
            msgs == &b[stream],
            "{label}: stream {stream:?} differs; {}",
            first_difference(msgs, &b[stream])
        );
    }
}

fn assert_same(label: &str, inside: &Run, outside: &Run) {
    assert_eq!(
        inside.status, outside.status,
        "{label}: exit status; container stderr: {}",
        inside.stderr
    );
    let (a, b) = (comparable(inside), comparable(outside));
    assert!(a == b, "{label}: {}", first_difference(&a, &b));
}

/// The configured catalog Airbyte would send for the default streams, from `discover`:
/// incremental where the stream supports it, else full refresh.
fn configured_catalog(discovered: &Run) -> String {
    let catalog = discovered
        .messages
        .iter()
        .find_map(|m| match m {
            Message::Catalog { catalog } => Some(serde_json::to_value(catalog).unwrap()),
            _ => None,
        })
        .expect("discover gives a catalog");
    let wanted = default_streams();
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| wanted.contains(&s["name"].as_str().unwrap()))
        .map(|s| {
            let incremental = s["supported_sync_modes"]
                .as_array()
                .unwrap()
                .contains(&json!("incremental"));
            json!({"stream": s, "sync_mode": if incremental { "incremental" } else { "full_refresh" },
                   "destination_sync_mode": "append"})
        })
        .collect();
    assert_eq!(
        streams.len(),
        wanted.len(),
        "every default stream discovered"
    );
    json!({ "streams": streams }).to_string()
}

fn sandbox_config(world: &World, key: &str) -> String {
    json!({"api_key": key, "start_date": START, "base_url": world.sandbox.base_url()}).to_string()
}

#[test]
#[ignore = "needs a Docker engine and an image: integration_tests/image/run.sh"]
fn labels_user_and_entrypoint_agree_with_metadata() {
    let out = Command::new("docker")
        .args(["image", "inspect", &image(), "--format", "{{json .Config}}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker image inspect {}", image());
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    let metadata =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("metadata.yaml"))
            .unwrap();
    let labels = &config["Labels"];
    assert_eq!(
        labels["io.airbyte.name"].as_str().map(str::to_string),
        yaml_scalar(&metadata, "dockerRepository")
    );
    assert_eq!(
        labels["io.airbyte.version"].as_str().map(str::to_string),
        yaml_scalar(&metadata, "dockerImageTag")
    );
    let entry = "/usr/local/bin/source-pipedrive";
    assert_eq!(config["Entrypoint"], json!([entry]));
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("AIRBYTE_ENTRYPOINT={entry}"))),
        "{}",
        config["Env"]
    );
    assert_eq!(config["User"], "1000:1000");
    // The user the container's processes run as, seen from inside.
    let id = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            &image(),
            "-c",
            "id -u; id -g; pwd; test -w /airbyte && echo writable",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&id.stdout),
        "1000\n1000\n/airbyte\nwritable\n",
        "stderr: {}",
        String::from_utf8_lossy(&id.stderr)
    );
}

#[test]
#[ignore = "needs a Docker engine and an image: integration_tests/image/run.sh"]
fn spec_check_and_discover_answer_as_the_binary_does() {
    let world = World::new(10);
    let inputs = Inputs::new();
    let good = inputs.put("source_config.json", &sandbox_config(&world, &world.key()));
    let bad = inputs.put(
        "bad_config.json",
        &sandbox_config(&world, "not-the-sandbox-key-0123"),
    );
    let net = ["--network", "host"];
    for via in [Via::Entrypoint, Via::Shell] {
        let tag = format!("{via:?}").to_lowercase();
        let spec = container(&format!("spec-{tag}"), via, &inputs, &[], &["spec"]);
        assert_same(&format!("spec via {tag}"), &spec, &run(&["spec"]));
        assert!(matches!(spec.messages[..], [Message::Spec { .. }]));

        let check = container(
            &format!("check-{tag}"),
            via,
            &inputs,
            &net,
            &["check", "--config", &good],
        );
        let outside = run(&["check", "--config", &inputs.host("source_config.json")]);
        assert_same(&format!("check via {tag}"), &check, &outside);
        assert!(check.stdout.contains("\"SUCCEEDED\""), "{}", check.stdout);

        let rejected = container(
            &format!("check-bad-key-{tag}"),
            via,
            &inputs,
            &net,
            &["check", "--config", &bad],
        );
        let outside = run(&["check", "--config", &inputs.host("bad_config.json")]);
        assert_same(&format!("check (bad key) via {tag}"), &rejected, &outside);
        assert!(
            rejected.stdout.contains("\"FAILED\""),
            "{}",
            rejected.stdout
        );
        assert!(
            !rejected.stdout.contains("not-the-sandbox-key"),
            "the key is not echoed"
        );

        let discover = container(
            &format!("discover-{tag}"),
            via,
            &inputs,
            &net,
            &["discover", "--config", &good],
        );
        let outside = run(&["discover", "--config", &inputs.host("source_config.json")]);
        assert_same(&format!("discover via {tag}"), &discover, &outside);
    }
}

#[test]
#[ignore = "needs a Docker engine and an image: integration_tests/image/run.sh"]
fn full_and_incremental_reads_give_the_binarys_messages() {
    let world = World::new(40);
    let inputs = Inputs::new();
    let config = inputs.put("source_config.json", &sandbox_config(&world, &world.key()));
    let discovered = run(&["discover", "--config", &inputs.host("source_config.json")]);
    let catalog = inputs.put("source_catalog.json", &configured_catalog(&discovered));
    let net = ["--network", "host"];
    let host_config = inputs.host("source_config.json");
    let host_catalog = inputs.host("source_catalog.json");

    // Airbyte's way first: through the shell and $AIRBYTE_ENTRYPOINT.
    let full = container(
        "read-full",
        Via::Shell,
        &inputs,
        &net,
        &["read", "--config", &config, "--catalog", &catalog],
    );
    full.assert_ok();
    let outside = run(&["read", "--config", &host_config, "--catalog", &host_catalog]);
    assert_same_read("full read", &full, &outside);
    assert!(
        full.records("deals").len() >= 40,
        "the sandbox's deals were read"
    );

    let state = inputs.put("input_state.json", &full.state_file());
    let incremental = container(
        "read-incremental",
        Via::Entrypoint,
        &inputs,
        &net,
        &[
            "read",
            "--config",
            &config,
            "--catalog",
            &catalog,
            "--state",
            &state,
        ],
    );
    incremental.assert_ok();
    let outside = run(&[
        "read",
        "--config",
        &host_config,
        "--catalog",
        &host_catalog,
        "--state",
        &inputs.host("input_state.json"),
    ]);
    assert_same_read("incremental read", &incremental, &outside);
    assert!(
        incremental.records("deals").len() < full.records("deals").len(),
        "the incremental read resumed from the state: {} deals, {} in the full read",
        incremental.records("deals").len(),
        full.records("deals").len()
    );
}

#[test]
#[ignore = "needs a Docker engine and an image: integration_tests/image/run.sh"]
fn runs_on_a_read_only_root_filesystem_without_privileges() {
    let world = World::new(20);
    let inputs = Inputs::new();
    let config = inputs.put("source_config.json", &sandbox_config(&world, &world.key()));
    let catalog = inputs.put(
        "source_catalog.json",
        &crate::util::catalog(&["deals", "persons", "activities"], "incremental"),
    );
    // No tmpfs: the connector writes nothing but stdout and stderr.
    let locked = [
        "--network",
        "host",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ];
    let check = container(
        "read-only-check",
        Via::Shell,
        &inputs,
        &locked,
        &["check", "--config", &config],
    );
    assert!(
        check.stdout.contains("\"SUCCEEDED\""),
        "{}\n{}",
        check.stdout,
        check.stderr
    );
    let read = container(
        "read-only-read",
        Via::Entrypoint,
        &inputs,
        &locked,
        &["read", "--config", &config, "--catalog", &catalog],
    );
    read.assert_ok();
    let outside = run(&[
        "read",
        "--config",
        &inputs.host("source_config.json"),
        "--catalog",
        &inputs.host("source_catalog.json"),
    ]);
    assert_same_read("read on a read-only root", &read, &outside);
}
