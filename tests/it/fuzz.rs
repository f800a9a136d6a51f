//! Issue 25: a generator that drives the built `devstack` the way a user would, with inputs
//! shaped like the ones that once made it panic, abort, hang or name the wrong thing: mutated
//! templates, compose YAML, `.env` files, flags, environment variables (non-UTF-8 ones too)
//! and output pipes (closed early, a full disk). Every verb it runs creates nothing.
//!
//! Each run must end by itself (20 s; a template's fuel stops loops in about a second) with
//! exit 0, 1 or 2, never a panic (101) or a signal; an error must be a readable message:
//! `error:` first, no raw control characters, the user's bulk input shortened, no parser
//! internals, never the generated `.devstack/compose.yaml` named as the place of an error. A
//! closed stdout ends the command quietly.
//!
//! Stable Rust, no fuzzing engine: a seeded generator, so any failure is reproducible.
//! `DEVSTACK_FUZZ_CASES` (default 200) and `DEVSTACK_FUZZ_SECS` (default 120) bound a run,
//! `DEVSTACK_FUZZ_SEED` picks the seed (default: the time; printed), `DEVSTACK_FUZZ_BIN`
//! another devstack binary to judge (an older build, for comparison). Failures are written to
//! `target/fuzz-failures/SEED-N/` (the project, the command line, the environment) and listed.
//! `bash scripts/test.sh` runs a bigger bounded run (see there).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::bin;

/// splitmix64: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A count that is usually small and sometimes huge (the shapes that broke things).
    fn size(&mut self) -> usize {
        *self.pick(&[0, 1, 2, 3, 10, 150, 999, 1001, 5_000, 20_000, 100_000])
    }
}

/// Templates to start from: the default stack's (written by `devstack init`), and small ones
/// with host processes, profiles and variables.
const SMALL: &[&str] = &[
    "services:\n  web:\n    image: busybox\n    environment:\n      LEVEL: \"{{ env.LOG_LEVEL | default('info') }}\"\n",
    "x-devstack:\n  host:\n    cam:\n      command: [\"sleep\", \"1\"]\n      depends_on: {web: {condition: service_started}}\nservices:\n  web:\n    image: busybox\n    x-devstack:\n      depends_on: {cam: {condition: service_started}}\n",
    "services:\n  a:\n    image: \"${IMAGE:-busybox}\"\n    profiles: [\"p\"]\n  b:\n    image: x\n    depends_on: [a]\n",
    "x-base: &base\n  image: busybox\nservices:\n  a:\n    <<: *base\n  b: !reset {}\n",
    "{% for i in range(3) %}\n{% endfor %}\nservices:\n  a:\n    image: busybox\n    command: [\"echo\", \"{{ project.name }}\"]\n",
];

/// What the generator inserts into a template: the cases and their neighbours.
fn template_piece(r: &mut Rng) -> String {
    let n = r.size();
    match r.below(24) {
        0 => format!("{{{{ {}1 }}}}", "-".repeat(n)),
        1 => format!("{{{{ 1{} }}}}", "|abs".repeat(n)),
        2 => format!(
            "{{{{ 'x'|indent({}) }}}}",
            r.pick(&["99999999999", "-1", "3", "1e9"])
        ),
        3 => format!(
            "{{% for i in range({n}) %}}{{% for j in range({n}) %}}{{% endfor %}}{{% endfor %}}"
        ),
        4 => format!("{{% for i in range({n}) %}}{{{{ 'x'*{n} }}}}{{% endfor %}}"),
        5 => "{{ env.LOG_LEVEL.x }}".into(),
        6 => format!(
            "{{{{ env.{} }}}}",
            r.pick(&["NOPE", "LOG_LEVEL", "A", "é", ""])
        ),
        7 => "{% if true %}".into(),
        8 => "{{".into(),
        9 => "}}".into(),
        10 => "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}".into(),
        11 => format!(
            "{}x{}",
            "{% if true %}".repeat(n.min(500)),
            "{% endif %}".repeat(n.min(500))
        ),
        12 => format!("{}1{}", "(".repeat(n.min(5000)), ")".repeat(n.min(5000))),
        13 => format!("{{{{ 1{} }}}}", "+1".repeat(n)),
        14 => "{% include 'nope.j2' %}".into(),
        15 => "{% include '../../etc/passwd' %}".into(),
        16 => format!("{{{{ \"{}\" }}}}", "\\x1b[2J".repeat(r.below(3))),
        17 => "{{ gpu.devices[99].name }}".into(),
        18 => "{{ host | tojson }}".into(),
        19 => format!("{{{{ range({n}) | list | length }}}}"),
        20 => "{# unclosed comment".into(),
        21 => "{{ 1/0 }}".into(),
        22 => "{{ 'a' ~ }}".into(),
        _ => format!("{{{{ {} }}}}", "x.".repeat(n.min(3000)) + "y"),
    }
}

/// What the generator inserts into YAML: anchors and alias bombs, merge keys, tags, odd
/// scalars, duplicate keys, deep nesting, host processes with odd names and commands.
fn yaml_piece(r: &mut Rng) -> String {
    let n = r.size();
    match r.below(22) {
        0 => {
            let mut s = "x-a: &a [1,1,1,1,1,1,1,1,1,1]\n".to_string();
            for i in 0..r.below(9) {
                let prev = if i == 0 {
                    "a".into()
                } else {
                    format!("a{}", i - 1)
                };
                s.push_str(&format!(
                    "x-a{i}: &a{i} [{}]\n",
                    vec![format!("*{prev}"); 10].join(",")
                ));
            }
            s
        }
        1 => "x-m: &m {image: busybox}\nx-n:\n  <<: [*m, *m]\n".into(),
        2 => "x-nan: .nan\nx-inf: -.inf\nx-big: 123456789012345678901234567890\n".into(),
        3 => "services:\n  a:\n    image: x\n    image: y\n".into(),
        4 => format!(
            "x-deep: {}{}\n",
            "[".repeat(n.min(20_000)),
            "]".repeat(n.min(20_000))
        ),
        5 => format!(
            "x-deepmap: {}1{}\n",
            "{a: ".repeat(n.min(5000)),
            "}".repeat(n.min(5000))
        ),
        6 => "x-tag: !!binary aGVsbG8=\nx-t2: !custom 5\n".into(),
        7 => "services: !override\n  z:\n    image: z\n".into(),
        8 => format!(
            "x-devstack:\n  host:\n    {}:\n      command: {}\n",
            r.pick(&[
                "\"\"",
                "\"a b\"",
                "\"a\\\"b\"",
                "\"a\\nb\"",
                "cam",
                "supervisor",
                "-x",
                "\"\\t\""
            ]),
            r.pick(&[
                "[]",
                "\"\"",
                "[\"\"]",
                "\"sleep 1\"",
                "5",
                "{}",
                "null",
                "[\"sleep\", 1]"
            ])
        ),
        9 => format!("x-long: \"{}\"\n", "a".repeat(n)),
        10 => format!("{}: 1\n", "k".repeat(n.max(1))),
        11 => "\u{feff}services: {}\n".into(),
        12 => "services:\r\n  a:\r\n    image: x\r\n".into(),
        13 => "\0".into(),
        14 => "---\n".into(),
        15 => "%YAML 1.1\n---\nservices: {}\n".into(),
        16 => "services:\n  a:\n    image: x\n    depends_on: [a]\n".into(),
        17 => "services:\n  a:\n    image: x\n    ports: [\"99999:1\"]\n".into(),
        18 => "services:\n  a:\n    extends: {file: /dev/null, service: a}\n".into(),
        19 => "include: [/nonexistent.yaml]\n".into(),
        20 => format!(
            "services:\n  {}:\n    image: x\n",
            r.pick(&["\"a b\"", "\"\"", "UPPER", "a.b", "\"ä\""])
        ),
        _ => "x-devstack:\n  aliases: {p: nowhere}\n  autoheal: {max_backoff: forever}\n".into(),
    }
}

/// A `.env` line: the escape characters and 100 KB values, quotes, substitutions.
fn env_line(r: &mut Rng) -> Vec<u8> {
    let n = r.size();
    let key = r.pick(&[
        "LOG_LEVEL",
        "POSE_MODE",
        "A",
        "IMAGE",
        "KINECT_SOURCE",
        "COMPOSE_PROFILES",
        "X",
    ]);
    match r.below(14) {
        0 => format!("{key}=\x1b[31mred\x07\n").into_bytes(),
        1 => format!("{key}={}\n", "a".repeat(n)).into_bytes(),
        2 => format!("{key}=\"unclosed\n").into_bytes(),
        3 => format!("{key}=${{{key}}}\n").into_bytes(),
        4 => format!("export {key}='multi\nline'\n").into_bytes(),
        5 => b"=novalue\n".to_vec(),
        6 => format!("{key}\n").into_bytes(),
        7 => [key.as_bytes(), b"=\xff\xfe\n"].concat(),
        8 => [key.as_bytes(), b"=a\0b\n"].concat(),
        9 => format!("{key}=${{UNSET:?must be set}}\n").into_bytes(),
        10 => format!("{key}: yaml-style\n").into_bytes(),
        11 => format!("{key}=\"{}\"\n", "\\n".repeat(n.min(10_000))).into_bytes(),
        12 => b"\xef\xbb\xbfA=bom\n".to_vec(),
        _ => format!(
            "{key}={}\n",
            r.pick(&["debug", "loud", "kinect", "synthetic", "", "p,*"])
        )
        .into_bytes(),
    }
}

/// Mutates `text` a few times: inserts pieces, deletes or duplicates spans.
fn mutate(r: &mut Rng, text: &str, piece: fn(&mut Rng) -> String) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    for _ in 0..1 + r.below(3) {
        let at = r.below(out.len() + 1);
        match r.below(5) {
            0..=2 => {
                let p = piece(r);
                out.splice(at..at, p.into_bytes());
            }
            3 if !out.is_empty() => {
                let end = (at + r.below(200)).min(out.len());
                out.drain(at.min(end)..end);
            }
            _ => {
                let end = (at + r.below(400)).min(out.len());
                let dup = out[at.min(end)..end].to_vec();
                out.splice(at..at, dup);
            }
        }
    }
    out
}

/// How stdout is connected.
#[derive(Debug, Clone, Copy)]
enum Stdout {
    /// `> /dev/null`
    Discarded,
    /// `> /dev/full`
    Full,
    /// A pipe whose reader has gone (`| head -c0`).
    Closed,
}

/// One generated run of devstack.
#[derive(Debug)]
struct Case {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdout: Stdout,
    stdin: Vec<u8>,
}

const VERBS: &[&[&str]] = &[
    &["config"],
    &["config", "-q"],
    &["config", "--services"],
    &["config", "--volumes"],
    &["config", "--variables"],
    &["config", "--format", "json"],
    &["config", "-o", "out/x.yaml"],
    &["graph"],
    &["graph", "--format", "dot"],
    &["graph", "--format", "mermaid"],
    &["ps"],
    &["ps", "--json"],
    &["ps", "--services"],
    &["ps", "-q"],
    &["ls"],
    &["images"],
    &["logs", "web"],
    &["logs", "cam", "-n", "3"],
    &["up", "--dry-run"],
    &["down", "--dry-run"],
    &["restart", "--dry-run", "web"],
    &["kinect", "info", "--json"],
    &["completion", "bash"],
    &["port", "web", "80"],
    &["doctor", "--json", "--sysroot", "sysroot"],
];

fn make_case(r: &mut Rng, dir: &Path, name: &str, base_template: &str) -> Case {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::create_dir_all(dir.join("sysroot")).unwrap();
    let start = if r.chance(30) {
        base_template
    } else {
        *r.pick(SMALL)
    };
    let piece: fn(&mut Rng) -> String = if r.chance(50) {
        template_piece
    } else {
        yaml_piece
    };
    let template = if r.chance(90) {
        mutate(r, start, piece)
    } else {
        start.as_bytes().to_vec()
    };
    std::fs::write(dir.join("templates/compose.yaml.j2"), &template).unwrap();
    let mut env_file = Vec::new();
    for _ in 0..r.below(4) {
        env_file.extend(env_line(r));
    }
    std::fs::write(dir.join(".env"), &env_file).unwrap();
    let mut args: Vec<OsString> = vec!["-C".into(), dir.into(), "-p".into(), name.into()];
    let mut stdin = Vec::new();
    if r.chance(20) {
        // A plain compose file through `-f`: a file, stdin, /dev/null.
        let plain = *r.pick(&SMALL[2..4]);
        let yaml = mutate(r, plain, yaml_piece);
        std::fs::write(dir.join("c.yaml"), &yaml).unwrap();
        let f = match r.below(3) {
            0 => {
                stdin = yaml;
                "/dev/stdin".into()
            }
            1 => "/dev/null".into(),
            _ => dir.join("c.yaml").into_os_string(),
        };
        args.extend(["-f".into(), f]);
    }
    if r.chance(10) {
        let f: OsString = r
            .pick(&["/dev/null", "/dev/stdin", "/nonexistent", "/tmp"])
            .into();
        args.extend(["--env-file".into(), f]);
    }
    // Paths in a verb's arguments are the project's own.
    args.extend(r.pick(VERBS).iter().map(|a| match *a {
        "sysroot" | "out/x.yaml" => dir.join(a).into_os_string(),
        a => OsString::from(a),
    }));
    if r.chance(15) {
        let odd: OsString = match r.below(5) {
            0 => "a".repeat(100_000).into(),
            1 => "\x1b[2J".into(),
            2 => OsString::from_vec(b"\xff\xfe".to_vec()),
            3 => "--profile=*".into(),
            _ => "--no-such-flag".into(),
        };
        args.push(odd);
    }
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    if r.chance(30) {
        env.push(match r.below(6) {
            0 => ("X_FUZZ".into(), OsString::from_vec(b"\xff".to_vec())),
            1 => (OsString::from_vec(b"\xff_FUZZ".to_vec()), "1".into()),
            2 => (
                "COMPOSE_PROFILES".into(),
                r.pick(&["*", ",,", "\x1b"]).into(),
            ),
            3 => ("LOG_LEVEL".into(), "\x1b[31mloud".into()),
            4 => ("COMPOSE_PROJECT_NAME".into(), "BAD NAME".into()),
            _ => ("A".into(), "a".repeat(100_000).into()),
        });
    }
    let stdout = *r.pick(&[
        Stdout::Discarded,
        Stdout::Discarded,
        Stdout::Full,
        Stdout::Closed,
    ]);
    Case {
        args,
        env,
        stdout,
        stdin,
    }
}

/// The binary under test: this build's, or `DEVSTACK_FUZZ_BIN`.
fn fuzzed_bin() -> OsString {
    std::env::var_os("DEVSTACK_FUZZ_BIN").unwrap_or_else(|| bin().into())
}

/// How a run ended.
struct Ended {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    hung: bool,
}

fn run_case(case: &Case, limit: Duration) -> Ended {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    let mut cmd = Command::new(fuzzed_bin());
    cmd.args(&case.args)
        .env("NO_COLOR", "1")
        .env("DEVSTACK_NO_NVML", "1")
        .env_remove("RUST_BACKTRACE")
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    // Kept until the child has it: a closed pipe's write end, or /dev/full.
    let stdout: Stdio = match case.stdout {
        Stdout::Discarded => Stdio::null(),
        Stdout::Full => std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
            .into(),
        Stdout::Closed => {
            let (read, write) = nix::unistd::pipe().unwrap();
            drop(read);
            write.into()
        }
    };
    cmd.stdout(stdout);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = case.stdin.clone();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = Vec::new();
        let _ = stderr.by_ref().take(1 << 20).read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    Ended {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stderr,
        hung: status.is_none(),
    }
}

/// What is wrong with how a run ended, if anything.
fn judge(case: &Case, e: &Ended) -> Option<String> {
    if e.hung {
        return Some("did not end within the limit (a hang)".into());
    }
    if let Some(sig) = e.signal {
        return Some(format!("killed by signal {sig} (an abort or a crash)"));
    }
    let code = e.code.unwrap_or(-1);
    if !matches!(code, 0..=2) {
        return Some(format!("exit code {code}"));
    }
    let err = &e.stderr;
    if err.contains("panicked") || err.contains("stack backtrace") || err.contains("overflowed") {
        return Some("a panic".into());
    }
    if matches!(case.stdout, Stdout::Closed) && err.contains("cannot write to standard output") {
        return Some("a closed stdout is not an error".into());
    }
    if err.len() > 20_000 {
        return Some(format!(
            "{} bytes on stderr: bulk input echoed back",
            err.len()
        ));
    }
    if let Some(c) = err
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Some(format!("a raw control character {c:?} on stderr"));
    }
    for internal in [
        "budget breached",
        "DuplicateKeyPolicy",
        "configured policy",
        "Nodes {",
    ] {
        if err.contains(internal) {
            return Some(format!("a parser's internals reach the user: {internal:?}"));
        }
    }
    if code != 0 && err.contains(".devstack/compose.yaml:") {
        return Some("an error placed in the generated .devstack/compose.yaml".into());
    }
    if code == 2 && !err.lines().any(|l| l.starts_with("error:")) {
        return Some("exit 2 without an `error:` message".into());
    }
    None
}

/// Saves a failing case where a person can rerun it.
fn save_failure(dir: &Path, case: &Case, e: &Ended, why: &str, out: &Path) {
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::create_dir_all(out);
    for f in ["templates/compose.yaml.j2", ".env", "c.yaml"] {
        if let Ok(b) = std::fs::read(dir.join(f)) {
            let dest = out.join(f);
            let _ = std::fs::create_dir_all(dest.parent().unwrap());
            let _ = std::fs::write(dest, b);
        }
    }
    let report = format!(
        "why: {why}\nexit: {:?} signal: {:?}\nstdout: {:?}\nargs: {:?}\nenv: {:?}\nstderr:\n{}\n",
        e.code,
        e.signal,
        case.stdout,
        case.args,
        case.env,
        e.stderr.chars().take(4000).collect::<String>()
    );
    let _ = std::fs::write(out.join("case.txt"), report);
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn generated_inputs_never_panic_hang_or_garble() {
    let cases = env_number("DEVSTACK_FUZZ_CASES", 200);
    let budget = Duration::from_secs(env_number("DEVSTACK_FUZZ_SECS", 120));
    let seed = env_number(
        "DEVSTACK_FUZZ_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
    );
    eprintln!("fuzz: seed {seed} (DEVSTACK_FUZZ_SEED={seed} reruns it), up to {cases} cases or {budget:?}");
    // The default stack's template, as a user has it after `devstack init`.
    let base = tempfile::tempdir().unwrap();
    let init = Command::new(bin())
        .args(["init"])
        .arg(base.path())
        .output()
        .unwrap();
    assert!(init.status.success());
    let base_template =
        std::fs::read_to_string(base.path().join("templates/compose.yaml.j2")).unwrap();
    let failures_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    let prefix = format!("fz{}", std::process::id());
    let started = Instant::now();
    let mut rng = Rng(seed);
    let (mut ran, mut failures) = (0u64, Vec::new());
    let mut slowest = Duration::ZERO;
    while ran < cases && started.elapsed() < budget {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{prefix}x{ran}");
        let case = make_case(&mut rng, dir.path(), &name, &base_template);
        let t = Instant::now();
        let ended = run_case(&case, Duration::from_secs(20));
        slowest = slowest.max(t.elapsed());
        if let Some(why) = judge(&case, &ended) {
            let out = failures_dir.join(format!("{seed}-{ran}"));
            save_failure(dir.path(), &case, &ended, &why, &out);
            failures.push(format!("case {ran}: {why} (saved in {})", out.display()));
        }
        ran += 1;
    }
    eprintln!(
        "fuzz: {ran} cases in {:.1}s (slowest {:.2}s), {} failures",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64(),
        failures.len()
    );
    // Nothing a failed (or any) run did created a container.
    if crate::common::docker_available() {
        let made = crate::common::docker(&[
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Label \"com.docker.compose.project\"}}",
        ]);
        assert!(
            !made.lines().any(|p| p.starts_with(&prefix)),
            "containers were created: {made}"
        );
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {ran} runs failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
