//! compose-go's `dotenv`, `template` and `override` test cases (and its loader's reset,
//! extends and include tests), written as our own data under `tests/compose-cases/` (one YAML
//! file per area; each case names the compose-go test it stands for), run through the built
//! binary, compared with what Compose v2 yields. Prints `dotenv: N/M cases agree` (and
//! `template: …`, `override: …`, `full example: N/M keys as Compose`) and fails on any
//! disagreement.
//!
//! A dotenv case: `env` (the `.env` text; or `files`, several `--env-file` in order; or
//! `repeat`, generated lines), `os` (the process environment; it wins over the files, as in
//! Compose), then `expect` (the whole environment the project sees, `os` keys included unless
//! listed) or `error` (exit 2, and each text in the message). `env_file: directory|missing`
//! passes `--env-file` a directory or a missing path; `dot_env_directory: true` makes `.env` a
//! directory. A template case: `template` (a compose value), `vars` (the environment; the
//! file's `vars` by default), then `expect` or `error`, and `warns` (the variables Compose
//! warns are unset). A case with `skip` has no Compose behaviour to compare (a Go-only API).
//! Override cases and the full example are described where they are run, below.
//!
//! Where devstack cannot yet be asked through the binary (several `--env-file`; the unset
//! warning; `config --variables`), the case runs through the library and the summary says so.
//! `DEVSTACK_CASES_BIN=/path/to/devstack` runs the cases against another build (for
//! before/after numbers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use devstack::project::{dotenv, interpolate};

fn cases_dir(area: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compose-cases")
        .join(area)
}

fn bin() -> String {
    std::env::var("DEVSTACK_CASES_BIN").unwrap_or_else(|_| super::common::bin().to_string())
}

/// Every `*.yaml` of an area, parsed, in name order.
fn load<T: for<'de> Deserialize<'de>>(area: &str) -> Vec<(String, T)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir(area))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let parsed =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (
                f.file_name().unwrap().to_string_lossy().into_owned(),
                parsed,
            )
        })
        .collect()
}

/// How a case is named in the report: file, name, the compose-go test, and its note.
fn label(file: &str, name: &str, go: &str, note: &Option<String>) -> String {
    let note = note
        .as_deref()
        .map(|n| format!(" [{n}]"))
        .unwrap_or_default();
    format!("{file}: {name} (compose-go {go}){note}")
}

enum Outcome {
    Agree,
    /// Agreed, checked through the library (the binary cannot be asked yet): why.
    AgreeViaLibrary(&'static str),
    Disagree(String),
    Skip,
}

/// Tallies outcomes, prints the summary and each disagreement, and fails on any.
fn report(area: &str, results: Vec<(String, Outcome)>) {
    let total = results
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Skip))
        .count();
    let mut agree = 0;
    let mut via_library: BTreeMap<&str, usize> = BTreeMap::new();
    let mut skipped = 0;
    let mut failures = Vec::new();
    for (name, o) in &results {
        match o {
            Outcome::Agree => agree += 1,
            Outcome::AgreeViaLibrary(why) => {
                agree += 1;
                *via_library.entry(why).or_default() += 1;
            }
            Outcome::Disagree(d) => failures.push(format!("  ✗ {name}: {d}")),
            Outcome::Skip => skipped += 1,
        }
    }
    println!("{area}: {agree}/{total} cases agree ({skipped} not applicable, see `skip:` in the case files)");
    for (why, n) in via_library {
        println!("  {n} of them (or their warnings) checked through the library: {why}");
    }
    for f in &failures {
        println!("{f}");
    }
    assert!(total > 0, "no {area} cases found");
    assert!(
        failures.is_empty(),
        "{area}: {} cases disagree with compose-go:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs the binary in `dir` with exactly the environment `os`.
fn devstack(dir: &Path, args: &[&str], os: &BTreeMap<String, String>) -> (i32, String, String) {
    let out = Command::new(bin())
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .envs(os)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `environment:` of service `s` in `config`'s output, `$$` back to `$`.
fn printed_environment(stdout: &str) -> Result<BTreeMap<String, String>, String> {
    let doc: Value = serde_saphyr::from_str(stdout)
        .map_err(|e| format!("config printed no YAML ({e}):\n{stdout}"))?;
    let env = doc
        .pointer("/services/s/environment")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("no services.s.environment in:\n{stdout}"))?;
    Ok(env
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().replace("$$", "$")))
        .collect())
}

/// Compares an error run: exit 2 and every expected text in the message.
/// `{dir}` in an expected text stands for the project directory.
fn check_error(dir: &str, code: i32, stdout: &str, stderr: &str, expected: &[String]) -> Outcome {
    if code != 2 {
        return Outcome::Disagree(format!(
            "expected an error (exit 2) with {expected:?}, got exit {code}:\n{stdout}{stderr}"
        ));
    }
    match expected
        .iter()
        .find(|t| !stderr.contains(&t.replace("{dir}", dir)))
    {
        Some(t) => Outcome::Disagree(format!("the error lacks {t:?}: {stderr}")),
        None => Outcome::Agree,
    }
}

// ---------------------------------------------------------------------------------------------
// dotenv

#[derive(Deserialize)]
struct DotenvFile {
    cases: Vec<DotenvCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DotenvCase {
    name: String,
    go: String,
    env: Option<String>,
    #[serde(default)]
    files: Vec<String>,
    repeat: Option<Repeat>,
    #[serde(default)]
    os: BTreeMap<String, String>,
    expect: Option<BTreeMap<String, String>>,
    #[serde(default)]
    error: Vec<String>,
    env_file: Option<String>,
    #[serde(default)]
    dot_env_directory: bool,
    note: Option<String>,
    skip: Option<String>,
}

/// `count` lines made from `line`, `{i}` replaced by 0, 1, …; each sets `key` to `value`
/// (with `{i}` replaced too).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Repeat {
    line: String,
    count: usize,
    key: String,
    value: String,
}

/// A template that prints the project's whole environment as JSON (`ENV_JSON`), and each
/// expected variable with a plain name through Compose interpolation (`I_<name>`, `=value`
/// when set).
fn exposing_template(names: &[&String]) -> String {
    let mut t = String::from(
        "services:\n  s:\n    image: x\n    environment:\n      ENV_JSON: {{ env | tojson | replace(\"$\", \"$$\") | tojson }}\n",
    );
    let plain = |n: &str| {
        n.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    for n in names.iter().filter(|n| plain(n)) {
        t.push_str(&format!("      I_{n}: \"${{{n}+=}}${{{n}}}\"\n"));
    }
    t
}

fn expected_env(case: &DotenvCase) -> BTreeMap<String, String> {
    let mut want = case.os.clone();
    want.extend(case.expect.clone().unwrap_or_default());
    if let Some(r) = &case.repeat {
        let at = |t: &str, i: usize| t.replace("{i}", &i.to_string());
        want.extend((0..r.count).map(|i| (at(&r.key, i), at(&r.value, i))));
    }
    want
}

fn dotenv_text(case: &DotenvCase) -> Option<String> {
    case.env.clone().or_else(|| {
        case.repeat.as_ref().map(|r| {
            (0..r.count)
                .map(|i| r.line.replace("{i}", &i.to_string()))
                .collect::<Vec<_>>()
                .join("\n")
        })
    })
}

fn run_dotenv(case: &DotenvCase) -> Outcome {
    if case.skip.is_some() {
        return Outcome::Skip;
    }
    let dir = tempfile::tempdir().unwrap();
    let want = expected_env(case);
    let names: Vec<&String> = want.keys().collect();
    std::fs::write(
        dir.path().join("compose.yaml.j2"),
        exposing_template(&names),
    )
    .unwrap();
    let compose = dir.path().join("compose.yaml.j2");
    let mut args: Vec<String> = vec!["-f".into(), compose.display().to_string()];
    if let Some(text) = dotenv_text(case) {
        std::fs::write(dir.path().join(".env"), text).unwrap();
    }
    if case.dot_env_directory {
        std::fs::create_dir(dir.path().join(".env")).unwrap();
    }
    let files: Vec<PathBuf> = case
        .files
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let f = dir.path().join(format!("{i}.env"));
            std::fs::write(&f, text).unwrap();
            f
        })
        .collect();
    for f in &files {
        args.extend(["--env-file".into(), f.display().to_string()]);
    }
    match case.env_file.as_deref() {
        Some("directory") => {
            let d = if case.dot_env_directory {
                dir.path().join(".env")
            } else {
                dir.path().to_path_buf()
            };
            args.extend(["--env-file".into(), d.display().to_string()]);
        }
        Some("missing") => args.extend([
            "--env-file".into(),
            dir.path().join("missing.env").display().to_string(),
        ]),
        Some(other) => return Outcome::Disagree(format!("unknown env_file: {other}")),
        None => {}
    }
    args.push("config".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = devstack(dir.path(), &args, &case.os);
    if files.len() > 1 && stderr.contains("cannot be used multiple times") {
        return dotenv_via_library(case, &files, &want);
    }
    if case.expect.is_none() && case.repeat.is_none() {
        let d = dir.path().display().to_string();
        return check_error(&d, code, &stdout, &stderr, &case.error);
    }
    if code != 0 {
        return Outcome::Disagree(format!("devstack config failed (exit {code}): {stderr}"));
    }
    match printed_environment(&stdout).and_then(|env| compare_env(&env, &want)) {
        Ok(()) => Outcome::Agree,
        Err(e) => Outcome::Disagree(e),
    }
}

/// Several `--env-file`: the CLI takes one so far; `dotenv::load_files` is what it will call.
fn dotenv_via_library(
    case: &DotenvCase,
    files: &[PathBuf],
    want: &BTreeMap<String, String>,
) -> Outcome {
    let os = |k: &str| case.os.get(k).cloned();
    let got = match dotenv::load_files(files, &os) {
        Ok(env) => env,
        Err(e) if case.expect.is_none() => {
            return match case.error.iter().find(|t| !e.0.contains(t.as_str())) {
                Some(t) => Outcome::Disagree(format!("the error lacks {t:?}: {e}")),
                None => Outcome::AgreeViaLibrary("the CLI takes one --env-file"),
            }
        }
        Err(e) => return Outcome::Disagree(e.to_string()),
    };
    let mut seen: BTreeMap<String, String> = got.vars.into_iter().collect();
    seen.extend(case.os.clone());
    if seen != *want {
        return Outcome::Disagree(format!("environment {seen:?}, expected {want:?}"));
    }
    Outcome::AgreeViaLibrary("the CLI takes one --env-file")
}

fn compare_env(
    printed: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> Result<(), String> {
    let json = printed.get("ENV_JSON").ok_or("no ENV_JSON printed")?;
    let seen: BTreeMap<String, String> =
        serde_json::from_str(json).map_err(|e| format!("ENV_JSON {json:?}: {e}"))?;
    if seen != *want {
        let diff: Vec<String> = want
            .iter()
            .filter(|(k, v)| seen.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: expected {v:?}, got {:?}", seen.get(k)))
            .chain(
                seen.keys()
                    .filter(|k| !want.contains_key(*k))
                    .map(|k| format!("{k}: unexpected ({:?})", seen[k])),
            )
            .collect();
        return Err(format!("environment differs: {}", diff.join("; ")));
    }
    for (k, v) in printed.iter().filter(|(k, _)| k.starts_with("I_")) {
        let name = &k[2..];
        let expected = format!("={}", want[name]);
        if *v != expected {
            return Err(format!(
                "${{{name}}} interpolated to {v:?}, expected {expected:?}"
            ));
        }
    }
    Ok(())
}

#[test]
fn dotenv_cases_agree_with_compose_go() {
    let mut results = Vec::new();
    for (file, f) in load::<DotenvFile>("dotenv") {
        for case in f.cases {
            let outcome = run_dotenv(&case);
            results.push((label(&file, &case.name, &case.go, &case.note), outcome));
        }
    }
    report("dotenv", results);
}

// ---------------------------------------------------------------------------------------------
// template

#[derive(Deserialize)]
struct TemplateFile {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    cases: Vec<TemplateCase>,
    #[serde(default)]
    variables: Vec<VariablesCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateCase {
    name: String,
    go: String,
    template: Option<String>,
    vars: Option<BTreeMap<String, String>>,
    expect: Option<String>,
    #[serde(default)]
    error: Vec<String>,
    warns: Option<Vec<String>>,
    note: Option<String>,
    skip: Option<String>,
}

/// compose-go's `ExtractVariables` (`docker compose config --variables`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariablesCase {
    name: String,
    go: String,
    doc: Value,
    expect: BTreeMap<String, ExpectedVariable>,
}

#[derive(Deserialize, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
struct ExpectedVariable {
    #[serde(default)]
    default: String,
    #[serde(default)]
    presence: String,
    #[serde(default)]
    required: bool,
}

fn run_template(case: &TemplateCase, vars: &BTreeMap<String, String>) -> Outcome {
    if case.skip.is_some() {
        return Outcome::Skip;
    }
    let Some(template) = &case.template else {
        return Outcome::Disagree("no template".into());
    };
    let dir = tempfile::tempdir().unwrap();
    let compose =
        serde_json::json!({"services": {"s": {"image": "x", "environment": {"R": template}}}});
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, compose.to_string()).unwrap();
    let file = file.display().to_string();
    let (code, stdout, stderr) = devstack(dir.path(), &["-f", &file, "config"], vars);
    let outcome = match &case.expect {
        None => check_error(
            &dir.path().display().to_string(),
            code,
            &stdout,
            &stderr,
            &case.error,
        ),
        Some(_) if code != 0 => {
            Outcome::Disagree(format!("devstack config failed (exit {code}): {stderr}"))
        }
        Some(want) => match printed_environment(&stdout) {
            Ok(env) if env.get("R") == Some(want) => Outcome::Agree,
            Ok(env) => Outcome::Disagree(format!(
                "{template:?} gave {:?}, expected {want:?}",
                env.get("R")
            )),
            Err(e) => Outcome::Disagree(e),
        },
    };
    match (&outcome, &case.warns) {
        (Outcome::Agree, Some(warns)) => warnings_via_library(template, vars, warns),
        _ => outcome,
    }
}

/// The unset-variable warnings: devstack does not print them yet; `interpolate::expand`
/// reports them for the caller to print.
fn warnings_via_library(
    template: &str,
    vars: &BTreeMap<String, String>,
    warns: &[String],
) -> Outcome {
    let look = |k: &str| vars.get(k).cloned();
    match interpolate::expand(template, &look) {
        Ok(e) if e.unset == warns => {
            Outcome::AgreeViaLibrary("devstack does not print the unset-variable warning yet")
        }
        Ok(e) => Outcome::Disagree(format!(
            "{template:?} warns about {:?}, expected {warns:?}",
            e.unset
        )),
        Err(e) => Outcome::Disagree(e.to_string()),
    }
}

fn run_variables(case: &VariablesCase) -> Outcome {
    let got: BTreeMap<String, ExpectedVariable> = interpolate::extract_variables(&case.doc)
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                ExpectedVariable {
                    default: v.default,
                    presence: v.presence,
                    required: v.required,
                },
            )
        })
        .collect();
    if got == case.expect {
        Outcome::AgreeViaLibrary("devstack has no `config --variables` yet")
    } else {
        Outcome::Disagree(format!("extracted {got:?}, expected {:?}", case.expect))
    }
}

#[test]
fn template_cases_agree_with_compose_go() {
    let mut results = Vec::new();
    for (file, f) in load::<TemplateFile>("template") {
        for case in &f.cases {
            let vars = case.vars.as_ref().unwrap_or(&f.vars);
            let name = label(&file, &case.name, &case.go, &case.note);
            results.push((name, run_template(case, vars)));
        }
        for case in &f.variables {
            let name = label(&file, &case.name, &case.go, &None);
            results.push((name, run_variables(case)));
        }
    }
    report("template", results);
}

// ---------------------------------------------------------------------------------------------
// override: several files merged (`-f a -f b`), `!reset`/`!override`, `extends`, `include`

#[derive(Deserialize)]
struct OverrideFile {
    cases: Vec<OverrideCase>,
}

/// An override case: `files` (compose texts, merged in order: `-f` each), `extra` (more files
/// the case needs — extended or included compose files, env files, secrets — by path in the
/// project), `os` (the process environment), then `expect` (the merged project as Compose
/// yields it, a compose text) or `error` (exit 2, and each text in the message).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideCase {
    name: String,
    go: String,
    files: Vec<String>,
    #[serde(default)]
    extra: BTreeMap<String, String>,
    #[serde(default)]
    os: BTreeMap<String, String>,
    generate: Option<Generate>,
    expect: Option<String>,
    #[serde(default)]
    error: Vec<String>,
    note: Option<String>,
    skip: Option<String>,
}

/// Generated text appended to the first file and to `expect`: `mappings` top-level `x-dataN`
/// mappings of `keys` keys each; `services` services of `variables` variables each.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Generate {
    #[serde(default)]
    mappings: usize,
    #[serde(default)]
    keys: usize,
    #[serde(default)]
    services: usize,
    #[serde(default)]
    variables: usize,
}

impl Generate {
    fn text(&self) -> String {
        let mut s = String::new();
        for m in 1..=self.mappings {
            s.push_str(&format!("x-data{m}:\n"));
            for k in 0..self.keys {
                s.push_str(&format!("  k{k}: v\n"));
            }
        }
        if self.services > 0 {
            s.push_str("services:\n");
        }
        for i in 0..self.services {
            s.push_str(&format!("  svc{i}:\n    image: alpine\n    environment:\n"));
            for e in 0..self.variables {
                s.push_str(&format!("      KEY_{e}: val\n"));
            }
        }
        s
    }
}

/// The parts of `config --format json` a merge decides.
const COMPARED: [&str; 6] = [
    "services", "networks", "volumes", "secrets", "configs", "models",
];

/// Writes `text` at `rel` under `dir` (directories made) and returns the path.
fn put(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// `devstack -C dir -f F… --profile '*' config --format json`: the compared parts, or why not.
fn config_json(
    dir: &Path,
    files: &[PathBuf],
    os: &BTreeMap<String, String>,
) -> Result<Value, (i32, String)> {
    let mut args: Vec<String> = Vec::new();
    for f in files {
        args.extend(["-f".into(), f.display().to_string()]);
    }
    args.extend(
        [
            "-p",
            "cases",
            "--profile",
            "*",
            "config",
            "--format",
            "json",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = os.clone();
    env.entry("HOME".into())
        .or_insert_with(|| dir.display().to_string());
    let (code, stdout, stderr) = devstack(dir, &args, &env);
    if code != 0 {
        return Err((code, format!("{stdout}{stderr}")));
    }
    let doc: Value = serde_json::from_str(&stdout)
        .map_err(|e| (code, format!("config printed no JSON ({e}):\n{stdout}")))?;
    Ok(COMPARED
        .iter()
        .filter_map(|k| doc.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into())
}

/// Where two JSON values differ, as `path: got … expected …` lines.
fn json_diff(at: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                let p = format!("{at}.{k}");
                match g.get(k) {
                    Some(gv) => json_diff(&p, gv, wv, out),
                    None => out.push(format!("{p}: missing, expected {wv}")),
                }
            }
            for (k, gv) in g.iter().filter(|(k, _)| !w.contains_key(*k)) {
                out.push(format!("{at}.{k}: unexpected {gv}"));
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{at}: got {got}, expected {want}")),
    }
}

/// Lists of `written` (at the compared keys) whose counterpart in `loaded` has another length.
fn same_list_lengths(at: &str, written: &Value, loaded: &Value, out: &mut Vec<String>) {
    match (written, loaded) {
        (Value::Object(w), Value::Object(l)) => {
            for (k, wv) in w {
                if at.is_empty() && !COMPARED.contains(&k.as_str()) {
                    continue;
                }
                if let Some(lv) = l.get(k) {
                    same_list_lengths(&format!("{at}.{k}"), wv, lv, out);
                }
            }
        }
        (Value::Array(w), Value::Array(l)) if w.len() != l.len() => {
            out.push(format!(
                "{at}: {} entries written, {} loaded",
                w.len(),
                l.len()
            ));
        }
        (Value::Array(w), Value::Array(l)) => {
            for (i, (wv, lv)) in w.iter().zip(l).enumerate() {
                same_list_lengths(&format!("{at}[{i}]"), wv, lv, out);
            }
        }
        _ => {}
    }
}

fn run_override(case: &OverrideCase) -> Outcome {
    if case.skip.is_some() {
        return Outcome::Skip;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (rel, text) in &case.extra {
        put(d, rel, text);
    }
    let generated = case
        .generate
        .as_ref()
        .map(Generate::text)
        .unwrap_or_default();
    let files: Vec<PathBuf> = case
        .files
        .iter()
        .enumerate()
        .map(|(i, text)| match i {
            0 => put(d, "compose.yaml", &format!("{text}{generated}")),
            _ => put(d, &format!("override-{i}.yaml"), text),
        })
        .collect();
    let got = config_json(d, &files, &case.os);
    let Some(expect) = &case.expect else {
        return match got {
            Ok(doc) => Outcome::Disagree(format!(
                "expected an error with {:?}, got exit 0: {doc}",
                case.error
            )),
            Err((code, out)) => check_error(&d.display().to_string(), code, "", &out, &case.error),
        };
    };
    let got = match got {
        Ok(doc) => doc,
        Err((code, out)) => {
            return Outcome::Disagree(format!("devstack config failed (exit {code}): {out}"))
        }
    };
    // The expected project through devstack too: its own normalisations (absolute paths,
    // ports bound to 127.0.0.1) apply to both sides alike.
    let expected = put(d, "expected.yaml", &format!("{expect}{generated}"));
    let want = match config_json(d, &[expected], &case.os) {
        Ok(doc) => doc,
        Err((code, out)) => {
            return Outcome::Disagree(format!(
                "the expected project does not load (exit {code}): {out}"
            ))
        }
    };
    // Loading the expected project must not have kept a list entry once that the case lists
    // twice (devstack's unicity would hide a merge that keeps both).
    let written: Value = match serde_saphyr::from_str(&format!("{expect}{generated}")) {
        Ok(v) => v,
        Err(e) => return Outcome::Disagree(format!("the expected project is not YAML: {e}")),
    };
    let mut diff = Vec::new();
    same_list_lengths("", &written, &want, &mut diff);
    if !diff.is_empty() {
        return Outcome::Disagree(format!(
            "devstack changed the expected project's lists when loading it: {}",
            diff.join("; ")
        ));
    }
    json_diff("", &got, &want, &mut diff);
    match diff.is_empty() {
        true => Outcome::Agree,
        false => Outcome::Disagree(diff.join("; ")),
    }
}

#[test]
fn override_cases_agree_with_compose_go() {
    let mut results = Vec::new();
    for (file, f) in load::<OverrideFile>("override") {
        for case in &f.cases {
            let name = label(&file, &case.name, &case.go, &case.note);
            results.push((name, run_override(case)));
        }
    }
    report("override", results);
}

// ---------------------------------------------------------------------------------------------
// full example: every key of the compose-spec, key by key against compose-go's loader

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullExample {
    files: BTreeMap<String, String>,
    keys: Vec<FullKey>,
}

/// One key of the example: its dotted path in the project, the compose-go test or code the
/// expectation is read from, and the value compose-go's loader makes of it (`null`: absent).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullKey {
    key: String,
    go: String,
    compose: Value,
}

/// The example's project as `config --format json` prints it, and what devstack said on
/// stderr (its "not acted on" notes).
fn full_example_config(dir: &Path, files: &BTreeMap<String, String>) -> (Value, String) {
    for (rel, text) in files {
        put(dir, rel, text);
    }
    let compose = dir.join("compose.yaml").display().to_string();
    let env = BTreeMap::from([("HOME".to_string(), dir.display().to_string())]);
    let args = [
        "-f",
        &compose,
        "--profile",
        "*",
        "config",
        "--format",
        "json",
    ];
    let (code, stdout, stderr) = devstack(dir, &args, &env);
    assert_eq!(
        code, 0,
        "devstack config refused the full example:\n{stderr}"
    );
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

#[test]
fn the_full_example_loads_as_compose_loads_it() {
    let text = std::fs::read_to_string(cases_dir("full").join("full-example.yaml")).unwrap();
    let example: FullExample = serde_saphyr::from_str(&text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let (doc, notes) = full_example_config(&dir, &example.files);
    let d = dir.display().to_string();
    let mut agree = 0;
    let mut not_acted_on = Vec::new();
    let mut wrong = Vec::new();
    for k in &example.keys {
        let project = doc["name"].as_str().unwrap_or_default();
        let got = canon::value(project, &k.key, devstack_side(&doc, &k.key, &dir));
        let want = canon::value(project, &k.key, with_dir(&k.compose, &d));
        if got != want {
            wrong.push(format!(
                "  ✗ {} (compose-go {}): devstack {got}, Compose {want}",
                k.key, k.go
            ));
            continue;
        }
        match canon::note_for(&notes, &k.key) {
            Some(note) => not_acted_on.push(format!("  - {}: {note}", k.key)),
            None => agree += 1,
        }
    }
    let total = example.keys.len();
    println!("full example: {agree}/{total} keys as Compose");
    println!(
        "  {}/{total} values as compose-go's loader makes them; {} kept but not acted on by devstack:",
        total - wrong.len(),
        not_acted_on.len()
    );
    for n in &not_acted_on {
        println!("{n}");
    }
    for w in &wrong {
        println!("{w}");
    }
    assert!(
        wrong.is_empty(),
        "the full example: {} keys differ from compose-go's loader:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// `{dir}` in the expected strings is the project directory.
fn with_dir(v: &Value, dir: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{dir}", dir)),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_dir(x, dir)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), with_dir(x, dir)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The value at `key` in devstack's printed project, with what devstack deliberately leaves
/// to the container made (env_file and label_file contents, which Compose's model copies into
/// environment and labels) put where Compose's model has it.
fn devstack_side(doc: &Value, key: &str, dir: &Path) -> Value {
    let v = doc
        .pointer(&format!("/{}", key.replace('.', "/")))
        .cloned()
        .unwrap_or(Value::Null);
    let parts: Vec<&str> = key.split('.').collect();
    let ["services", svc, field @ ("environment" | "labels")] = parts.as_slice() else {
        return v;
    };
    let from = if *field == "environment" {
        "env_file"
    } else {
        "label_file"
    };
    let service = &doc["services"][*svc];
    let mut merged = serde_json::Map::new();
    for f in canon::value("", &format!("services.{svc}.{from}"), service[from].clone())
        .as_array()
        .into_iter()
        .flatten()
    {
        let path = f["path"].as_str().or(f.as_str()).unwrap_or_default();
        let text = std::fs::read_to_string(dir.join(path)).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains('=')) {
            let (k, val) = line.split_once('=').unwrap();
            merged.insert(k.to_string(), Value::String(val.to_string()));
        }
    }
    let own = canon::value("", key, v);
    merged.extend(own.as_object().cloned().unwrap_or_default());
    Value::Object(merged)
}

/// One canonical form for a key's value, whatever syntax wrote it, so devstack's printed
/// project and compose-go's model can be compared: compose-go's `transform/` (short syntaxes
/// into long ones), its defaults (`defaults.go`, `normalize.go`), sizes in bytes, durations in
/// nanoseconds, numbers as floats. A port bound to 127.0.0.1 is a port without an address:
/// devstack binds those there (README), so both read the same.
mod canon {
    use serde_json::{json, Map, Value};

    /// `key`'s value in the canonical form; `project` names resources without a `name`.
    pub fn value(project: &str, key: &str, v: Value) -> Value {
        let parts: Vec<&str> = key.split('.').collect();
        let v = match parts.as_slice() {
            ["services", _, field] => service_key(field, v),
            [kind @ ("networks" | "volumes" | "secrets" | "configs"), name] => {
                resource(project, kind, name, v)
            }
            _ => v,
        };
        numbers(v)
    }

    /// The note devstack printed that says it does not act on `key` (or a key under it).
    pub fn note_for(notes: &str, key: &str) -> Option<String> {
        let parts: Vec<&str> = key.split('.').collect();
        let (scope, field) = match parts.as_slice() {
            ["services", svc, field] => (format!("service {svc}: key `"), field.to_string()),
            [top, ..] => ("top-level key `".to_string(), top.to_string()),
            _ => return None,
        };
        notes
            .lines()
            .filter(|l| l.contains("not acted on"))
            .find(|l| {
                l.split_once(&scope).is_some_and(|(_, rest)| {
                    rest.starts_with(&format!("{field}`")) || rest.starts_with(&format!("{field}."))
                })
            })
            .map(|l| l.trim_start_matches("note: ").to_string())
    }

    fn service_key(field: &str, v: Value) -> Value {
        match field {
            "environment" | "labels" | "annotations" | "sysctls" => kv_map(v),
            "extra_hosts" => hosts(v),
            "dns" | "dns_opt" | "dns_search" | "tmpfs" | "label_file" | "expose" => strings(v),
            "env_file" => list(v)
                .into_iter()
                .map(|e| match e {
                    Value::String(p) => json!({"path": p, "required": true}),
                    mut m => {
                        m.as_object_mut()
                            .map(|o| o.entry("required").or_insert(json!(true)));
                        m
                    }
                })
                .collect(),
            "mem_limit" | "mem_reservation" | "memswap_limit" | "shm_size" => bytes(v),
            "stop_grace_period" => duration(v),
            "pull_policy" if v == "if_not_present" => json!("missing"),
            "healthcheck" => healthcheck(v),
            "ports" => list(v).into_iter().flat_map(port).collect(),
            "volumes" => list(v).into_iter().map(volume).collect(),
            "devices" => list(v).into_iter().map(device).collect(),
            "secrets" => mounts(v, Some("/run/secrets")),
            "configs" => mounts(v, None),
            "depends_on" => depends_on(v),
            "networks" | "models" => names_map(v),
            "build" => build(v),
            "deploy" => deploy(v),
            "blkio_config" => blkio(v),
            "gpus" => gpus(v),
            "provider" => provider(v),
            _ => v,
        }
    }

    fn resource(project: &str, kind: &str, name: &str, v: Value) -> Value {
        let Value::Object(mut m) = v else { return v };
        // loader/normalize.go setNameFromKey: an external resource is named by its key, the
        // others `{project}_{key}`.
        if kind != "models" && !m.contains_key("name") {
            let external = m.get("external") == Some(&json!(true));
            let n = if external {
                name.to_string()
            } else {
                format!("{project}_{name}")
            };
            m.insert("name".into(), json!(n));
        }
        if let Some(l) = m.remove("labels") {
            m.insert("labels".into(), kv_map(l));
        }
        Value::Object(m)
    }

    fn list(v: Value) -> Vec<Value> {
        match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => vec![other],
        }
    }

    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    fn strings(v: Value) -> Value {
        list(v).iter().map(|x| json!(text(x))).collect()
    }

    /// `KEY=VALUE` lists and mappings as one mapping of strings (`KEY` alone: null).
    fn kv_map(v: Value) -> Value {
        let mut out = Map::new();
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.insert(k, if x.is_null() { x } else { json!(text(&x)) });
                }
            }
            other => {
                for e in list(other) {
                    let t = text(&e);
                    match t.split_once('=') {
                        Some((k, x)) => out.insert(k.into(), json!(x)),
                        None => out.insert(t, Value::Null),
                    };
                }
            }
        }
        Value::Object(out)
    }

    /// types.HostsList: `host=ip` entries, sorted (`host:ip` and mappings too).
    fn hosts(v: Value) -> Value {
        let mut out: Vec<String> = match v {
            Value::Object(m) => m
                .into_iter()
                .flat_map(|(k, x)| {
                    list(x)
                        .into_iter()
                        .map(move |ip| format!("{k}={}", text(&ip)))
                })
                .collect(),
            other => list(other)
                .iter()
                .map(|e| {
                    let t = text(e);
                    match t.split_once('=') {
                        Some(_) => t,
                        None => t.replacen(':', "=", 1),
                    }
                })
                .collect(),
        };
        out.sort();
        json!(out)
    }

    fn names_map(v: Value) -> Value {
        match v {
            Value::Array(a) => a.iter().map(|n| (text(n), Value::Null)).collect(),
            other => other,
        }
    }

    /// go-units' RAMInBytes: `512m`, `1g`, `1mb`, `64M` (1024-based), or a number.
    fn bytes(v: Value) -> Value {
        let Value::String(s) = &v else { return v };
        let s = s.trim().to_ascii_lowercase();
        let digits = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (n, unit) = s.split_at(digits);
        let Ok(n) = n.parse::<f64>() else { return v };
        let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
            "" => 1.0,
            "k" => 1024.0,
            "m" => 1024f64.powi(2),
            "g" => 1024f64.powi(3),
            "t" => 1024f64.powi(4),
            _ => return v,
        };
        json!((n * mult) as i64)
    }

    /// Go durations (`1m30s`, `10s`, `2m`, `1h`, `500ms`) in nanoseconds.
    fn duration(v: Value) -> Value {
        let Value::String(s) = &v else { return v };
        let mut total = 0f64;
        let mut num = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let mut unit = c.to_string();
            while chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                unit.push(chars.next().unwrap());
            }
            let scale = match unit.as_str() {
                "h" => 3.6e12,
                "m" => 6e10,
                "s" => 1e9,
                "ms" => 1e6,
                "us" | "µs" => 1e3,
                "ns" => 1.0,
                _ => return v,
            };
            let Ok(n) = num.parse::<f64>() else { return v };
            total += n * scale;
            num.clear();
        }
        json!(total as i64)
    }

    fn healthcheck(v: Value) -> Value {
        let Value::Object(mut m) = v else { return v };
        for k in ["interval", "timeout", "start_period", "start_interval"] {
            if let Some(d) = m.remove(k) {
                m.insert(k.into(), duration(d));
            }
        }
        if let Some(Value::String(t)) = m.get("test").cloned() {
            m.insert("test".into(), json!(["CMD-SHELL", t]));
        }
        Value::Object(m)
    }

    /// A port in the long syntax (types.ParsePortConfig), with protocol and mode defaults.
    fn port(v: Value) -> Vec<Value> {
        let mut m = match v {
            Value::Object(m) => m,
            other => {
                let t = text(&other);
                let (spec, proto) = t.split_once('/').unwrap_or((&t, "tcp"));
                let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
                let mut m = Map::new();
                m.insert("target".into(), json!(parts[0].parse::<u64>().unwrap_or(0)));
                if let Some(p) = parts.get(1).filter(|p| !p.is_empty()) {
                    m.insert("published".into(), json!(p));
                }
                if let Some(h) = parts.get(2) {
                    m.insert("host_ip".into(), json!(h));
                }
                m.insert("protocol".into(), json!(proto));
                m
            }
        };
        m.entry("protocol").or_insert(json!("tcp"));
        m.entry("mode").or_insert(json!("ingress"));
        if let Some(p) = m.get("published").cloned() {
            m.insert("published".into(), json!(text(&p)));
        }
        if m.get("host_ip") == Some(&json!("127.0.0.1")) {
            m.remove("host_ip");
        }
        vec![Value::Object(m)]
    }

    /// A service volume in the long syntax (format.ParseVolume): a path source is a bind that
    /// creates its host path; tmpfs sizes in bytes.
    fn volume(v: Value) -> Value {
        let mut m = match v {
            Value::Object(m) => m,
            other => {
                let t = text(&other);
                let parts: Vec<&str> = t.split(':').collect();
                let (source, target, mode) = match parts.as_slice() {
                    [t] => (None, *t, ""),
                    [s, t] => (Some(*s), *t, ""),
                    [s, t, m, ..] => (Some(*s), *t, *m),
                    [] => (None, "", ""),
                };
                let mut m = Map::new();
                let bind = source.is_some_and(|s| s.starts_with(['/', '.', '~']));
                m.insert("type".into(), json!(if bind { "bind" } else { "volume" }));
                if let Some(s) = source {
                    m.insert("source".into(), json!(s));
                }
                m.insert("target".into(), json!(target));
                if mode.split(',').any(|o| o == "ro") {
                    m.insert("read_only".into(), json!(true));
                }
                if bind {
                    m.insert("bind".into(), json!({"create_host_path": true}));
                }
                m
            }
        };
        if let Some(Value::Object(t)) = m.get_mut("tmpfs") {
            if let Some(size) = t.remove("size") {
                t.insert("size".into(), bytes(size));
            }
        }
        if m.get("volume") == Some(&json!({})) {
            m.remove("volume");
        }
        Value::Object(m)
    }

    fn device(v: Value) -> Value {
        let Value::String(t) = &v else { return v };
        let parts: Vec<&str> = t.split(':').collect();
        let target = parts.get(1).unwrap_or(&parts[0]);
        let perms = parts.get(2).unwrap_or(&"rwm");
        json!({"source": parts[0], "target": target, "permissions": perms})
    }

    /// Secrets and configs a service mounts: a name alone is `{source}`; a secret's target
    /// defaults to /run/secrets/NAME; a mode is a number.
    fn mounts(v: Value, default_dir: Option<&str>) -> Value {
        list(v)
            .into_iter()
            .map(|e| {
                let mut m = match e {
                    Value::Object(m) => m,
                    other => Map::from_iter([("source".to_string(), json!(text(&other)))]),
                };
                if let (Some(d), false) = (default_dir, m.contains_key("target")) {
                    let t = format!("{d}/{}", text(&m["source"]));
                    m.insert("target".into(), json!(t));
                }
                if let Some(Value::String(mode)) = m.get("mode").cloned() {
                    let n = i64::from_str_radix(mode.trim_start_matches("0o"), 8).unwrap_or(-1);
                    m.insert("mode".into(), json!(n));
                }
                Value::Object(m)
            })
            .collect()
    }

    /// transform/dependson.go: a list means started and required; required defaults to true;
    /// `restart: false` is left out.
    fn depends_on(v: Value) -> Value {
        let m = match v {
            Value::Object(m) => m,
            other => list(other).iter().map(|n| (text(n), json!({}))).collect(),
        };
        m.into_iter()
            .map(|(k, d)| {
                let mut d = d.as_object().cloned().unwrap_or_default();
                d.entry("condition").or_insert(json!("service_started"));
                d.entry("required").or_insert(json!(true));
                if d.get("restart") == Some(&json!(false)) {
                    d.remove("restart");
                }
                (k, Value::Object(d))
            })
            .collect()
    }

    fn build(v: Value) -> Value {
        let mut m = match v {
            Value::Object(m) => m,
            Value::Null => return Value::Null,
            other => Map::from_iter([("context".to_string(), other)]),
        };
        if !m.contains_key("dockerfile") && !m.contains_key("dockerfile_inline") {
            m.insert("dockerfile".into(), json!("Dockerfile"));
        }
        for k in ["args", "labels", "additional_contexts"] {
            if let Some(x) = m.remove(k) {
                m.insert(k.into(), kv_map(x));
            }
        }
        if let Some(x) = m.remove("extra_hosts") {
            m.insert("extra_hosts".into(), hosts(x));
        }
        if let Some(x) = m.remove("shm_size") {
            m.insert("shm_size".into(), bytes(x));
        }
        if let Some(x) = m.remove("secrets") {
            m.insert("secrets".into(), mounts(x, None));
        }
        Value::Object(m)
    }

    fn deploy(v: Value) -> Value {
        let Value::Object(mut m) = v else { return v };
        if let Some(l) = m.remove("labels") {
            m.insert("labels".into(), kv_map(l));
        }
        if let Some(Value::Object(r)) = m.get_mut("resources") {
            for part in r.values_mut() {
                if let Value::Object(p) = part {
                    if let Some(mem) = p.remove("memory") {
                        p.insert("memory".into(), bytes(mem));
                    }
                    if let Some(Value::String(c)) = p.get("cpus").cloned() {
                        p.insert("cpus".into(), json!(c.parse::<f64>().unwrap_or(-1.0)));
                    }
                }
            }
        }
        for policy in ["restart_policy", "update_config", "rollback_config"] {
            if let Some(Value::Object(p)) = m.get_mut(policy) {
                for k in ["delay", "window", "monitor"] {
                    if let Some(d) = p.remove(k) {
                        p.insert(k.into(), duration(d));
                    }
                }
            }
        }
        Value::Object(m)
    }

    fn blkio(v: Value) -> Value {
        let Value::Object(mut m) = v else { return v };
        for k in ["device_read_bps", "device_write_bps"] {
            if let Some(Value::Array(items)) = m.get_mut(k) {
                for i in items.iter_mut() {
                    if let Some(rate) = i.get("rate").cloned() {
                        i["rate"] = bytes(rate);
                    }
                }
            }
        }
        Value::Object(m)
    }

    /// transform/gpus.go and deviceRequestDefaults: `all` is `[{count: all}]`; a request
    /// without count or ids counts all; `all` is -1.
    fn gpus(v: Value) -> Value {
        let items = match v {
            Value::String(_) => vec![json!({"count": "all"})],
            other => list(other),
        };
        items
            .into_iter()
            .map(|mut r| {
                if let Some(o) = r.as_object_mut() {
                    if !o.contains_key("count") && !o.contains_key("device_ids") {
                        o.insert("count".into(), json!(-1));
                    }
                    if o.get("count") == Some(&json!("all")) {
                        o.insert("count".into(), json!(-1));
                    }
                }
                r
            })
            .collect()
    }

    /// types.MultiOptions: each option a list of strings.
    fn provider(v: Value) -> Value {
        let Value::Object(mut m) = v else { return v };
        if let Some(Value::Object(opts)) = m.remove("options") {
            let opts: Map<String, Value> = opts.into_iter().map(|(k, x)| (k, strings(x))).collect();
            m.insert("options".into(), Value::Object(opts));
        }
        Value::Object(m)
    }

    /// Every number as a float, so `1` and `1.0` (and a count written either way) are equal.
    fn numbers(v: Value) -> Value {
        match v {
            Value::Number(n) => json!(n.as_f64().unwrap_or_default()),
            Value::Array(a) => Value::Array(a.into_iter().map(numbers).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, x)| (k, numbers(x))).collect())
            }
            other => other,
        }
    }
}
