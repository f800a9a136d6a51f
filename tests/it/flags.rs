//! Issue 15: Compose's flags with Compose's meaning — recreate policies, --no-deps, orphans,
//! --pull never, profiles, --dry-run (computes the plan, touches nothing), ps's filters,
//! build --no-cache, completion and man pages. Real engine; effects checked on containers.

use crate::common::{docker_available, text, Stack};

fn ids(s: &Stack) -> std::collections::BTreeMap<String, String> {
    s.containers().into_iter().collect()
}

fn id_of(s: &Stack, service: &str) -> String {
    ids(s)
        .get(&format!("{}-{service}-1", s.name))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn recreate_policies_and_no_deps_act_as_in_compose() {
    if !docker_available() {
        return;
    }
    let mut s = Stack::new("stack5");
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let before = ids(&s);
    // --no-deps --force-recreate web: only web gets a new container.
    let out = s.ok(&["up", "-d", "--no-deps", "--force-recreate", "web"]);
    assert!(out.contains("web recreated"), "{out}");
    let after = ids(&s);
    for (name, id) in &before {
        if name.ends_with("-web-1") {
            assert_ne!(after[name], *id, "web must be recreated");
        } else {
            assert_eq!(after[name], *id, "{name} must be left alone: {out}");
        }
    }
    // A changed configuration with --no-recreate: the old container stays.
    s.set_env("API_MODE", "changed");
    let api = id_of(&s, "api");
    let out = s.ok(&["up", "-d", "--no-recreate", "--wait-timeout", "90"]);
    assert_eq!(id_of(&s, "api"), api, "{out}");
    // The plan names the change; `up` then recreates exactly api (and no other).
    let plan = s.ok(&["up", "--dry-run"]);
    assert!(
        plan.contains("node       api: would be recreated: its configuration changed"),
        "{plan}"
    );
    assert!(plan.contains("node       db: up to date"), "{plan}");
    assert_eq!(id_of(&s, "api"), api, "--dry-run touched api");
    let out = s.ok(&["up", "-d", "--wait-timeout", "90"]);
    assert_ne!(id_of(&s, "api"), api, "{out}");
    assert!(out.contains("api recreated"), "{out}");
}

#[test]
fn dry_runs_print_the_plan_and_touch_nothing() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    let out = s.ok(&["up", "--dry-run"]);
    for want in [
        "node       db: would be created and started",
        "node       worker: would be created and started",
        "network    ",
        "volume     ",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(s.containers().is_empty() && s.networks().is_empty() && s.volumes().is_empty());
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let before = ids(&s);
    let down = s.ok(&["down", "--dry-run"]);
    let pos = |w: &str| down.find(w).unwrap_or_else(|| panic!("{w} in {down}"));
    // Reverse order: worker before web before api before db.
    assert!(pos("-worker-1") < pos("-web-1") && pos("-web-1") < pos("-api-1"));
    assert!(pos("-api-1") < pos("-db-1"), "{down}");
    assert!(down.contains("kept (`--volumes` removes it)"), "{down}");
    let restart = s.ok(&["restart", "--dry-run", "api"]);
    assert!(
        restart.contains("api: would be restarted")
            && restart.contains(
                "web: would be restarted, then waited on (declares restart: true on api)"
            ),
        "{restart}"
    );
    let build = s.ok(&["build", "--dry-run"]);
    assert!(build.contains("nothing to build"), "{build}");
    assert_eq!(ids(&s), before, "a dry run changed containers");
}

#[test]
fn ps_filters_like_compose() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    // Running containers by default: migrate (an init job) has exited.
    let quiet = s.ok(&["ps", "-q"]);
    assert_eq!(quiet.lines().count(), 4, "{quiet}");
    let all = s.ok(&["ps", "-a", "-q"]);
    assert_eq!(all.lines().count(), 5, "{all}");
    let exited = s.ok(&["ps", "-a", "--status", "exited", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(exited.trim()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{exited}");
    assert_eq!(rows[0]["service"], "migrate");
    let services = s.ok(&["ps", "--services"]);
    assert_eq!(
        services.lines().collect::<Vec<_>>(),
        vec!["db", "migrate", "api", "web", "worker"]
    );
    let one = s.ok(&["ps", "web", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(one.trim()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{one}");
}

#[test]
fn profiles_orphans_and_pull_never() {
    if !docker_available() {
        return;
    }
    let mut s = Stack::new("stack5");
    let template = std::fs::read_to_string(s.path().join("templates/compose.yaml.j2")).unwrap();
    let with_tools = template.replace(
        "\nvolumes:\n",
        "  tools:\n    <<: *bb\n    command: [\"sleep\", \"100000\"]\n    profiles: [debug]\n\nvolumes:\n",
    );
    s.set_template(&with_tools);
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    assert!(
        id_of(&s, "tools").is_empty(),
        "a profile's service runs only when enabled"
    );
    s.ok(&["--profile", "debug", "up", "-d", "--wait-timeout", "90"]);
    assert!(!id_of(&s, "tools").is_empty());
    s.set_env("COMPOSE_PROFILES", "debug");
    let services = s.ok(&["ps", "--services"]);
    assert!(services.contains("tools"), "{services}");

    // tools leaves the file: an orphan, noted, then removed when asked.
    s.set_template(&template);
    let out = s.ok(&["up", "-d", "--wait-timeout", "90"]);
    assert!(out.contains("found orphan containers"), "{out}");
    assert!(!id_of(&s, "tools").is_empty());
    let out = s.ok(&["up", "-d", "--remove-orphans", "--wait-timeout", "90"]);
    assert!(id_of(&s, "tools").is_empty(), "{out}");

    // --pull never: a missing image is an error naming it, nothing is pulled or created.
    s.set_template(&template.replace(
        "\nvolumes:\n",
        "  ghost:\n    image: devstack-test-missing:never\n\nvolumes:\n",
    ));
    let out = s.run(&["up", "-d", "--pull", "never", "ghost"]);
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("devstack-test-missing:never") && t.contains("--pull never"),
        "{t}"
    );
    assert!(id_of(&s, "ghost").is_empty());
}

#[test]
fn build_no_cache_rebuilds_and_completion_and_man_pages_come_from_the_cli() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    // An image of this test's own: rebuilding the shared test tag would move it under the
    // containers of the tests running beside this one.
    let tag = format!("devstack-test-nocache-{}:latest", s.name);
    s.set_template(&format!(
        "services:\n  solo:\n    image: {tag}\n    build: ./services/bb\n"
    ));
    let first = s.ok(&["build", "solo"]);
    let again = s.ok(&["build", "solo"]);
    assert!(again.contains("solo up to date"), "{first}\n{again}");
    let rebuilt = s.ok(&["build", "--no-cache", "solo"]);
    assert!(rebuilt.contains("solo built"), "{rebuilt}");
    crate::common::docker(&["rmi", "-f", &tag]);

    let bash = s.ok(&["completion", "bash", "--static"]);
    assert!(
        bash.contains("_devstack()") && bash.contains("--wait-timeout"),
        "{bash}"
    );
    let dir = tempfile::tempdir().unwrap();
    s.ok(&["man", "--out", dir.path().to_str().unwrap()]);
    let up = std::fs::read_to_string(dir.path().join("devstack-up.1")).unwrap();
    assert!(up.contains("force\\-recreate"), "{up}");
    assert!(dir.path().join("devstack.1").is_file());
}

#[test]
fn override_files_and_dash_f_merge_as_compose_does() {
    let s = Stack::new("stack5");
    // Compose's automatic override beside the template.
    std::fs::write(
        s.path().join("templates/compose.override.yaml"),
        "services:\n  api:\n    environment:\n      EXTRA: \"from-override\"\n    command: [\"sh\", \"-c\", \"touch /tmp/ready; exec httpd -f -p 8080 -h /www\"]\n",
    )
    .unwrap();
    let cfg = s.ok(&["config"]);
    // Compose merges two files' environments into one KEY=VALUE list.
    assert!(cfg.contains("EXTRA=from-override"), "{cfg}");
    assert!(cfg.contains("ROLE=api"), "the template's keys stay:\n{cfg}");
    assert!(
        !cfg.contains("sleep 1; touch /tmp/ready; echo api ready"),
        "command replaced:\n{cfg}"
    );
    // -f: plain YAML files instead, merged in order; the override is then not read.
    std::fs::write(
        s.path().join("one.yaml"),
        "services:\n  solo:\n    image: devstack-test-bb:latest\n    command: [\"sleep\", \"1000\"]\n    ports: [\"127.0.0.1:18181:80\"]\n",
    )
    .unwrap();
    std::fs::write(
        s.path().join("two.yaml"),
        "services:\n  solo:\n    ports: [\"127.0.0.1:18182:81\"]\n    environment: [\"K=V\"]\n",
    )
    .unwrap();
    let one = s.path().join("one.yaml");
    let two = s.path().join("two.yaml");
    let services = s.ok(&[
        "-f",
        one.to_str().unwrap(),
        "-f",
        two.to_str().unwrap(),
        "config",
        "--services",
    ]);
    assert_eq!(services.trim(), "solo", "{services}");
    let cfg = s.ok(&[
        "-f",
        one.to_str().unwrap(),
        "-f",
        two.to_str().unwrap(),
        "config",
    ]);
    assert!(
        cfg.contains("18181") && cfg.contains("18182") && cfg.contains("K=V"),
        "{cfg}"
    );
    let out = s.run(&["-f", "missing.yaml", "config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("-f missing.yaml: no such file"),
        "{}",
        text(&out)
    );
    if !docker_available() {
        return;
    }
    s.ok(&["up", "-d", "--wait-timeout", "90", "api"]);
    let env = s.inspect("api", "{{json .Config.Env}}");
    assert!(env.contains("EXTRA=from-override"), "{env}");
}

/// What a real bash offers after `source <(devstack completion bash)`: COMPREPLY for the words.
fn bash_completes(dir: &std::path::Path, line: &str) -> Vec<String> {
    let bin_dir = std::path::Path::new(crate::common::bin()).parent().unwrap();
    let script = "source <(devstack completion bash)\n\
         read -ra COMP_WORDS <<< \"$LINE\"; [[ \"$LINE\" == *' ' ]] && COMP_WORDS+=('')\n\
         COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=\"$LINE\"; COMP_POINT=${#LINE}\n\
         _clap_complete_devstack devstack \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n\
         printf '%s\\n' \"${COMPREPLY[@]}\"\n";
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("LINE", line)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_offers_verbs_flags_and_the_projects_services() {
    let s = Stack::new("graphed");
    // Nothing rendered yet: no names to offer, and no error.
    let _ = std::fs::remove_dir_all(s.path().join(".devstack"));
    let before = bash_completes(s.path(), "devstack logs ");
    assert!(!before.iter().any(|c| c == "base"), "{before:?}");
    s.ok(&["config", "-q"]);
    let all = bash_completes(s.path(), "devstack logs ");
    let graph = s.ok(&["config", "--services"]);
    for name in graph.lines().filter(|l| !l.is_empty()) {
        assert!(all.iter().any(|c| c == name), "{name} not offered: {all:?}");
    }
    assert!(all.iter().any(|c| c == "gate"), "the host process: {all:?}");
    // From a subdirectory too, and by prefix.
    let sub = s.path().join("services");
    let first = graph.lines().next().unwrap();
    let prefix = &first[..1];
    let some = bash_completes(&sub, &format!("devstack restart {prefix}"));
    assert!(some.iter().any(|c| c == first), "{some:?}");
    assert!(some.iter().all(|c| c.starts_with(prefix)), "{some:?}");
    // Verbs and flags come from the same definitions.
    assert!(bash_completes(s.path(), "devstack rest").contains(&"restart".to_string()));
    let flags = bash_completes(s.path(), "devstack up --wa");
    assert!(flags.contains(&"--wait-timeout".to_string()), "{flags:?}");
}
