//! Redshift `UNLOAD ('select ...') TO 's3://prefix' [auth] [options]`: runs the query and
//! writes its rows as files under the prefix, to S3 or a local folder.
//!
//! Every output partition of the query (a "slice") writes its own files, named as Redshift
//! names them: `<prefix>0000_part_00[.parquet][.gz]`, the part number growing when MAXFILESIZE
//! is reached; `PARALLEL OFF` writes one stream as `<prefix>000`, `<prefix>001`, ...
//! `PARTITION BY (cols)` writes `<prefix>/col=value/...` folders (Hive style, readable back as
//! a partitioned external table), without the partition columns unless `INCLUDE`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow::csv::QuoteStyle;
use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::physical_plan::{SendableRecordBatchStream, execute_stream, execute_stream_partitioned};
use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, FileSizeUnit, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::RedshiftSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::ArrowWriter;
use tokio::io::AsyncWriteExt;

use crate::copy::{Compression, Credentials, offset};
use crate::error::{Error, Result};
use crate::session::{Output, Session};
use crate::storage::{Location, S3Overrides, Stores};

/// Redshift's default and largest MAXFILESIZE: 6.2 GB.
const MAX_FILE_BYTES: u64 = 6_200 * 1024 * 1024;

/// A parsed `UNLOAD`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unload {
    /// The query, as written inside the quotes.
    pub query: String,
    pub to: String,
    pub format: UnloadFormat,
    pub delimiter: Option<char>,
    pub header: bool,
    pub add_quotes: bool,
    pub null_as: Option<String>,
    pub compression: Option<Compression>,
    pub partition_by: Vec<String>,
    pub include_partition_columns: bool,
    pub allow_overwrite: bool,
    pub clean_path: bool,
    pub max_file_bytes: u64,
    pub parallel: bool,
    pub manifest: bool,
    pub extension: Option<String>,
    pub credentials: Credentials,
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnloadFormat {
    /// Delimited text (Redshift's default; `|` unless DELIMITER says otherwise).
    Text,
    Csv,
    Parquet,
    Json,
}

fn syntax(e: datafusion::sql::sqlparser::parser::ParserError) -> Error {
    Error::Parse(e.to_string().replace("sql parser error: ", ""))
}

/// Parses one `UNLOAD` statement (`text` starts at `UNLOAD`, ends before `;`).
pub fn parse_unload(text: &str) -> Result<Unload> {
    let dialect = RedshiftSqlDialect {};
    let mut unload = Unload {
        query: String::new(),
        to: String::new(),
        format: UnloadFormat::Text,
        delimiter: None,
        header: false,
        add_quotes: false,
        null_as: None,
        compression: None,
        partition_by: Vec::new(),
        include_partition_columns: false,
        allow_overwrite: false,
        clean_path: false,
        max_file_bytes: MAX_FILE_BYTES,
        parallel: true,
        manifest: false,
        extension: None,
        credentials: Credentials::default(),
        region: None,
    };
    // sqlparser parses the statement and the options it knows, stopping at the first it does
    // not; tarn parses those (ACCESS_KEY_ID, ...) and hands the rest back to sqlparser.
    let mut rest = text.to_string();
    let mut first = true;
    loop {
        let mut parser = Parser::new(&dialect).try_with_sql(&rest).map_err(syntax)?;
        let SqlStatement::Unload { query, query_text, to, auth, with, options } =
            parser.parse_unload().map_err(syntax)?
        else {
            return Err(Error::Parse("expected UNLOAD ('query') TO 'location'".into()));
        };
        if first {
            unload.query = match (query_text, query) {
                (Some(text), _) => text,
                (None, Some(query)) => query.to_string(),
                (None, None) => return Err(Error::Parse("UNLOAD needs a query".into())),
            };
            unload.to = to.value;
            first = false;
        }
        if !with.is_empty() {
            return Err(Error::Unsupported("UNLOAD ... WITH (...) (Athena's form; use Redshift's options)".into()));
        }
        if let Some(role) = auth {
            unload.credentials.apply(CopyLegacyOption::IamRole(role))?;
        }
        for option in options {
            apply(&mut unload, option)?;
        }
        let mut parsed_ours = false;
        while parser.peek_token().token != Token::EOF && unload.credentials.parse_key_clause(&mut parser)? {
            parsed_ours = true;
        }
        let next = parser.peek_token();
        if next.token == Token::EOF {
            break;
        }
        if !parsed_ours {
            return Err(Error::Unsupported(format!("UNLOAD option {next}")));
        }
        rest = format!("UNLOAD ('') TO '' {}", &rest[offset(&rest, next.span.start)..]);
    }
    validate(&unload)?;
    Ok(unload)
}

fn apply(unload: &mut Unload, option: CopyLegacyOption) -> Result<()> {
    match option {
        CopyLegacyOption::IamRole(_) | CopyLegacyOption::Credentials(_) => {
            unload.credentials.apply(option)?;
        }
        CopyLegacyOption::Region(region) => unload.region = Some(region),
        CopyLegacyOption::Parquet => unload.format = UnloadFormat::Parquet,
        CopyLegacyOption::Json(None) => unload.format = UnloadFormat::Json,
        CopyLegacyOption::Csv(csv) => {
            for option in csv {
                match option {
                    CopyLegacyCsvOption::Header => unload.header = true,
                    CopyLegacyCsvOption::Quote('"') => {}
                    other => return Err(Error::Unsupported(format!("UNLOAD CSV option {other}"))),
                }
            }
            unload.format = UnloadFormat::Csv;
        }
        CopyLegacyOption::Delimiter(c) => unload.delimiter = Some(c),
        CopyLegacyOption::Header => unload.header = true,
        CopyLegacyOption::AddQuotes => unload.add_quotes = true,
        CopyLegacyOption::Null(text) => unload.null_as = Some(text),
        CopyLegacyOption::Gzip => unload.compression = Some(Compression::Gzip),
        CopyLegacyOption::Bzip2 => unload.compression = Some(Compression::Bzip2),
        CopyLegacyOption::Zstd => unload.compression = Some(Compression::Zstd),
        CopyLegacyOption::PartitionBy(partition) => {
            unload.partition_by = partition.columns.iter().map(crate::ddl::normalize).collect();
            unload.include_partition_columns = partition.include;
        }
        CopyLegacyOption::AllowOverwrite => unload.allow_overwrite = true,
        CopyLegacyOption::CleanPath => unload.clean_path = true,
        CopyLegacyOption::MaxFileSize(size) => {
            let number = size.size.value.to_string();
            let value: f64 = number
                .parse()
                .map_err(|_| Error::Invalid(format!("MAXFILESIZE takes a number of MB or GB, not {number}")))?;
            let megabytes = match size.unit {
                Some(FileSizeUnit::GB) => value * 1024.0,
                Some(FileSizeUnit::MB) | None => value,
            };
            let bytes = (megabytes * 1024.0 * 1024.0) as u64;
            if !(5 * 1024 * 1024..=MAX_FILE_BYTES).contains(&bytes) {
                return Err(Error::Invalid("MAXFILESIZE must be between 5 MB and 6.2 GB".into()));
            }
            unload.max_file_bytes = bytes;
        }
        CopyLegacyOption::Parallel(on) => unload.parallel = on.unwrap_or(true),
        CopyLegacyOption::Manifest { verbose: false } => unload.manifest = true,
        CopyLegacyOption::Extension(extension) => {
            unload.extension = Some(extension.trim_start_matches('.').to_string())
        }
        other => return Err(Error::Unsupported(format!("UNLOAD option {other}"))),
    }
    Ok(())
}

fn validate(unload: &Unload) -> Result<()> {
    let text_only = [
        ("DELIMITER", unload.delimiter.is_some()),
        ("HEADER", unload.header),
        ("ADDQUOTES", unload.add_quotes),
        ("NULL AS", unload.null_as.is_some()),
    ];
    let format = match unload.format {
        UnloadFormat::Parquet => Some("PARQUET"),
        UnloadFormat::Json => Some("JSON"),
        _ => None,
    };
    if let Some(format) = format {
        if let Some((option, _)) = text_only.iter().find(|(_, set)| *set) {
            return Err(Error::Invalid(format!("UNLOAD option {option} cannot be used with FORMAT {format}")));
        }
        if unload.format == UnloadFormat::Parquet && unload.compression.is_some() {
            return Err(Error::Invalid(
                "UNLOAD FORMAT PARQUET files are Snappy-compressed; GZIP, BZIP2 and ZSTD cannot be used with it".into(),
            ));
        }
    }
    if let Some(c) = unload.delimiter
        && (!c.is_ascii() || c == '\n' || c == '\r')
    {
        return Err(Error::Invalid(format!("UNLOAD DELIMITER must be a single ASCII character, not {c:?}")));
    }
    if unload.allow_overwrite && unload.clean_path {
        return Err(Error::Invalid("UNLOAD options ALLOWOVERWRITE and CLEANPATH cannot be used together".into()));
    }
    Ok(())
}

/// Runs an UNLOAD in `session` (it sees the open transaction's changes).
pub(crate) async fn unload(session: &Session, unload: Unload) -> Result<Output> {
    let mut statements = crate::parser::parse(&unload.query)?;
    let statement = match (statements.pop(), statements.is_empty()) {
        (Some(crate::parser::Statement::Sql(statement)), true) => statement,
        _ => return Err(Error::Invalid("UNLOAD takes one SELECT statement".into())),
    };
    let plan = session.plan(*statement).await?;
    let physical = session.physical_plan(&plan).await?;
    let schema = physical.schema();
    let mut partition_indexes = Vec::new();
    for name in &unload.partition_by {
        let index = schema.index_of(name).map_err(|_| {
            Error::Invalid(format!("PARTITION BY column \"{name}\" is not a column of the UNLOAD query"))
        })?;
        partition_indexes.push(index);
    }
    let data_columns: Vec<usize> = (0..schema.fields().len())
        .filter(|i| unload.include_partition_columns || !partition_indexes.contains(i))
        .collect();
    if data_columns.is_empty() {
        return Err(Error::Invalid("UNLOAD would write no column: add INCLUDE to keep the partition columns".into()));
    }

    let stores = session.shared.engine.stores.clone();
    let overrides = unload.credentials.overrides(unload.region.as_deref())?;
    let target = Location::parse(&unload.to)?;
    prepare_target(&stores, &target, &overrides, &unload).await?;

    let streams = if unload.parallel {
        execute_stream_partitioned(physical, session.ctx.task_ctx())?
    } else {
        vec![execute_stream(physical, session.ctx.task_ctx())?]
    };
    let job = Arc::new(Job {
        data_schema: Arc::new(schema.project(&data_columns)?),
        data_columns,
        partition_indexes,
        target,
        stores,
        overrides,
        unload,
    });
    let mut slices = tokio::task::JoinSet::new();
    for (slice, stream) in streams.into_iter().enumerate() {
        slices.spawn(job.clone().write_slice(slice, stream));
    }
    let mut files = Vec::new();
    let mut rows = 0;
    while let Some(joined) = slices.join_next().await {
        let (slice_files, slice_rows) =
            joined.map_err(|e| Error::Invalid(format!("an UNLOAD writer failed: {e}")))??;
        files.extend(slice_files);
        rows += slice_rows;
    }
    if files.is_empty() && job.partition_indexes.is_empty() {
        // No rows: one empty file (with its header or Parquet schema), as Redshift writes.
        let file = job.open(0, None, 0)?;
        files.push(file.finish().await?);
    }
    files.sort();
    if job.unload.manifest {
        job.write_manifest(&files).await?;
    }
    Ok(Output::command_with_message(
        "UNLOAD",
        rows,
        format!("UNLOAD completed, {rows} record(s) unloaded successfully."),
    ))
}

/// Applies ALLOWOVERWRITE and CLEANPATH to what is already under the target.
async fn prepare_target(stores: &Stores, target: &Location, overrides: &S3Overrides, unload: &Unload) -> Result<()> {
    let existing = match stores.list_prefix(target, overrides).await {
        Ok(existing) => existing,
        // A local folder that does not exist yet holds nothing.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    if existing.is_empty() || unload.allow_overwrite {
        return Ok(());
    }
    if !unload.clean_path {
        return Err(Error::Invalid(format!(
            "Specified unload destination {target} is not empty ({} object(s)). Consider using a different prefix, removing the files, or using the ALLOWOVERWRITE or CLEANPATH option.",
            existing.len()
        )));
    }
    for object in existing {
        let (store, path) = stores.resolve(&object.location, overrides)?;
        store
            .delete(&path)
            .await
            .map_err(|e| crate::storage::storage_error("delete", &object.location.to_string(), e))?;
    }
    Ok(())
}

struct Job {
    unload: Unload,
    target: Location,
    stores: Arc<Stores>,
    overrides: S3Overrides,
    partition_indexes: Vec<usize>,
    data_columns: Vec<usize>,
    data_schema: SchemaRef,
}

/// A file written by UNLOAD: its location and size.
type Written = (String, u64);

impl Job {
    /// Writes one slice's rows; returns its files and row count.
    async fn write_slice(
        self: Arc<Self>,
        slice: usize,
        mut stream: SendableRecordBatchStream,
    ) -> Result<(Vec<Written>, u64)> {
        let mut open: BTreeMap<Option<String>, OpenFile> = BTreeMap::new();
        let mut parts: BTreeMap<Option<String>, usize> = BTreeMap::new();
        let mut written = Vec::new();
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            for (folder, rows) in self.split_by_partition(&batch)? {
                let file = match open.entry(folder.clone()) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => {
                        let part = parts.entry(folder.clone()).or_default();
                        *part += 1;
                        entry.insert(self.open(slice, folder.as_deref(), *part - 1)?)
                    }
                };
                file.write(&rows).await?;
                if file.size() >= self.unload.max_file_bytes
                    && let Some(full) = open.remove(&folder)
                {
                    written.push(full.finish().await?);
                }
            }
        }
        for (_, file) in open {
            written.push(file.finish().await?);
        }
        Ok((written, rows))
    }

    /// The batch's data columns, grouped by the `col=value/` folder of their partition values
    /// (`None` when the output is not partitioned).
    fn split_by_partition(&self, batch: &RecordBatch) -> Result<Vec<(Option<String>, RecordBatch)>> {
        let data = batch.project(&self.data_columns)?;
        if self.partition_indexes.is_empty() {
            return Ok(vec![(None, data)]);
        }
        let format = FormatOptions::default().with_null("__HIVE_DEFAULT_PARTITION__");
        let formatters = self
            .partition_indexes
            .iter()
            .map(|&i| ArrayFormatter::try_new(batch.column(i).as_ref(), &format))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let mut folder = String::new();
            for (formatter, name) in formatters.iter().zip(&self.unload.partition_by) {
                let value = formatter.value(row).to_string();
                folder.push_str(&format!("{name}={}/", escape_partition_value(&value)));
            }
            groups.entry(folder).or_default().push(row as u32);
        }
        groups
            .into_iter()
            .map(|(folder, rows)| {
                let indexes = UInt32Array::from(rows);
                let columns = data
                    .columns()
                    .iter()
                    .map(|c| take(c, &indexes, None))
                    .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
                Ok((Some(folder), RecordBatch::try_new(data.schema(), columns)?))
            })
            .collect()
    }

    /// Opens part `part` of a slice's file (in a partition's folder).
    fn open(&self, slice: usize, folder: Option<&str>, part: usize) -> Result<OpenFile> {
        let unload = &self.unload;
        let mut name = if unload.parallel { format!("{slice:04}_part_{part:02}") } else { format!("{part:03}") };
        let extension = unload.extension.clone().or(match unload.format {
            UnloadFormat::Parquet => Some("parquet".to_string()),
            _ => None,
        });
        if let Some(extension) = extension {
            name = format!("{name}.{extension}");
        }
        name.push_str(match unload.compression {
            Some(Compression::Gzip) => ".gz",
            Some(Compression::Bzip2) => ".bz2",
            Some(Compression::Zstd) => ".zst",
            None => "",
        });
        let location = match folder {
            Some(folder) => self.target.join(&format!("{folder}{name}")),
            None => append(&self.target, &name),
        };
        let (store, path) = self.stores.resolve(&location, &self.overrides)?;
        let encoder = Encoder::new(unload, self.data_schema.clone())?;
        Ok(OpenFile { location, upload: BufWriter::with_capacity(store, path, 8 << 20), encoder, uploaded: 0 })
    }

    async fn write_manifest(&self, files: &[Written]) -> Result<()> {
        let entries: Vec<serde_json::Value> =
            files.iter().map(|(url, size)| serde_json::json!({"url": url, "meta": {"content_length": size}})).collect();
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({ "entries": entries }))
            .map_err(|e| Error::Invalid(format!("writing the UNLOAD manifest: {e}")))?;
        let location = append(&self.target, "manifest");
        let (store, path) = self.stores.resolve(&location, &self.overrides)?;
        store
            .put(&path, manifest.into())
            .await
            .map_err(|e| crate::storage::storage_error("write", &location.to_string(), e))?;
        Ok(())
    }
}

/// `prefix` with `name` appended: as a path segment when it names a folder (ends in `/`, or is
/// an existing local directory), else glued on as Redshift does (`s3://b/out_` + `000`).
fn append(prefix: &Location, name: &str) -> Location {
    match prefix {
        Location::Local(path) if path.is_dir() || path.to_string_lossy().ends_with('/') => prefix.join(name),
        Location::Local(path) => Location::Local(format!("{}{name}", path.display()).into()),
        Location::S3 { bucket, key } => Location::S3 { bucket: bucket.clone(), key: format!("{key}{name}") },
    }
}

/// A partition value as a folder name: `/` and `%` are percent-encoded.
fn escape_partition_value(value: &str) -> String {
    value.replace('%', "%25").replace('/', "%2F")
}

/// A file being written: encoded bytes go to a multipart upload as they are produced.
struct OpenFile {
    location: Location,
    upload: BufWriter,
    encoder: Encoder,
    uploaded: u64,
}

impl OpenFile {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encoder.write(batch)?;
        self.flush().await
    }

    /// Bytes of the file so far (encoded, not all uploaded yet).
    fn size(&self) -> u64 {
        self.uploaded + self.encoder.buffered() as u64
    }

    async fn flush(&mut self) -> Result<()> {
        let bytes = self.encoder.take_output();
        if !bytes.is_empty() {
            self.uploaded += bytes.len() as u64;
            self.upload
                .write_all(&bytes)
                .await
                .map_err(|source| Error::Io { context: format!("writing {}", self.location), source })?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Written> {
        self.encoder.finish()?;
        self.flush().await?;
        self.upload
            .shutdown()
            .await
            .map_err(|source| Error::Io { context: format!("writing {}", self.location), source })?;
        Ok((self.location.to_string(), self.uploaded))
    }
}

/// Encodes batches in an UNLOAD format into an in-memory buffer that is drained after each batch.
enum Encoder {
    Delimited { options: arrow::csv::WriterBuilder, header: bool, out: Compressor },
    Json { out: Compressor },
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(unload: &Unload, schema: Arc<Schema>) -> Result<Encoder> {
        let out = Compressor::new(unload.compression)?;
        Ok(match unload.format {
            UnloadFormat::Parquet => {
                let properties = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                Encoder::Parquet(Box::new(ArrowWriter::try_new(Vec::new(), schema, Some(properties))?))
            }
            UnloadFormat::Json => Encoder::Json { out },
            UnloadFormat::Text | UnloadFormat::Csv => {
                let csv = unload.format == UnloadFormat::Csv;
                let delimiter = unload.delimiter.unwrap_or(if csv { ',' } else { '|' });
                let quote_style = if unload.add_quotes {
                    QuoteStyle::Always
                } else if csv {
                    QuoteStyle::Necessary
                } else {
                    QuoteStyle::Never
                };
                let options = arrow::csv::WriterBuilder::new()
                    .with_delimiter(delimiter as u8)
                    .with_quote_style(quote_style)
                    .with_null(unload.null_as.clone().unwrap_or_default())
                    .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".into())
                    .with_timestamp_tz_format("%Y-%m-%d %H:%M:%S%.f%:z".into());
                let mut encoder = Encoder::Delimited { options, header: unload.header, out };
                if unload.header {
                    // The header line is written even when no row follows.
                    encoder.write(&RecordBatch::new_empty(schema))?;
                }
                encoder
            }
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Encoder::Delimited { options, header, out } => {
                let mut writer = options.clone().with_header(*header).build(&mut *out);
                writer.write(batch)?;
                *header = false;
            }
            Encoder::Json { out } => {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
                writer.write(batch)?;
                writer.finish()?;
            }
            Encoder::Parquet(writer) => writer.write(batch)?,
        }
        Ok(())
    }

    /// Bytes encoded but not yet taken.
    fn buffered(&self) -> usize {
        match self {
            Encoder::Delimited { out, .. } | Encoder::Json { out } => out.buffered(),
            Encoder::Parquet(writer) => writer.inner().len() + writer.in_progress_size(),
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        match self {
            Encoder::Delimited { out, .. } | Encoder::Json { out } => out.take(),
            // The writer counts the bytes it wrote itself, so its buffer can be emptied.
            Encoder::Parquet(writer) => std::mem::take(writer.inner_mut()),
        }
    }

    fn finish(&mut self) -> Result<()> {
        match self {
            Encoder::Delimited { out, .. } | Encoder::Json { out } => out.finish(),
            Encoder::Parquet(writer) => {
                writer.finish()?;
                Ok(())
            }
        }
    }
}

/// An in-memory output, compressed as UNLOAD says.
enum Compressor {
    Plain(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Bzip2(bzip2::write::BzEncoder<Vec<u8>>),
    Zstd(zstd::Encoder<'static, Vec<u8>>),
    Finished(Vec<u8>),
}

impl Compressor {
    fn new(compression: Option<Compression>) -> Result<Compressor> {
        Ok(match compression {
            None => Compressor::Plain(Vec::new()),
            Some(Compression::Gzip) => {
                Compressor::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()))
            }
            Some(Compression::Bzip2) => {
                Compressor::Bzip2(bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default()))
            }
            Some(Compression::Zstd) => Compressor::Zstd(
                zstd::Encoder::new(Vec::new(), 3)
                    .map_err(|source| Error::Io { context: "starting zstd compression".into(), source })?,
            ),
        })
    }

    fn buffer(&mut self) -> &mut Vec<u8> {
        match self {
            Compressor::Plain(out) | Compressor::Finished(out) => out,
            Compressor::Gzip(encoder) => encoder.get_mut(),
            Compressor::Bzip2(encoder) => encoder.get_mut(),
            Compressor::Zstd(encoder) => encoder.get_mut(),
        }
    }

    fn buffered(&self) -> usize {
        match self {
            Compressor::Plain(out) | Compressor::Finished(out) => out.len(),
            Compressor::Gzip(encoder) => encoder.get_ref().len(),
            Compressor::Bzip2(encoder) => encoder.get_ref().len(),
            Compressor::Zstd(encoder) => encoder.get_ref().len(),
        }
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.buffer())
    }

    fn finish(&mut self) -> Result<()> {
        let io = |source| Error::Io { context: "finishing compressed UNLOAD output".into(), source };
        let rest = match std::mem::replace(self, Compressor::Finished(Vec::new())) {
            Compressor::Plain(out) | Compressor::Finished(out) => out,
            Compressor::Gzip(encoder) => encoder.finish().map_err(io)?,
            Compressor::Bzip2(encoder) => encoder.finish().map_err(io)?,
            Compressor::Zstd(encoder) => encoder.finish().map_err(io)?,
        };
        *self = Compressor::Finished(rest);
        Ok(())
    }
}

impl Write for Compressor {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Compressor::Plain(out) | Compressor::Finished(out) => Write::write(out, bytes),
            Compressor::Gzip(encoder) => encoder.write(bytes),
            Compressor::Bzip2(encoder) => encoder.write(bytes),
            Compressor::Zstd(encoder) => encoder.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redshift_unload_options() {
        let u = parse_unload(
            "UNLOAD ('select * from t where x = ''a''') TO 's3://b/out/' ACCESS_KEY_ID 'k' SECRET_ACCESS_KEY 's' \
             FORMAT AS CSV HEADER DELIMITER ';' GZIP ALLOWOVERWRITE MAXFILESIZE 10 MB PARALLEL OFF REGION 'eu-west-1'",
        )
        .unwrap();
        assert_eq!(u.query, "select * from t where x = 'a'");
        assert_eq!(u.to, "s3://b/out/");
        assert_eq!(u.format, UnloadFormat::Csv);
        assert!(u.header && u.allow_overwrite && !u.parallel);
        assert_eq!(u.delimiter, Some(';'));
        assert_eq!(u.compression, Some(Compression::Gzip));
        assert_eq!(u.max_file_bytes, 10 * 1024 * 1024);
        assert_eq!(u.credentials.access_key_id.as_deref(), Some("k"));
        assert_eq!(u.region.as_deref(), Some("eu-west-1"));
        let p = parse_unload(
            "UNLOAD ('select 1') TO 's3://b/p/' IAM_ROLE default PARQUET PARTITION BY (day) INCLUDE CLEANPATH",
        )
        .unwrap();
        assert_eq!(
            (p.format, p.partition_by.clone(), p.include_partition_columns, p.clean_path),
            (UnloadFormat::Parquet, vec!["day".to_string()], true, true)
        );
    }

    #[test]
    fn unload_option_conflicts_are_named() {
        let err = |sql: &str| parse_unload(sql).unwrap_err().to_string();
        assert!(
            err("UNLOAD ('select 1') TO 's3://b/' PARQUET HEADER")
                .contains("HEADER cannot be used with FORMAT PARQUET")
        );
        assert!(err("UNLOAD ('select 1') TO 's3://b/' PARQUET GZIP").contains("GZIP, BZIP2 and ZSTD cannot be used"));
        assert!(
            err("UNLOAD ('select 1') TO 's3://b/' ENCRYPTED").contains("not supported yet: UNLOAD option ENCRYPTED")
        );
        assert!(err("UNLOAD ('select 1') TO 's3://b/' CLEANPATH ALLOWOVERWRITE").contains("cannot be used together"));
    }
}
