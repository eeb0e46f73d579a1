//! What can be checked of the Docker image and Airbyte metadata without a Docker engine: the
//! Dockerfile's stages, entrypoint and labels agree with metadata.yaml and Cargo.toml, and every
//! file it copies exists.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `key: value` lines of a flat YAML section, enough for metadata.yaml's scalar fields.
pub(crate) fn yaml_scalar(yaml: &str, key: &str) -> Option<String> {
    yaml.lines().find_map(|l| {
        let (k, v) = l.trim().split_once(": ")?;
        (k == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn label(dockerfile: &str, name: &str) -> Option<String> {
    dockerfile.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("LABEL ")?;
        let (k, v) = rest.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[test]
fn dockerfile_agrees_with_metadata_and_cargo() {
    let dockerfile = read("Dockerfile");
    let metadata = read("metadata.yaml");
    let version = env!("CARGO_PKG_VERSION");

    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 2, "a multi-stage build: {froms:?}");
    assert!(
        froms[0].contains(" AS build"),
        "first stage builds: {}",
        froms[0]
    );
    assert!(
        dockerfile.contains("--release --locked"),
        "release build from the lock file"
    );

    let entry = "/usr/local/bin/source-pipedrive";
    assert!(dockerfile.contains(&format!("ENV AIRBYTE_ENTRYPOINT=\"{entry}\"")));
    assert!(dockerfile.contains(&format!("ENTRYPOINT [\"{entry}\"]")));
    assert!(dockerfile.contains(&format!(
        "COPY --from=build /build/target/release/source-pipedrive {entry}"
    )));

    assert_eq!(
        label(&dockerfile, "io.airbyte.version").as_deref(),
        Some(version)
    );
    assert_eq!(
        yaml_scalar(&metadata, "dockerImageTag").as_deref(),
        Some(version)
    );
    assert_eq!(
        label(&dockerfile, "io.airbyte.name"),
        yaml_scalar(&metadata, "dockerRepository")
    );

    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
        }
    }
}

#[test]
fn the_dependency_stage_stubs_every_target() {
    let dockerfile = read("Dockerfile");
    let manifest = read("Cargo.toml");
    let benches: Vec<&str> = dockerfile
        .split("for b in ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .map(|list| list.split_whitespace().collect())
        .unwrap_or_default();
    for line in manifest.lines().filter(|l| l.starts_with("path = ")) {
        let path = line.trim_start_matches("path = ").trim_matches('"');
        let stubbed = dockerfile.contains(&format!("> {path}"))
            || path
                .strip_prefix("integration_tests/bench/")
                .and_then(|f| f.strip_suffix(".rs"))
                .is_some_and(|stem| benches.contains(&stem));
        assert!(
            stubbed,
            "the Dockerfile's dependency stage does not stub {path}"
        );
    }
}

/// The crates of the workspace besides the root package, from `members = [...]` in Cargo.toml.
fn workspace_members(manifest: &str) -> Vec<String> {
    let (_, rest) = manifest
        .split_once("members = [")
        .expect("Cargo.toml declares its workspace members");
    let list = rest.split(']').next().unwrap_or("");
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty() && m != ".")
        .collect()
}

#[test]
fn the_dependency_stage_handles_every_workspace_member() {
    let dockerfile = read("Dockerfile");
    let members = workspace_members(&read("Cargo.toml"));
    assert!(
        !members.is_empty(),
        "the sandbox crate is a workspace member"
    );
    for member in &members {
        assert!(
            dockerfile.contains(&format!("COPY {member}/Cargo.toml ")),
            "the Dockerfile does not copy {member}/Cargo.toml before the dependency build"
        );
        let manifest = read(&format!("{member}/Cargo.toml"));
        let paths: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("path = "))
            .map(|p| p.trim_matches('"'))
            .collect();
        assert!(
            !paths.is_empty(),
            "{member}/Cargo.toml names its targets' paths"
        );
        for path in paths {
            let target = format!("{member}/{path}");
            assert!(
                dockerfile.contains(&format!("> {target}")),
                "the Dockerfile's dependency stage does not stub {target}"
            );
            // Real sources copied over a stub keep their older mtimes; without a touch Cargo
            // would keep the stub's build.
            assert!(
                dockerfile
                    .lines()
                    .any(|l| l.starts_with("RUN touch ") && l.contains(&format!(" {target}"))),
                "the Dockerfile does not touch {target} before the real build"
            );
        }
        assert!(
            dockerfile.contains(&format!("COPY {member}/src ")),
            "the Dockerfile does not copy {member}'s sources"
        );
    }
}

/// `image@sha256:<64 hex digits>`: what a pinned image reference looks like.
fn pinned(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(name, digest)| {
        !name.is_empty() && digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The default of each `ARG NAME=value` declared before the first FROM (the ones a FROM line
/// may use).
fn global_args(dockerfile: &str) -> Vec<(String, String)> {
    dockerfile
        .lines()
        .take_while(|l| !l.starts_with("FROM "))
        .filter_map(|l| l.strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// Each stage's base as written (`${BASE_IMAGE}`) and as built by default (the ARG's default).
fn stage_bases(dockerfile: &str) -> Vec<(String, String)> {
    let args = global_args(dockerfile);
    dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|written| {
            let default = written
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .map(|name| {
                    args.iter()
                        .find(|(k, _)| k == name)
                        .unwrap_or_else(|| {
                            panic!("FROM {written}: no ARG {name} before the first FROM")
                        })
                        .1
                        .clone()
                })
                .unwrap_or_else(|| written.to_string());
            (written.to_string(), default)
        })
        .collect()
}

#[test]
fn base_images_are_pinned_by_digest_and_agree_with_metadata() {
    let dockerfile = read("Dockerfile");
    let bases = stage_bases(&dockerfile);
    assert!(bases.len() >= 2, "a multi-stage build: {bases:?}");
    for (written, default) in &bases {
        assert!(
            pinned(default),
            "FROM {written} ({default}) is not pinned by digest"
        );
    }
    let base = yaml_scalar(&read("metadata.yaml"), "baseImage").expect("metadata.yaml: baseImage");
    assert!(
        pinned(&base),
        "metadata.yaml's baseImage {base} is not pinned by digest"
    );
    // airbyte-cdk's image build passes baseImage as the build argument BASE_IMAGE: the runtime
    // stage must be built from it, and its default must be that same image.
    let (written, default) = bases.last().unwrap();
    assert_eq!(
        written, "${BASE_IMAGE}",
        "the runtime stage's base is the BASE_IMAGE build argument"
    );
    assert_eq!(
        *default, base,
        "ARG BASE_IMAGE's default is metadata.yaml's connectorBuildOptions.baseImage"
    );
    assert!(
        bases[0].0.starts_with("${") && bases[0].0 != "${BASE_IMAGE}",
        "the build stage's base is a build argument of its own, so a stand-in can replace it: {}",
        bases[0].0
    );
}

#[test]
fn the_image_runs_as_a_numeric_user_in_its_own_airbyte_folder() {
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a runtime stage");
    let last = |instruction: &str| {
        runtime
            .lines()
            .filter_map(|l| l.strip_prefix(instruction))
            .next_back()
            .map(str::trim)
    };
    let user = last("USER ").expect("the runtime stage sets USER");
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u > 0) && gid.parse::<u32>().is_ok(),
        "USER is a numeric, non-root uid[:gid], not {user}"
    );
    assert_eq!(last("WORKDIR "), Some("/airbyte"));
    assert!(
        runtime.contains(&format!("chown {uid}:{gid} /airbyte"))
            || runtime.contains(&format!("chown {uid} /airbyte")),
        "/airbyte is owned by the connector's user ({user})"
    );
    assert!(
        runtime.contains(&format!("--uid {uid}")),
        "the image has a named user with uid {uid}"
    );
}

#[test]
fn metadata_has_what_airbyte_requires() {
    let metadata = read("metadata.yaml");
    for key in [
        "connectorType",
        "definitionId",
        "dockerRepository",
        "dockerImageTag",
        "name",
        "documentationUrl",
        "releaseStage",
        "supportLevel",
    ] {
        assert!(
            yaml_scalar(&metadata, key).is_some_and(|v| !v.is_empty()),
            "metadata.yaml lacks {key}"
        );
    }
    assert_eq!(
        yaml_scalar(&metadata, "connectorType").as_deref(),
        Some("source")
    );
    let id = yaml_scalar(&metadata, "definitionId").unwrap();
    assert!(
        id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4,
        "definitionId is a UUID: {id}"
    );
    assert!(metadata.contains("- language:rust"));
    assert!(metadata.contains("api.pipedrive.com"));
}

#[test]
fn readme_lists_every_stream() {
    let readme = read("README.md");
    for def in source_pipedrive::streams::STREAMS {
        let row = readme.lines().any(|l| {
            l.starts_with(&format!("| {} ", def.name))
                || l.starts_with(&format!("| {} ⤷", def.name))
        });
        assert!(row, "README.md's stream table lacks {}", def.name);
        assert!(
            readme.contains(&format!("`{}", def.path.split('?').next().unwrap())),
            "README.md lacks the endpoint of {}",
            def.name
        );
    }
}
