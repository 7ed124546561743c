//! Graphviz's `dot` for tests that check DOT output: the one on `PATH` if there is one, else
//! Debian's packages, downloaded with `apt-get download` and unpacked under `target/graphviz`
//! once (no root, nothing installed system-wide). A machine that can do neither fails the test.

use std::process::Command;

/// Debian's graphviz and the libraries its `dot` and layout plugins load.
const PACKAGES: &[&str] = &[
    "graphviz",
    "libgvc6",
    "libcgraph6",
    "libcdt5",
    "libpathplan4",
    "libxdot4",
    "libgvpr2",
    "liblab-gamut1",
    "libgts-0.7-5",
    "libann0",
    "libltdl7",
];

/// A command running `dot`, ready for arguments.
pub fn dot() -> Result<Command, String> {
    if Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success()) {
        return Ok(Command::new("dot"));
    }
    let target = crate::target_dir();
    let root = target.join("graphviz");
    let bin = root.join("usr/bin/dot");
    let libs = root.join("usr/lib/x86_64-linux-gnu");
    let plugins = libs.join("graphviz");
    let command = || {
        let mut command = Command::new(&bin);
        command.env("LD_LIBRARY_PATH", &libs).env("GVBINDIR", &plugins);
        command
    };
    if !plugins.join("config6a").exists() {
        let debs = target.join("graphviz-debs");
        std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
        let download = || run(Command::new("apt-get").arg("download").args(PACKAGES).current_dir(&debs));
        if download().is_err() {
            // A machine whose package lists were cleaned: fetch them, then try again.
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            download()?;
        }
        for entry in std::fs::read_dir(&debs).map_err(|e| e.to_string())?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "deb") {
                run(Command::new("dpkg").arg("-x").arg(entry.path()).arg(&root))?;
            }
        }
        // Registers the layout and output plugins (writes config6a beside them).
        run(command().arg("-c"))?;
    }
    Ok(command())
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr)))
    }
}
