//! The REPL's result tables: column types under the names, numbers right-aligned, NULL set
//! apart, wide results fitted to the terminal (cells cut with `…`, columns left out when even
//! that is not enough), a row limit with a "N rows (M shown)" footer, and `\x` expanded
//! (one line per column) display.

use anyhow::Result;
use tarn_engine::arrow::array::RecordBatch;
use tarn_engine::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use tarn_engine::arrow::util::display::ArrayFormatter;
use tarn_engine::display;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How to lay a result out.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Terminal width in columns; `None`: no limit.
    pub width: Option<usize>,
    /// Show at most this many rows.
    pub max_rows: Option<usize>,
    pub color: bool,
}

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";
/// Narrowest a column is cut to.
const MIN_COLUMN: usize = 5;

/// The short type name shown under a column's name.
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(
            TimeUnit::Microsecond | TimeUnit::Nanosecond | TimeUnit::Millisecond | TimeUnit::Second,
            tz,
        ) => {
            if tz.is_some() {
                "timestamptz".into()
            } else {
                "timestamp".into()
            }
        }
        other => other.to_string().to_lowercase(),
    }
}

fn right_aligned(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

/// The cells of the first `limit` rows, as text (`None`: NULL).
fn cells(batches: &[RecordBatch], columns: usize, limit: usize) -> Result<Vec<Vec<Option<String>>>> {
    let options = display::format_options();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            if rows.len() == limit {
                return Ok(rows);
            }
            let mut cells = Vec::with_capacity(columns);
            for (formatter, column) in formatters.iter().zip(batch.columns()) {
                cells.push(if column.is_null(row) { None } else { Some(formatter.value(row).to_string()) });
            }
            rows.push(cells);
        }
    }
    Ok(rows)
}

/// `text` cut to `width` display columns, ending in `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.width()));
    if right { format!("{fill}{text}") } else { format!("{text}{fill}") }
}

fn footer(total: usize, shown: usize) -> String {
    let rows = if total == 1 { "1 row".to_string() } else { format!("{total} rows") };
    if shown < total { format!("{rows} ({shown} shown)") } else { rows }
}

/// A boxed table of the result.
pub fn table(schema: &SchemaRef, batches: &[RecordBatch], layout: Layout) -> Result<String> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let fields = schema.fields();
    let rows = cells(batches, fields.len(), layout.max_rows.unwrap_or(usize::MAX))?;
    let one_line = |s: &str| s.replace('\n', "↵").replace('\t', " ");
    let headers: Vec<String> = fields.iter().map(|f| one_line(f.name())).collect();
    let types: Vec<String> = fields.iter().map(|f| type_name(f.data_type())).collect();
    let text: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| one_line(c.as_deref().unwrap_or("NULL"))).collect()).collect();
    let mut widths: Vec<usize> = (0..fields.len())
        .map(|i| {
            text.iter().map(|r| r[i].width()).chain([headers[i].width(), types[i].width()]).max().unwrap_or(1).max(1)
        })
        .collect();

    // Fit the terminal: cut the widest columns, then leave columns out from the right.
    let mut shown: Vec<usize> = (0..fields.len()).collect();
    let total_width = |shown: &[usize], widths: &[usize]| shown.iter().map(|&i| widths[i] + 3).sum::<usize>() + 1;
    if let Some(limit) = layout.width {
        while total_width(&shown, &widths) > limit {
            let widest = *shown.iter().max_by_key(|&&i| widths[i]).expect("a column");
            if widths[widest] > MIN_COLUMN {
                widths[widest] -= 1;
            } else if shown.len() > 1 {
                shown.pop();
            } else {
                break;
            }
        }
    }
    let hidden = fields.len() - shown.len();

    let rule = |left: &str, mid: &str, right: &str| {
        let parts: Vec<String> = shown.iter().map(|&i| "─".repeat(widths[i] + 2)).collect();
        format!("{left}{}{right}\n", parts.join(mid))
    };
    let line = |cells: Vec<String>| format!("│{}│\n", cells.join("│"));
    let style = |text: String, code: &str| if layout.color { format!("{code}{text}{RESET}") } else { text };

    let mut out = rule("┌", "┬", "┐");
    out.push_str(&line(
        shown
            .iter()
            .map(|&i| format!(" {} ", style(pad(&fit(&headers[i], widths[i]), widths[i], false), BOLD)))
            .collect(),
    ));
    out.push_str(&line(
        shown.iter().map(|&i| format!(" {} ", style(pad(&fit(&types[i], widths[i]), widths[i], false), DIM))).collect(),
    ));
    out.push_str(&rule("├", "┼", "┤"));
    for (row, raw) in text.iter().zip(&rows) {
        let cells = shown
            .iter()
            .map(|&i| {
                let cell = pad(&fit(&row[i], widths[i]), widths[i], right_aligned(fields[i].data_type()));
                format!(" {} ", if raw[i].is_none() { style(cell, DIM) } else { cell })
            })
            .collect();
        out.push_str(&line(cells));
    }
    out.push_str(&rule("└", "┴", "┘"));
    out.push_str(&footer(total, rows.len()));
    if hidden > 0 {
        out.push_str(&format!(
            ", {hidden} column{} not shown (\\x shows every column)",
            if hidden == 1 { "" } else { "s" }
        ));
    }
    out.push('\n');
    Ok(out)
}

/// One block per row, one line per column (`\x`).
pub fn expanded(schema: &SchemaRef, batches: &[RecordBatch], layout: Layout) -> Result<String> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let fields = schema.fields();
    let rows = cells(batches, fields.len(), layout.max_rows.unwrap_or(usize::MAX))?;
    let name_width = fields.iter().map(|f| f.name().width()).max().unwrap_or(0);
    let mut out = String::new();
    for (index, row) in rows.iter().enumerate() {
        let title = format!("-[ RECORD {} ]", index + 1);
        let rule_width = layout.width.unwrap_or(40).min(name_width + 30).max(title.width());
        out.push_str(&format!("{title}{}\n", "-".repeat(rule_width - title.width())));
        for (field, cell) in fields.iter().zip(row) {
            let value = match cell {
                Some(value) => value.clone(),
                None if layout.color => format!("{DIM}NULL{RESET}"),
                None => "NULL".into(),
            };
            out.push_str(&format!("{} | {value}\n", pad(field.name(), name_width, false)));
        }
    }
    out.push_str(&format!("({})\n", footer(total, rows.len())));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tarn_engine::arrow::array::{Int64Array, StringArray};
    use tarn_engine::arrow::datatypes::{Field, Schema};

    use super::*;

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None, Some(12345)])),
                Arc::new(StringArray::from(vec![Some("a fairly long name"), Some("b"), None])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    #[test]
    fn tables_show_types_align_numbers_and_mark_nulls() {
        let (schema, batches) = sample();
        let out = table(&schema, &batches, Layout { width: None, max_rows: None, color: false }).unwrap();
        let expected = "\
┌────────┬────────────────────┐
│ id     │ name               │
│ bigint │ varchar            │
├────────┼────────────────────┤
│      7 │ a fairly long name │
│   NULL │ b                  │
│  12345 │ NULL               │
└────────┴────────────────────┘
3 rows
";
        assert_eq!(out, expected);
    }

    #[test]
    fn wide_tables_are_cut_to_the_terminal_and_rows_limited() {
        let (schema, batches) = sample();
        let out = table(&schema, &batches, Layout { width: Some(22), max_rows: Some(2), color: false }).unwrap();
        assert!(out.lines().all(|l| l.width() <= 22), "{out}");
        assert!(out.contains("│ a fairly… │"), "{out}");
        assert!(out.ends_with("3 rows (2 shown)\n"), "{out}");
        let narrow = table(&schema, &batches, Layout { width: Some(12), max_rows: None, color: false }).unwrap();
        assert!(narrow.contains("1 column not shown"), "{narrow}");
    }

    #[test]
    fn expanded_shows_one_line_per_column() {
        let (schema, batches) = sample();
        let out = expanded(&schema, &batches, Layout { width: Some(30), max_rows: Some(1), color: false }).unwrap();
        assert_eq!(out, "-[ RECORD 1 ]-----------------\nid   | 7\nname | a fairly long name\n(3 rows (1 shown))\n");
    }
}
