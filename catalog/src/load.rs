//! Load history: Redshift's `stl_load_errors` and `stl_load_commits`.

/// One rejected row of a load, with Redshift's `stl_load_errors` columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    pub query: i64,
    pub userid: String,
    /// Id of the table loaded into.
    pub tbl: i64,
    /// RFC 3339 start time of the load.
    pub starttime: String,
    pub session: i64,
    pub filename: String,
    /// 1-based line of the input where the row starts.
    pub line_number: i64,
    pub colname: String,
    /// Declared type of the column.
    pub col_type: String,
    pub col_length: String,
    /// 1-based position of the field in the row.
    pub position: i64,
    pub raw_line: String,
    pub raw_field_value: String,
    pub err_code: i64,
    pub err_reason: String,
}

/// One statement of the query history, with Redshift's `stl_query` columns and tarn's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRecord {
    /// Assigned when recorded (the sequence load ids come from too).
    pub query: i64,
    pub userid: String,
    /// The session (`pg_backend_pid()`).
    pub pid: i64,
    /// The statement, secrets masked.
    pub querytxt: String,
    /// RFC 3339.
    pub starttime: String,
    pub endtime: String,
    /// Rows returned or changed, when known.
    pub rows: Option<i64>,
    /// `success`, `error` or `cancelled`.
    pub status: String,
    pub error: Option<String>,
}

/// One file a load read, with Redshift's `stl_load_commits` columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadCommit {
    pub query: i64,
    pub userid: String,
    pub tbl: i64,
    pub filename: String,
    pub lines_scanned: i64,
    /// RFC 3339 time of the load.
    pub curtime: String,
    /// `loaded`, `failed` or `noload`.
    pub status: String,
}
