//! Cutting text input into chunks of whole records, so that several workers can parse one
//! file at once. A record ends at a line end that is outside CSV quotes and (with ESCAPE) not
//! escaped; finding those needs only a scan for quotes and line ends, far cheaper than parsing.

use std::io::{BufRead, BufReader, Read};

use memchr::{memchr_iter, memrchr};

use super::options::CopyOptions;

/// Bytes per chunk handed to a parser worker.
pub const CHUNK_BYTES: usize = 4 << 20;

/// A piece of one input file holding whole records.
pub struct Chunk {
    /// Index of the file in the load's file list.
    pub file: usize,
    /// Line number (1-based) of the chunk's first line in its file.
    pub first_line: u64,
    pub bytes: Vec<u8>,
}

/// Where records end.
#[derive(Debug, Clone, Copy)]
pub struct Boundaries {
    quote: Option<u8>,
    escape: bool,
}

impl Boundaries {
    pub fn new(options: &CopyOptions) -> Self {
        // Options are validated: a CSV quote is one ASCII character.
        Boundaries { quote: options.csv_quote().map(|q| q as u8), escape: options.escape }
    }

    /// Scans `bytes[from..]` (`in_quotes` is the CSV quote state at `from`, updated to the
    /// state at the end) and returns the offset just after the last record end in it.
    fn scan(&self, bytes: &[u8], from: usize, in_quotes: &mut bool) -> Option<usize> {
        let tail = &bytes[from..];
        match self.quote {
            Some(quote) => {
                let mut last = None;
                for at in super::scan::Matches::new(tail, [quote, b'\n', b'\n', b'\n']) {
                    if tail[at] == quote {
                        *in_quotes = !*in_quotes;
                    } else if !*in_quotes {
                        last = Some(from + at + 1);
                    }
                }
                last
            }
            None if self.escape => {
                memchr_iter(b'\n', tail).map(|at| from + at).rfind(|&at| !escaped(bytes, at)).map(|at| at + 1)
            }
            None => memrchr(b'\n', tail).map(|at| from + at + 1),
        }
    }
}

/// The line end at `newline` is escaped: its line (without `\r`s) ends in one backslash, not
/// two, as the record reader decides.
fn escaped(bytes: &[u8], newline: usize) -> bool {
    let mut end = newline;
    while end > 0 && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    end >= 1 && bytes[end - 1] == b'\\' && !(end >= 2 && bytes[end - 2] == b'\\')
}

/// Cuts the input of file number `file` into chunks of about [`CHUNK_BYTES`] after skipping
/// `skip_lines` lines, handing each to `emit` (which returns false to stop). Returns the number
/// of lines read.
pub fn split(
    input: impl Read,
    file: usize,
    skip_lines: u64,
    boundaries: Boundaries,
    chunk_bytes: usize,
    mut emit: impl FnMut(Chunk) -> bool,
) -> std::io::Result<u64> {
    let mut input = BufReader::with_capacity(64 << 10, input);
    let mut line = 0;
    let mut scratch = Vec::new();
    while line < skip_lines {
        scratch.clear();
        if input.read_until(b'\n', &mut scratch)? == 0 {
            return Ok(line);
        }
        line += 1;
    }
    let step = (chunk_bytes / 16).max(1);
    let mut buf = Vec::with_capacity(chunk_bytes + step);
    let mut scanned = 0;
    let mut in_quotes = false;
    let mut boundary = 0;
    loop {
        let want = chunk_bytes.saturating_sub(buf.len()).max(step);
        let read = (&mut input).take(want as u64).read_to_end(&mut buf)?;
        if let Some(end) = boundaries.scan(&buf, scanned, &mut in_quotes) {
            boundary = end;
        }
        scanned = buf.len();
        if read < want {
            // The end of the input: the rest is the last chunk.
            if buf.is_empty() {
                return Ok(line);
            }
            let lines = memchr_iter(b'\n', &buf).count() as u64 + u64::from(buf.last() != Some(&b'\n'));
            emit(Chunk { file, first_line: line + 1, bytes: buf });
            return Ok(line + lines);
        }
        if buf.len() >= chunk_bytes && boundary > 0 {
            let mut rest = Vec::with_capacity(chunk_bytes + step);
            rest.extend_from_slice(&buf[boundary..]);
            buf.truncate(boundary);
            let chunk = std::mem::replace(&mut buf, rest);
            let lines = memchr_iter(b'\n', &chunk).count() as u64;
            if !emit(Chunk { file, first_line: line + 1, bytes: chunk }) {
                return Ok(line + lines);
            }
            line += lines;
            scanned -= boundary;
            boundary = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::InputFormat;

    /// Splits `input` into chunks of `size` bytes; returns (first line, text) per chunk.
    fn chunks(input: &str, options: &CopyOptions, size: usize) -> (Vec<(u64, String)>, u64) {
        let mut out = Vec::new();
        let lines = split(input.as_bytes(), 0, options.ignore_header, Boundaries::new(options), size, |chunk| {
            out.push((chunk.first_line, String::from_utf8(chunk.bytes).unwrap()));
            true
        })
        .unwrap();
        (out, lines)
    }

    #[test]
    fn chunks_end_at_record_ends_and_number_their_lines() {
        let text = CopyOptions { ignore_header: 1, ..CopyOptions::default() };
        let (out, lines) = chunks("h\na|1\nb|2\nc|3\nd|4", &text, 4);
        assert_eq!(lines, 5);
        assert_eq!(out.iter().map(|(_, t)| t.as_str()).collect::<String>(), "a|1\nb|2\nc|3\nd|4");
        assert!(out.len() > 1, "{out:?}");
        for (first_line, chunk) in &out {
            assert!(chunk.ends_with('\n') || chunk.ends_with('4'), "{chunk:?}");
            let first = chunk.as_bytes()[0];
            assert_eq!(*first_line, u64::from(first - b'a') + 2, "{out:?}");
        }
    }

    #[test]
    fn quoted_line_ends_do_not_end_csv_records() {
        let csv = CopyOptions { format: InputFormat::Csv { quote: '"' }, ..CopyOptions::default() };
        let (out, lines) = chunks("1,\"a\nb\nc\"\n2,\"\"\"x\"\n3,y\n", &csv, 3);
        assert_eq!(lines, 5);
        let texts: Vec<&str> = out.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["1,\"a\nb\nc\"\n", "2,\"\"\"x\"\n", "3,y\n"]);
        assert_eq!(out.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 4, 5]);
    }

    #[test]
    fn escaped_line_ends_do_not_end_text_records() {
        let escape = CopyOptions { escape: true, ..CopyOptions::default() };
        let (out, _) = chunks("a\\\nb\nc\\\\\nd\n", &escape, 2);
        let texts: Vec<&str> = out.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, ["a\\\nb\n", "c\\\\\n", "d\n"]);
    }
}
