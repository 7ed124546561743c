//! Python virtual environments for tests, made under `target/` from pinned requirements files
//! (remade when the pins change): the client drivers the server is tested with, the tools the
//! CLI's output is checked with. A missing `python3` or package index is an error: tests that
//! need Python fail, never skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter of `target/<name>`, with the packages `requirements` pins installed.
pub fn venv(name: &str, requirements: &Path) -> Result<PathBuf, String> {
    let target = crate::target_dir();
    let venv = target.join(name);
    let interpreter = venv.join("bin/python");
    let pins = std::fs::read_to_string(requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let marker = venv.join("tarn-requirements.txt");
    if interpreter.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == pins) {
        return Ok(interpreter);
    }
    let run = |command: &mut Command| -> Result<(), String> {
        let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv))?;
    run(Command::new(&interpreter)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary", ":all:", "-r"])
        .arg(requirements))?;
    std::fs::write(&marker, pins).map_err(|e| e.to_string())?;
    Ok(interpreter)
}
