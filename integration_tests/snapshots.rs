//! `spec` and `discover` as insta snapshots: any change to what users and Airbyte see is reviewed.

use serde_json::Value;

use crate::util::{run, World};

fn single_message(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one message expected");
    serde_json::from_str(lines[0]).unwrap()
}

#[test]
fn spec() {
    let r = run(&["spec"]);
    r.assert_ok();
    insta::assert_json_snapshot!("spec", single_message(&r.stdout));
}

#[test]
fn discover() {
    let world = World::new(10);
    let config = world.config(crate::util::START);
    let r = run(&["discover", "--config", config.to_str().unwrap()]);
    r.assert_ok();
    insta::assert_json_snapshot!("discover", single_message(&r.stdout));
}
