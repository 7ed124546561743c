//! Printing results: `table` for people, `csv`/`tsv`/`json`/`ndjson` exactly parseable,
//! `markdown` for pasting. Machine formats put nothing but data on stdout: command tags go to
//! stderr.

use std::io::Write;

use anyhow::{Context, Result};
use futures::StreamExt;
use tarn_engine::arrow::array::RecordBatch;
use tarn_engine::arrow::csv::WriterBuilder as CsvWriterBuilder;
use tarn_engine::arrow::datatypes::SchemaRef;
use tarn_engine::arrow::json::{ArrayWriter, LineDelimitedWriter};
use tarn_engine::arrow::util::pretty::pretty_format_batches_with_options;
use tarn_engine::{Output, RowStream, display};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    Ndjson,
    Markdown,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        <Format as clap::ValueEnum>::from_str(name, true).ok()
    }

    pub fn names() -> &'static str {
        "table, csv, tsv, json, ndjson, markdown"
    }

    fn for_people(&self) -> bool {
        matches!(self, Format::Table | Format::Markdown)
    }
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";
const TIMESTAMP_TZ_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f%:z";

/// Prints one statement's output to `out` in `format`.
pub async fn print(output: Output, format: Format, out: &mut dyn Write) -> Result<()> {
    match output {
        Output::Command(tag) => {
            if let Some(message) = &tag.message {
                eprintln!("INFO: {message}");
            }
            if format.for_people() {
                writeln!(out, "{tag}")?;
            } else {
                eprintln!("{tag}");
            }
        }
        Output::Rows(rows) if rows.schema().fields().is_empty() => {
            // Statements such as SET return no columns: nothing to show.
            rows.collect().await?;
        }
        Output::Rows(rows) => match format {
            Format::Table => print_table(rows, out).await?,
            Format::Markdown => print_markdown(rows, out).await?,
            Format::Csv => print_delimited(rows, b',', out).await?,
            Format::Tsv => print_delimited(rows, b'\t', out).await?,
            Format::Json => print_json(rows, out).await?,
            Format::Ndjson => print_ndjson(rows, out).await?,
        },
    }
    out.flush()?;
    Ok(())
}

async fn print_table(rows: RowStream, out: &mut dyn Write) -> Result<()> {
    let schema = rows.schema();
    let batches = rows.collect().await?;
    let count: usize = batches.iter().map(|b| b.num_rows()).sum();
    let batches = if batches.is_empty() { vec![RecordBatch::new_empty(schema)] } else { batches };
    let table =
        pretty_format_batches_with_options(&batches, &display::format_options()).context("cannot format the result")?;
    writeln!(out, "{table}")?;
    writeln!(out, "({count} row{})", if count == 1 { "" } else { "s" })?;
    Ok(())
}

async fn print_markdown(rows: RowStream, out: &mut dyn Write) -> Result<()> {
    let schema = rows.schema();
    let batches = rows.collect().await?;
    let escape = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let header: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(out, "|{}", schema.fields().iter().map(|_| "---|").collect::<String>())?;
    for row in display::rows_as_strings(&batches, &display::format_options())? {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

async fn print_delimited(mut rows: RowStream, delimiter: u8, out: &mut dyn Write) -> Result<()> {
    let schema: SchemaRef = rows.schema();
    let mut writer = CsvWriterBuilder::new()
        .with_header(true)
        .with_delimiter(delimiter)
        .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
        .with_datetime_format(TIMESTAMP_FORMAT.to_string())
        .with_timestamp_tz_format(TIMESTAMP_TZ_FORMAT.to_string())
        .build(out);
    let mut wrote = false;
    while let Some(batch) = rows.next().await {
        writer.write(&batch?)?;
        wrote = true;
    }
    if !wrote {
        // The header alone, so an empty result is still a valid CSV with its columns.
        writer.write(&RecordBatch::new_empty(schema))?;
    }
    Ok(())
}

async fn print_json(mut rows: RowStream, out: &mut dyn Write) -> Result<()> {
    let mut writer = ArrayWriter::new(&mut *out);
    while let Some(batch) = rows.next().await {
        writer.write(&batch?)?;
    }
    writer.finish()?;
    writeln!(out)?;
    Ok(())
}

async fn print_ndjson(mut rows: RowStream, out: &mut dyn Write) -> Result<()> {
    let mut writer = LineDelimitedWriter::new(out);
    while let Some(batch) = rows.next().await {
        writer.write(&batch?)?;
    }
    writer.finish()?;
    Ok(())
}
