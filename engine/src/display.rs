//! How values look when shown to people: PostgreSQL-style timestamps and floats, `NULL` for nulls.
//! The CLI, the tests and any future server share these rules.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};

/// Display options for values: `2024-01-31 12:00:00` timestamps, `NULL` for nulls.
pub fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_display_error(true)
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
}

/// Renders batches as rows of display strings.
pub fn rows_as_strings(batches: &[RecordBatch], options: &FormatOptions<'_>) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Invalid(format!("cannot display value: {e}")))?;
        let floats: Vec<bool> = batch.columns().iter().map(|c| c.data_type().is_floating()).collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .zip(&floats)
                    .map(|(f, float)| {
                        let text = f.value(row).to_string();
                        // PostgreSQL shows whole floats without a fraction: `5`, not `5.0`.
                        match text.strip_suffix(".0") {
                            Some(whole) if *float => whole.to_string(),
                            _ => text,
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}
