//! External programs some tests need (Pebble, Chromium) and the one rule for a missing one:
//! under CI (`CI=true`, which CI systems and `.ci/run` set) the test fails with a message naming
//! the program and the Debian package that provides it (`.ci/deps` installs them all); elsewhere
//! the test is skipped with the same message on stderr.
//!
//! ```ignore
//! let Some(_) = require_tool("pebble", "pebble")? else { return Ok(()) };
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::bail;

/// Whether the environment says this is a CI run (`CI` set to anything but empty, `0`,
/// `false` or `no`).
pub fn under_ci() -> bool {
    ci_flag(std::env::var_os("CI").as_deref())
}

fn ci_flag(value: Option<&OsStr>) -> bool {
    let Some(value) = value.and_then(OsStr::to_str) else {
        return value.is_some();
    };
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no"
    )
}

/// `name` if it is an existing file path, else the first `name` file in a `PATH` directory.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The path of tool `name` (a name on `PATH` or an absolute path). When it is missing: an
/// error naming it and Debian `package` under CI; `Ok(None)` otherwise, after saying on stderr
/// that the test is skipped (the caller returns early).
pub fn require_tool(name: &str, package: &str) -> anyhow::Result<Option<PathBuf>> {
    require_tool_with(name, package, under_ci(), find_tool)
}

/// [`require_tool`] with the CI flag and the lookup passed in (for its tests).
fn require_tool_with(
    name: &str,
    package: &str,
    ci: bool,
    find: impl Fn(&str) -> Option<PathBuf>,
) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = find(name) {
        return Ok(Some(path));
    }
    let why = missing_message(name, package);
    if ci {
        bail!("{why}; CI=true, so a missing tool fails the test instead of skipping it");
    }
    eprintln!("skipping: {why} (under CI=true this fails)");
    Ok(None)
}

/// "`name` is not installed …", naming the package and how to get it.
pub fn missing_message(name: &str, package: &str) -> String {
    format!(
        "{name} is not installed: it comes with the Debian package `{package}` \
         (`apt-get install {package}`; `.ci/deps` installs it)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<PathBuf> {
        None
    }

    #[test]
    fn a_present_tool_is_returned_with_or_without_ci() {
        let found = |name: &str| Some(PathBuf::from(format!("/opt/bin/{name}")));
        for ci in [false, true] {
            let path = require_tool_with("pebble", "pebble", ci, found).expect("found");
            assert_eq!(path, Some(PathBuf::from("/opt/bin/pebble")));
        }
    }

    #[test]
    fn a_missing_tool_fails_under_ci_naming_tool_and_package() {
        let err = require_tool_with("pebble-challtestsrv", "pebble", true, none)
            .expect_err("CI must fail");
        let text = format!("{err:#}");
        assert!(text.contains("pebble-challtestsrv"), "{text}");
        assert!(text.contains("`pebble`"), "{text}");
        assert!(text.contains(".ci/deps"), "{text}");
    }

    #[test]
    fn a_missing_tool_is_skipped_outside_ci() {
        let got = require_tool_with("chromium", "chromium", false, none).expect("skip, not fail");
        assert_eq!(got, None);
    }

    #[test]
    fn the_ci_variable_is_read_as_ci_systems_set_it() {
        let on = ["true", "TRUE", "1", "yes", "gitlab"];
        let off = ["", "0", "false", "False", "no", " "];
        for v in on {
            assert!(ci_flag(Some(OsStr::new(v))), "{v:?}");
        }
        for v in off {
            assert!(!ci_flag(Some(OsStr::new(v))), "{v:?}");
        }
        assert!(!ci_flag(None));
    }

    /// Run by `require_tool_reads_ci_from_the_environment` in a child process whose environment
    /// it sets; does nothing in the usual test run.
    #[test]
    fn ci_probe_in_a_child_process() {
        let Ok(expect) = std::env::var("GATEHOUSE_TOOLS_PROBE_EXPECT_CI") else {
            return;
        };
        let result = require_tool("gatehouse-no-such-tool-on-path", "no-such-package");
        match expect.as_str() {
            "1" => assert!(result.is_err(), "CI set: must fail"),
            _ => assert!(matches!(result, Ok(None)), "CI unset: must skip"),
        }
    }

    #[test]
    fn require_tool_reads_ci_from_the_environment() {
        let me = std::env::current_exe().expect("test binary");
        for (ci, expect) in [(Some("true"), "1"), (None, "0")] {
            let mut child = std::process::Command::new(&me);
            child
                .args(["--exact", "tools::tests::ci_probe_in_a_child_process"])
                .env("GATEHOUSE_TOOLS_PROBE_EXPECT_CI", expect);
            match ci {
                Some(v) => child.env("CI", v),
                None => child.env_remove("CI"),
            };
            let out = child.output().expect("run the test binary");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "CI={ci:?}: {text}");
            assert!(text.contains("1 passed"), "the probe did not run: {text}");
        }
    }

    #[test]
    fn find_tool_takes_absolute_paths_and_path_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "").expect("write");
        assert_eq!(find_tool(&tool.display().to_string()), Some(tool.clone()));
        assert_eq!(
            find_tool(&dir.path().join("absent").display().to_string()),
            None
        );
        // `sh` is on PATH on every machine these tests run on.
        assert!(find_tool("sh").is_some());
        assert_eq!(find_tool("gatehouse-no-such-tool-on-path"), None);
    }
}
