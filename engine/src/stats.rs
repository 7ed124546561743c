//! Statistics of managed data files, kept in the catalog.
//!
//! A file's row count, and per column its null count, minimum, maximum and (after `ANALYZE`)
//! an estimate of its distinct values, are recorded when the file is written, from the footer
//! the writer has just produced. The planner gets them from the catalog, so planning never
//! opens a file: the statistics DataFusion would have read from the footer, exactly, and
//! distinct counts the footer does not have. `ANALYZE` reads the footers of files written
//! before tarn recorded statistics and counts distinct values.

use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use parquet::file::metadata::ParquetMetaData;
use tarn_catalog::{ColumnStats, FileStats, Stat};

/// Files' catalog statistics converted for the planner, kept per engine: converting parses
/// every minimum and maximum, which a table of many files should not pay for every query. An
/// entry is reused while the file's recorded statistics are the same (ANALYZE adds to them).
#[derive(Default)]
pub(crate) struct PlannerStatistics {
    converted: parking_lot::Mutex<std::collections::HashMap<String, (FileStats, Arc<Statistics>)>>,
}

/// Entries kept at most; beyond, the memo starts over (files come and go).
const MAX_CONVERTED: usize = 100_000;

impl PlannerStatistics {
    /// The planner's statistics of the file at `path` with `stats` and `rows`, read as `schema`
    /// (always the scan schema of the file's table: a file belongs to one table, whose columns
    /// never change).
    pub(crate) fn get(&self, path: &str, stats: &FileStats, rows: u64, schema: &Schema) -> Arc<Statistics> {
        if let Some((known, converted)) = self.converted.lock().get(path)
            && known == stats
            && converted.column_statistics.len() == schema.fields().len()
        {
            return converted.clone();
        }
        let converted = Arc::new(to_datafusion(stats, rows, schema));
        let mut memo = self.converted.lock();
        if memo.len() >= MAX_CONVERTED {
            memo.clear();
        }
        memo.insert(path.to_string(), (stats.clone(), converted.clone()));
        converted
    }
}

/// Longest value kept as a minimum or maximum (longer ones are left out, not truncated:
/// a truncated maximum would be wrong).
const MAX_VALUE_LEN: usize = 256;

/// The statistics of a Parquet file with `metadata`, read as `schema` — what DataFusion would
/// compute from its footer.
pub(crate) fn of_parquet(metadata: &ParquetMetaData, schema: &Arc<Schema>) -> Option<FileStats> {
    let statistics = DFParquetMetadata::statistics_from_parquet_metadata(metadata, schema).ok()?;
    Some(to_catalog(&statistics, schema))
}

/// The statistics of the managed data file at `relative` (read from its footer, wherever the
/// warehouse keeps its data), as files of a table with `schema` are.
pub(crate) async fn read_footer(
    engine: &crate::engine::EngineInner,
    relative: &str,
    schema: &Arc<Schema>,
) -> crate::Result<FileStats> {
    use object_store::ObjectStoreExt;
    let (store, path) = engine.data.resolve(&engine.stores, relative)?;
    let meta =
        store.head(&path).await.map_err(|e| crate::storage::storage_error("read", &engine.data.url(relative), e))?;
    let metadata = DFParquetMetadata::new(store.as_ref(), &meta).fetch_metadata().await?;
    of_parquet(&metadata, schema)
        .ok_or_else(|| crate::Error::Invalid(format!("data file {relative} has statistics tarn cannot read")))
}

/// DataFusion's statistics of a file in the catalog's form.
pub(crate) fn to_catalog(statistics: &Statistics, schema: &Schema) -> FileStats {
    let columns = schema
        .fields()
        .iter()
        .zip(&statistics.column_statistics)
        .map(|(field, c)| ColumnStats {
            name: field.name().clone(),
            nulls: stat(&c.null_count, |n| Some(*n as u64)),
            min: stat(&c.min_value, encode),
            max: stat(&c.max_value, encode),
            distinct: stat(&c.distinct_count, |n| Some(*n as u64)),
            bytes: stat(&c.byte_size, |n| Some(*n as u64)),
        })
        .collect();
    FileStats { bytes: stat(&statistics.total_byte_size, |n| Some(*n as u64)), columns }
}

/// The statistics DataFusion plans with for a file of `rows` rows read as `schema`: columns the
/// catalog knows nothing of are unknown.
pub(crate) fn to_datafusion(stats: &FileStats, rows: u64, schema: &Schema) -> Statistics {
    let column_statistics = schema
        .fields()
        .iter()
        .map(|field| match stats.columns.iter().find(|c| c.name == *field.name()) {
            None => ColumnStatistics::new_unknown(),
            Some(c) => ColumnStatistics {
                null_count: precision(&c.nulls, |n| Some(*n as usize)),
                min_value: precision(&c.min, |v| decode(v, field.data_type())),
                max_value: precision(&c.max, |v| decode(v, field.data_type())),
                sum_value: Precision::Absent,
                distinct_count: precision(&c.distinct, |n| Some(*n as usize)),
                byte_size: precision(&c.bytes, |n| Some(*n as usize)),
            },
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(rows as usize),
        total_byte_size: precision(&stats.bytes, |n| Some(*n as usize)),
        column_statistics,
    }
}

fn stat<T, U>(value: &Precision<T>, convert: impl Fn(&T) -> Option<U>) -> Option<Stat<U>>
where
    T: std::fmt::Debug + Clone + PartialEq + Eq + PartialOrd,
{
    match value {
        Precision::Exact(v) => convert(v).map(|value| Stat { value, exact: true }),
        Precision::Inexact(v) => convert(v).map(|value| Stat { value, exact: false }),
        Precision::Absent => None,
    }
}

fn precision<T, U>(value: &Option<Stat<T>>, convert: impl Fn(&T) -> Option<U>) -> Precision<U>
where
    U: std::fmt::Debug + Clone + PartialEq + Eq + PartialOrd,
{
    match value.as_ref().and_then(|s| convert(&s.value).map(|v| (v, s.exact))) {
        Some((v, true)) => Precision::Exact(v),
        Some((v, false)) => Precision::Inexact(v),
        None => Precision::Absent,
    }
}

/// A value's text form, kept only if it reads back as the same value.
pub(crate) fn encode(value: &ScalarValue) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let array = value.to_array().ok()?;
    let text = cast_with_options(&array, &DataType::Utf8, &CastOptions { safe: false, ..Default::default() }).ok()?;
    let text = text.as_any().downcast_ref::<StringArray>()?.value(0).to_string();
    (text.len() <= MAX_VALUE_LEN && decode(&text, &value.data_type()).as_ref() == Some(value)).then_some(text)
}

/// The value of `data_type` whose text form is `text`.
pub(crate) fn decode(text: &str, data_type: &DataType) -> Option<ScalarValue> {
    let array = StringArray::from(vec![text]);
    let cast = cast_with_options(&array, data_type, &CastOptions { safe: false, ..Default::default() }).ok()?;
    ScalarValue::try_from_array(&cast, 0).ok().filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{Field, TimeUnit};

    use super::*;

    #[test]
    fn values_survive_their_text_form() {
        let values = [
            ScalarValue::Int32(Some(-7)),
            ScalarValue::Int64(Some(i64::MAX)),
            ScalarValue::Float64(Some(0.1 + 0.2)),
            ScalarValue::Float32(Some(-1.5e-30)),
            ScalarValue::Decimal128(Some(-123456), 12, 2),
            ScalarValue::Date32(Some(19000)),
            ScalarValue::TimestampMicrosecond(Some(1_600_000_000_123_456), None),
            ScalarValue::TimestampMicrosecond(Some(1_600_000_000_000_000), Some("+00:00".into())),
            ScalarValue::Boolean(Some(false)),
            ScalarValue::Utf8(Some("Zürich, \"quoted\"".into())),
            ScalarValue::Utf8View(Some(String::new())),
        ];
        for value in values {
            let text = encode(&value).unwrap_or_else(|| panic!("{value:?} has no text form"));
            assert_eq!(decode(&text, &value.data_type()), Some(value));
        }
        assert_eq!(encode(&ScalarValue::Int32(None)), None);
        assert_eq!(encode(&ScalarValue::Utf8(Some("x".repeat(MAX_VALUE_LEN + 1)))), None);
        assert_eq!(encode(&ScalarValue::Binary(Some(vec![0xff, 0xfe]))), None, "not text: left out");
    }

    #[test]
    fn statistics_round_trip_through_the_catalog_form() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("name", DataType::Utf8View, true),
        ]);
        let statistics = Statistics {
            num_rows: Precision::Exact(10),
            total_byte_size: Precision::Inexact(400),
            column_statistics: vec![
                ColumnStatistics {
                    null_count: Precision::Exact(0),
                    min_value: Precision::Exact(ScalarValue::Int64(Some(1))),
                    max_value: Precision::Exact(ScalarValue::Int64(Some(10))),
                    distinct_count: Precision::Inexact(10),
                    ..ColumnStatistics::new_unknown()
                },
                ColumnStatistics { null_count: Precision::Exact(10), ..ColumnStatistics::new_unknown() },
                ColumnStatistics {
                    null_count: Precision::Exact(2),
                    min_value: Precision::Exact(ScalarValue::Utf8View(Some("a".into()))),
                    max_value: Precision::Inexact(ScalarValue::Utf8View(Some("zz".into()))),
                    byte_size: Precision::Inexact(80),
                    ..ColumnStatistics::new_unknown()
                },
            ],
        };
        let stored = to_catalog(&statistics, &schema);
        assert_eq!(to_datafusion(&stored, 10, &schema), statistics);

        // A column the statistics do not know (added later, say) is unknown, not wrong.
        let wider =
            Schema::new([schema.fields().to_vec(), vec![Arc::new(Field::new("new", DataType::Int32, true))]].concat());
        let planned = to_datafusion(&stored, 10, &wider);
        assert_eq!(planned.column_statistics[3], ColumnStatistics::new_unknown());
    }
}
