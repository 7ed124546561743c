//! A progress line on stderr for statements that run longer than a second: bytes read of the
//! total with a bar and an ETA when the input's size is known (COPY), rows loaded, elapsed
//! time. Cleared before the result prints; never drawn when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tarn_engine::{Progress, ProgressReading};

use crate::repl::PROGRESS_DELAY;

pub struct ProgressBar {
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl ProgressBar {
    pub fn start(progress: Arc<Progress>, color: bool) -> ProgressBar {
        if !std::io::stderr().is_terminal() {
            return ProgressBar { running: None };
        }
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut drawn = false;
            let mut frame = 0;
            while !flag.load(Ordering::Relaxed) {
                // Woken early by `stop`, so a quick statement is not held up.
                std::thread::park_timeout(Duration::from_millis(100));
                if started.elapsed() < PROGRESS_DELAY || flag.load(Ordering::Relaxed) {
                    continue;
                }
                frame += 1;
                let text = line(progress.read(), started.elapsed(), frame);
                let text = if color { format!("\x1b[2m{text}\x1b[0m") } else { text };
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{text}");
                let _ = err.flush();
                drawn = true;
            }
            if drawn {
                let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            }
        });
        ProgressBar { running: Some((done, thread)) }
    }

    /// Stops and clears the line.
    pub fn stop(self) {
        if let Some((done, thread)) = self.running {
            done.store(true, Ordering::Relaxed);
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The progress line for a reading taken `elapsed` after the start.
pub fn line(reading: ProgressReading, elapsed: Duration, frame: usize) -> String {
    const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
    let seconds = elapsed.as_secs_f64();
    let mut parts = Vec::new();
    if reading.bytes_total > 0 {
        let fraction = (reading.bytes_done as f64 / reading.bytes_total as f64).min(1.0);
        let filled = (fraction * 20.0).round() as usize;
        parts.push(format!("[{}{}] {:>3.0}%", "#".repeat(filled), ".".repeat(20 - filled), fraction * 100.0));
        parts.push(format!("{} / {}", bytes(reading.bytes_done), bytes(reading.bytes_total)));
    } else {
        parts.push(SPINNER[frame % SPINNER.len()].to_string());
        if reading.bytes_done > 0 {
            parts.push(format!("{} read", bytes(reading.bytes_done)));
        } else if reading.scanned > 0 {
            parts.push(format!("{} scanned", bytes(reading.scanned)));
        }
    }
    if reading.rows > 0 {
        parts.push(format!("{} rows", thousands(reading.rows)));
    }
    parts.push(format!("{seconds:.1} s"));
    if reading.bytes_total > 0 && reading.bytes_done > 0 && reading.bytes_done < reading.bytes_total {
        let remaining = seconds * (reading.bytes_total - reading.bytes_done) as f64 / reading.bytes_done as f64;
        parts.push(format!("ETA {remaining:.0} s"));
    }
    parts.join("  ")
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_fraction_rows_and_eta() {
        let reading = ProgressReading { bytes_done: 50 << 20, bytes_total: 200 << 20, rows: 1_234_567, scanned: 0 };
        assert_eq!(
            line(reading, Duration::from_secs(2), 0),
            "[#####...............]  25%  50.0 MB / 200.0 MB  1,234,567 rows  2.0 s  ETA 6 s"
        );
        let unknown = ProgressReading::default();
        assert_eq!(line(unknown, Duration::from_millis(1500), 1), "/  1.5 s");
        let query = ProgressReading { scanned: 3 << 30, ..ProgressReading::default() };
        assert_eq!(line(query, Duration::from_secs(4), 2), "-  3.0 GB scanned  4.0 s");
    }
}
