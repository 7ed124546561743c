//! `tarn serve` as an operator starts it, and `--user` on the embedded CLI: a warehouse without
//! users refuses to serve, `--init-user` makes the first superuser from TARN_PASSWORD, the
//! server answers on the socket it logs, and SIGTERM stops it cleanly. (The protocol itself is
//! tested with real clients in `server/tests/wire/`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use crate::{assert_success, stderr, stdout, tarn, tarn_command, warehouse};

#[test]
fn a_warehouse_without_users_refuses_to_serve() {
    let (_dir, wh) = warehouse();
    let output = tarn(&wh, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("the warehouse has no users"), "{}", stderr(&output));
    assert!(stderr(&output).contains("--init-user"), "{}", stderr(&output));
}

#[test]
fn init_user_serves_and_sigterm_stops() {
    let (_dir, wh) = warehouse();
    let mut child = tarn_command(&wh)
        .args(["serve", "--listen", "127.0.0.1:0", "--init-user", "admin"])
        .env("TARN_PASSWORD", "s3cret-Pass")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let address = loop {
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "tarn serve ended early:\n{seen}");
        seen.push_str(&line);
        if let Some(rest) = line.split(" on ").nth(1).filter(|_| line.contains("tarn serves warehouse")) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(seen.contains("created superuser \"admin\""), "{seen}");
    assert!(!seen.contains("s3cret-Pass"), "the password is logged:\n{seen}");

    // A PostgreSQL SSLRequest: a server without a certificate answers 'N'.
    let mut socket = TcpStream::connect(&address).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    socket.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).unwrap();
    let mut answer = [0u8; 1];
    socket.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"N");
    drop(socket);

    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}\n{seen}{rest}");
    assert!(rest.contains("stopped"), "{rest}");

    // The superuser persists, and the embedded CLI can run as it or as a lesser user.
    let output = tarn(&wh, &["--user", "admin", "-c", "SELECT current_user AS u", "--format", "csv"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "u\nadmin\n");
    let setup = "CREATE USER ann PASSWORD 'Ann-pass1'; CREATE SCHEMA pii; CREATE TABLE pii.t (a int)";
    assert_success(&tarn(&wh, &["-c", setup]));
    let denied = tarn(&wh, &["--user", "ann", "-c", "SELECT * FROM pii.t"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(stderr(&denied).contains("permission denied for schema pii"), "{}", stderr(&denied));
    let unknown = tarn(&wh, &["--user", "nobody", "-c", "SELECT 1"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("nobody"), "{}", stderr(&unknown));
}

#[test]
fn a_second_init_user_is_refused_once_users_exist() {
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE USER ann PASSWORD 'Ann-pass1'"]));
    let output = tarn_command(&wh)
        .args(["serve", "--listen", "127.0.0.1:0", "--init-user", "bob"])
        .env("TARN_PASSWORD", "Bob-pass1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("has users already"), "{}", stderr(&output));
}
