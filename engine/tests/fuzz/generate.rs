//! The statement generator: a small grammar of tarn's dialect, driven by a seeded PRNG.

use std::path::PathBuf;

use tarn_engine::functions::REFERENCE;

use super::file_in;
use super::model::{Effect, Filter, Model, Row, S_BYTES};

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One generated statement and, when the model can predict it, its effect.
pub struct Step {
    pub sql: String,
    pub effect: Option<Effect>,
}

pub struct Generator {
    rng: Rng,
    files: PathBuf,
    functions: Vec<&'static str>,
    /// Argument counts each function was seen to accept (learned from the outcomes), so that
    /// most calls reach the function's code rather than the planner's arity check.
    arities: std::collections::HashMap<&'static str, Vec<usize>>,
    /// The function and argument count of the last statement, if it called one function.
    last_call: Option<(&'static str, usize)>,
    next_table: usize,
}

const LITERALS: &[&str] = &[
    "NULL",
    "0",
    "1",
    "-1",
    "42",
    "2147483647",
    "-2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999999",
    "1.5",
    "-0.0",
    "123456789012345678901234567890.123",
    "0.000001",
    "1e308",
    "'NaN'::double precision",
    "''",
    "' '",
    "'abc'",
    "'été'",
    "'x%'",
    "'%'",
    "'_'",
    "'\\\\'",
    "'2024-02-29'",
    "'20240131 10:11:12'",
    "'0001-01-01'",
    "'9999-12-31 23:59:59'",
    "'not a date'",
    "'{\"a\":[1,2,{\"b\":null}]}'",
    "'[1,2,3]'",
    "'YYYY-MM-DD HH24:MI:SS'",
    "'999D99S'",
    "'FM9,999.99'",
    "'America/New_York'",
    "'UTC+3'",
    "'day'",
    "'month'",
    "'(a|b)*c'",
    "'['",
    "DATE '2024-01-31'",
    "DATE '1970-01-01'",
    "TIMESTAMP '2024-01-31 23:59:59.999999'",
    "TIMESTAMP '1900-01-01 00:00:00'",
    "TIME '13:24:55'",
    "INTERVAL '1 month'",
    "INTERVAL '-3 days'",
    "TRUE",
    "FALSE",
    "repeat('ab', 600)",
];

const DATEPARTS: &[&str] = &[
    "day", "month", "year", "hour", "minute", "m", "dow", "doy", "week", "qtr", "epoch", "ms", "us", "century",
    "decade", "tz",
];

const TYPES: &[&str] = &[
    "int",
    "smallint",
    "bigint",
    "decimal(8,2)",
    "decimal(38,10)",
    "numeric(3,1)",
    "real",
    "double precision",
    "varchar(3)",
    "char(2)",
    "text",
    "boolean",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "interval",
    "datetime",
];

const BINARY_OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "AND", "OR", "LIKE", "ILIKE", "~", "!~*", "^", "#", "&", "|",
    "<<", ">>",
];

const AGGREGATES: &[&str] =
    &["count", "sum", "avg", "min", "max", "median", "stddev", "var_pop", "bit_and", "bool_or", "any_value"];

const WINDOWS: &[&str] = &["row_number()", "rank()", "dense_rank()", "cume_dist()", "percent_rank()", "ntile(3)"];

impl Generator {
    pub fn new(seed: u64, files: PathBuf) -> Generator {
        let mut functions: Vec<&'static str> = REFERENCE
            .iter()
            .flat_map(|e| e.names.iter().copied())
            .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        functions.extend(["tarn_varchar", "tarn_similar_to_regex", "tarn_regexp_match", "redshift_extract"]);
        functions.sort();
        functions.dedup();
        Generator { rng: Rng::new(seed), files, functions, arities: Default::default(), last_call: None, next_table: 0 }
    }

    /// Learns from the last statement's outcome: an argument count a function accepts.
    pub fn observe(&mut self, error: Option<&str>) {
        let Some((name, arity)) = self.last_call.take() else { return };
        let rejected = error.is_some_and(|e| {
            let e = e.to_lowercase();
            e.contains("argument") || e.contains("does not support zero") || e.contains("no function matches")
        });
        if !rejected {
            let known = self.arities.entry(name).or_default();
            if !known.contains(&arity) {
                known.push(arity);
            }
        }
    }

    pub fn next(&mut self, model: &Model) -> Step {
        let tables: Vec<String> = model.tables().keys().cloned().collect();
        if model.aborted() && self.rng.chance(70) {
            return Step { sql: "ROLLBACK".into(), effect: Some(Effect::Rollback) };
        }
        let roll = self.rng.below(100);
        match roll {
            _ if tables.is_empty() || roll < 4 => self.create_table(model),
            0..=29 => Step { sql: self.query(&tables), effect: None },
            30..=44 => Step { sql: self.function_call(), effect: None },
            45..=61 => self.dml(&tables),
            62..=64 => self.drop_or_ctas(&tables, model),
            65..=71 => self.transaction(),
            72..=76 => self.copy(&tables),
            77..=79 => Step { sql: self.unload(&tables), effect: None },
            80..=87 => Step { sql: self.scratch_dml(), effect: None },
            88..=93 if !model.in_transaction() && self.rng.chance(10) => {
                // Time travel opens a read-only transaction: look, and leave it.
                Step {
                    sql: "BEGIN AS OF SNAPSHOT 1; SELECT count(*) FROM svv_table_info; ROLLBACK".into(),
                    effect: None,
                }
            }
            88..=93 => Step { sql: self.other(&tables), effect: None },
            _ => Step { sql: self.garbage(&tables), effect: None },
        }
    }

    // ---- expressions ----------------------------------------------------------------------

    fn literal(&mut self) -> String {
        self.rng.pick(LITERALS).to_string()
    }

    fn expr(&mut self, depth: usize, columns: &[&str]) -> String {
        if depth == 0 {
            return if !columns.is_empty() && self.rng.chance(50) {
                self.rng.pick(columns).to_string()
            } else {
                self.literal()
            };
        }
        let d = depth - 1;
        match self.rng.below(16) {
            0 | 1 => self.literal(),
            2 | 3 if !columns.is_empty() => self.rng.pick(columns).to_string(),
            4..=6 => self.call(d, columns),
            7 | 8 => {
                let op = *self.rng.pick(BINARY_OPERATORS);
                format!("({} {op} {})", self.expr(d, columns), self.expr(d, columns))
            }
            9 => format!("CAST({} AS {})", self.expr(d, columns), self.rng.pick(TYPES)),
            10 => format!("{}::{}", self.expr(d, columns), self.rng.pick(TYPES)),
            11 => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                self.expr(d, columns),
                self.expr(d, columns),
                self.expr(d, columns)
            ),
            12 => match self.rng.below(6) {
                0 => format!("{} IS NULL", self.expr(d, columns)),
                1 => format!("{} IN ({}, {})", self.expr(d, columns), self.expr(d, columns), self.expr(d, columns)),
                2 => {
                    format!("{} BETWEEN {} AND {}", self.expr(d, columns), self.expr(d, columns), self.expr(d, columns))
                }
                3 => format!("NOT {}", self.expr(d, columns)),
                4 => format!("{} SIMILAR TO {}", self.expr(d, columns), self.literal()),
                _ => format!("-{}", self.expr(d, columns)),
            },
            13 => format!("extract({} FROM {})", self.rng.pick(DATEPARTS), self.expr(d, columns)),
            14 => format!("(SELECT max(id) FROM {})", self.any_table_name()),
            _ => match self.rng.below(5) {
                0 => format!("|/ {}", self.expr(d, columns)),
                1 => format!("@ {}", self.expr(d, columns)),
                2 => format!(
                    "decode({}, {}, {}, {})",
                    self.expr(d, columns),
                    self.literal(),
                    self.literal(),
                    self.literal()
                ),
                3 => format!("nvl2({}, {}, {})", self.expr(d, columns), self.literal(), self.literal()),
                _ => format!("{} AT TIME ZONE {}", self.expr(d, columns), self.literal()),
            },
        }
    }

    /// A call of a function of the reference with 0 to 4 random arguments.
    fn call(&mut self, depth: usize, columns: &[&str]) -> String {
        let name = *self.rng.pick(&self.functions.clone());
        let arity = self.rng.below(5);
        let mut args = Vec::with_capacity(arity);
        for i in 0..arity {
            // A datepart as a keyword, where functions take one first.
            if i == 0 && self.rng.chance(30) {
                args.push(self.rng.pick(DATEPARTS).to_string());
            } else {
                args.push(self.expr(depth, columns));
            }
        }
        format!("{name}({})", args.join(", "))
    }

    /// One function of the reference, mostly with an argument count it accepts, over literals
    /// (NULLs and extremes among them), now and then a nested expression or a column of values.
    fn function_call(&mut self) -> String {
        let name = *self.rng.pick(&self.functions.clone());
        let known = self.arities.get(name).cloned().unwrap_or_default();
        let arity = if !known.is_empty() && self.rng.chance(85) { *self.rng.pick(&known) } else { self.rng.below(5) };
        let mut args = Vec::with_capacity(arity);
        for i in 0..arity {
            args.push(match self.rng.below(10) {
                0 if i == 0 => self.rng.pick(DATEPARTS).to_string(),
                1 => self.expr(1, &[]),
                2 => "x".to_string(),
                _ => self.literal(),
            });
        }
        self.last_call = Some((name, arity));
        let call = format!("{name}({})", args.join(", "));
        let values = *self.rng.pick(&[
            "(1), (2), (NULL)",
            "('a'), (''), (NULL)",
            "(DATE '2024-02-29'), (NULL)",
            "(1.5), (-2.25)",
        ]);
        format!("SELECT {call} FROM (VALUES {values}) v(x)")
    }

    fn any_table_name(&mut self) -> String {
        format!("t{}", self.rng.below(self.next_table.max(1)))
    }

    // ---- queries --------------------------------------------------------------------------

    fn query(&mut self, tables: &[String]) -> String {
        let t = self.rng.pick(tables).clone();
        let columns = ["id", "s", "n"];
        let qualified = [format!("{t}.id"), format!("{t}.s"), format!("{t}.n")];
        let qualified: Vec<&str> = qualified.iter().map(String::as_str).collect();
        match self.rng.below(9) {
            0 => format!(
                "SELECT {}, {} FROM {t} WHERE {} ORDER BY 1 LIMIT {}",
                self.expr(2, &columns),
                self.expr(2, &columns),
                self.expr(2, &columns),
                self.rng.below(20)
            ),
            1 => {
                let agg = *self.rng.pick(AGGREGATES);
                format!("SELECT s, {agg}({}), count(*) FROM {t} GROUP BY s HAVING count(*) > 0", self.expr(1, &columns))
            }
            2 => {
                let u = self.rng.pick(tables).clone();
                format!(
                    "SELECT a.id, b.s FROM {t} a {} JOIN {u} b ON a.id = b.id WHERE {}",
                    self.rng.pick(&["", "LEFT", "FULL", "RIGHT"]),
                    self.expr(1, &["a.n", "b.n", "a.s"])
                )
            }
            3 => format!(
                "SELECT id, {} OVER (PARTITION BY s ORDER BY id), sum(n) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM {t}",
                self.rng.pick(WINDOWS)
            ),
            4 => format!(
                "SELECT * FROM {t} WHERE id IN (SELECT id FROM {} WHERE {}) OR EXISTS (SELECT 1 FROM {t} x WHERE x.id = {t}.n)",
                self.rng.pick(tables),
                self.expr(1, &columns)
            ),
            5 => format!(
                "SELECT listagg(s, ',') WITHIN GROUP (ORDER BY id DESC), percentile_cont(0.5) WITHIN GROUP (ORDER BY n), approximate count(DISTINCT s) FROM {t}"
            ),
            6 => format!(
                "WITH c AS (SELECT id, {} AS v FROM {t}) SELECT v, count(*) FROM c GROUP BY ROLLUP (v) ORDER BY 2 DESC",
                self.expr(2, &qualified)
            ),
            7 => format!(
                "SELECT TOP {} {} FROM {t} UNION ALL SELECT {} FROM {t} ORDER BY 1",
                self.rng.below(5),
                self.expr(1, &columns),
                self.expr(1, &columns)
            ),
            _ => {
                format!("SELECT ratio_to_report(n) OVER (PARTITION BY s), a, a FROM (SELECT n, s, id AS a FROM {t}) q")
            }
        }
    }

    // ---- modeled DML ------------------------------------------------------------------------

    fn value_row(&mut self) -> Row {
        let id = if self.rng.chance(10) { None } else { Some(self.rng.below(12) as i64) };
        let s = match self.rng.below(8) {
            0 => None,
            1 => Some(String::new()),
            2 => Some("été".into()),
            3 => Some("toolongvalue".into()),
            4 => Some("a'b".into()),
            _ => Some(format!("v{}", self.rng.below(50))),
        };
        let n = if self.rng.chance(15) { None } else { Some(self.rng.below(1000) as i64 - 500) };
        (id, s, n)
    }

    fn sql_row(row: &Row) -> String {
        let int = |v: &Option<i64>| v.map_or_else(|| "NULL".to_string(), |v| v.to_string());
        let text = match &row.1 {
            None => "NULL".to_string(),
            Some(s) => format!("'{}'", s.replace('\'', "''")),
        };
        format!("({}, {text}, {})", int(&row.0), int(&row.2))
    }

    fn filter(&mut self) -> Filter {
        match self.rng.below(4) {
            0 => Filter::All,
            1 => Filter::IdIs(self.rng.below(12) as i64),
            2 => Filter::IdBelow(self.rng.below(12) as i64),
            _ => Filter::SIsNull,
        }
    }

    fn dml(&mut self, tables: &[String]) -> Step {
        let t = self.rng.pick(tables).clone();
        let u = self.rng.pick(tables).clone();
        match self.rng.below(9) {
            0..=2 => {
                let rows: Vec<Row> = (0..1 + self.rng.below(3)).map(|_| self.value_row()).collect();
                let values = rows.iter().map(Self::sql_row).collect::<Vec<_>>().join(", ");
                Step {
                    sql: format!("INSERT INTO {t} VALUES {values}"),
                    effect: Some(Effect::Insert { table: t, rows }),
                }
            }
            3 => {
                let filter = self.filter();
                Step {
                    sql: format!("DELETE FROM {t}{}", filter.sql()),
                    effect: Some(Effect::Delete { table: t, filter }),
                }
            }
            4 => {
                let filter = self.filter();
                let value = if self.rng.chance(20) { None } else { Some(self.rng.below(100) as i64) };
                let shown = value.map_or_else(|| "NULL".to_string(), |v| v.to_string());
                Step {
                    sql: format!("UPDATE {t} SET n = {shown}{}", filter.sql()),
                    effect: Some(Effect::UpdateN { table: t, value, filter }),
                }
            }
            5 if t != u => Step {
                sql: format!("UPDATE {t} SET n = u.n FROM {u} u WHERE {t}.id = u.id"),
                effect: Some(Effect::UpdateFrom { table: t, from: u }),
            },
            6 if t != u => Step {
                sql: format!("DELETE FROM {t} USING {u} u WHERE {t}.id = u.id"),
                effect: Some(Effect::DeleteUsing { table: t, using: u }),
            },
            7 if t != u => Step {
                sql: format!(
                    "MERGE INTO {t} USING {u} src ON {t}.id = src.id WHEN MATCHED THEN UPDATE SET s = src.s WHEN NOT MATCHED THEN INSERT VALUES (src.id, src.s, src.n)"
                ),
                effect: Some(Effect::Merge { table: t, source: u }),
            },
            8 if self.rng.chance(30) => Step { sql: format!("TRUNCATE {t}"), effect: Some(Effect::Truncate(t)) },
            _ => Step { sql: format!("SELECT count(*) FROM {t}"), effect: None },
        }
    }

    fn create_table(&mut self, model: &Model) -> Step {
        // Now and then, a name that exists (an error the model expects).
        let name = if self.rng.chance(10) && !model.tables().is_empty() {
            model.tables().keys().next().cloned().unwrap_or_default()
        } else {
            self.next_table += 1;
            format!("t{}", self.next_table - 1)
        };
        let layout = self.layout();
        Step {
            sql: format!("CREATE TABLE {name} (id int, s varchar({S_BYTES}), n bigint){layout}"),
            effect: Some(Effect::CreateTable(name)),
        }
    }

    /// Redshift layout attributes: sorted tables must hold and answer exactly what unsorted ones do.
    fn layout(&mut self) -> &'static str {
        match self.rng.below(6) {
            0 => " SORTKEY (id)",
            1 => " COMPOUND SORTKEY (s, id)",
            2 => " INTERLEAVED SORTKEY (n, id)",
            3 => " DISTKEY (id) SORTKEY (n)",
            _ => "",
        }
    }

    fn drop_or_ctas(&mut self, tables: &[String], model: &Model) -> Step {
        if self.rng.chance(40) && tables.len() > 2 {
            let t = self.rng.pick(tables).clone();
            return Step { sql: format!("DROP TABLE {t}"), effect: Some(Effect::DropTable(t)) };
        }
        let from = self.rng.pick(tables).clone();
        let below = self.rng.below(12) as i64;
        let name = if self.rng.chance(10) {
            model.tables().keys().next().cloned().unwrap_or_default()
        } else {
            self.next_table += 1;
            format!("t{}", self.next_table - 1)
        };
        let layout = self.layout();
        Step {
            sql: format!("CREATE TABLE {name}{layout} AS SELECT * FROM {from} WHERE id < {below}"),
            effect: Some(Effect::CreateAs { table: name, from, below }),
        }
    }

    fn transaction(&mut self) -> Step {
        let (sql, effect) = match self.rng.below(7) {
            0 | 1 => ("BEGIN", Effect::Begin),
            2 => ("START TRANSACTION", Effect::Begin),
            3 | 4 => ("COMMIT", Effect::Commit),
            5 => ("END", Effect::Commit),
            _ => ("ROLLBACK", Effect::Rollback),
        };
        Step { sql: sql.into(), effect: Some(effect) }
    }

    /// A COPY of a CSV file the model knows: good rows, rows with a bad id, and MAXERROR.
    fn copy(&mut self, tables: &[String]) -> Step {
        let t = self.rng.pick(tables).clone();
        // An empty field is an empty string for a varchar column (NULL only with EMPTYASNULL).
        let rows: Vec<Row> = (0..self.rng.below(6))
            .map(|_| {
                let (id, s, n) = self.value_row();
                (id, Some(s.unwrap_or_default()), n)
            })
            .collect();
        let bad = if self.rng.chance(40) { 1 + self.rng.below(2) } else { 0 };
        let mut text = String::from("id,s,n\n");
        for (id, s, n) in &rows {
            let int = |v: &Option<i64>| v.map_or_else(String::new, |v| v.to_string());
            // Empty unquoted fields are NULL; text is always quoted, so '' stays ''.
            let s = s.as_ref().map_or_else(String::new, |s| format!("\"{}\"", s.replace('"', "\"\"")));
            text.push_str(&format!("{},{s},{}\n", int(id), int(n)));
        }
        for _ in 0..bad {
            text.push_str("not-a-number,x,1\n");
        }
        let path = file_in(&self.files, "load.csv");
        std::fs::write(&path, text).expect("a generated CSV file");
        let max_errors = self.rng.below(3);
        Step {
            sql: format!("COPY {t} FROM '{path}' CSV IGNOREHEADER 1 MAXERROR {max_errors}"),
            effect: Some(Effect::Copy { table: t, rows, bad, max_errors }),
        }
    }

    // ---- unmodeled statements -----------------------------------------------------------------

    fn unload(&mut self, tables: &[String]) -> String {
        let t = self.rng.pick(tables).clone();
        let dir = file_in(&self.files, "unload");
        let options = [
            "",
            "FORMAT AS CSV",
            "FORMAT AS PARQUET",
            "FORMAT JSON",
            "HEADER",
            "DELIMITER ';'",
            "GZIP",
            "ZSTD",
            "PARALLEL OFF",
            "ALLOWOVERWRITE",
            "PARTITION BY (s)",
            "MAXFILESIZE 5 MB",
            "MANIFEST",
            "NULL AS 'nil'",
            "ADDQUOTES",
            "ENCRYPTED",
            "BOGUS",
        ];
        let mut chosen = Vec::new();
        for _ in 0..self.rng.below(3) {
            chosen.push(*self.rng.pick(&options));
        }
        format!("UNLOAD ('SELECT * FROM {t} WHERE n > 0') TO '{dir}/' {}", chosen.join(" "))
    }

    /// DML with random expressions against a table the model does not track.
    fn scratch_dml(&mut self) -> String {
        let columns = ["a", "b", "c", "d"];
        match self.rng.below(8) {
            0 => "CREATE TABLE IF NOT EXISTS zscratch (a int, b varchar(5), c decimal(8,2), d timestamp)".into(),
            1 | 2 => format!(
                "INSERT INTO zscratch SELECT {}, {}, {}, {}",
                self.expr(1, &[]),
                self.expr(1, &[]),
                self.expr(1, &[]),
                self.expr(1, &[])
            ),
            3 => format!("UPDATE zscratch SET c = {} WHERE {}", self.expr(2, &columns), self.expr(2, &columns)),
            4 => format!("DELETE FROM zscratch WHERE {}", self.expr(2, &columns)),
            5 => format!(
                "MERGE INTO zscratch USING (SELECT {} AS a) s ON zscratch.a = s.a WHEN MATCHED AND {} THEN DELETE WHEN NOT MATCHED THEN INSERT (a) VALUES (s.a)",
                self.expr(1, &[]),
                self.expr(1, &["s.a", "zscratch.b"])
            ),
            6 => {
                let path = file_in(&self.files, "scratch.txt");
                let line = format!("{}|{}|{}|{}\n", self.rng.below(9), "abc", "1.5", "2024-01-01 00:00:00");
                std::fs::write(&path, line.repeat(1 + self.rng.below(3))).expect("a generated file");
                let options = [
                    "",
                    "CSV",
                    "DELIMITER '|'",
                    "IGNOREHEADER 1",
                    "NULL AS '\\\\N'",
                    "GZIP",
                    "MAXERROR 10",
                    "DATEFORMAT 'auto'",
                    "TIMEFORMAT 'YYYY-MM-DD HH:MI:SS'",
                    "FORMAT AS PARQUET",
                    "JSON 'auto'",
                    "ACCEPTINVCHARS",
                    "TRUNCATECOLUMNS",
                    "REMOVEQUOTES",
                    "ESCAPE",
                    "FILLRECORD",
                    "BLANKSASNULL",
                    "EMPTYASNULL",
                    "NOLOAD",
                    "MANIFEST",
                    "ZSTD",
                    "ACCEPTANYDATE",
                    "TRIMBLANKS",
                    "COMPUPDATE OFF",
                    "FROBNICATE",
                ];
                let mut chosen = Vec::new();
                for _ in 0..self.rng.below(4) {
                    chosen.push(*self.rng.pick(&options));
                }
                format!("COPY zscratch FROM '{path}' {}", chosen.join(" "))
            }
            _ => format!(
                "UPDATE zscratch SET b = x.b FROM zscratch x WHERE zscratch.a = x.a AND {}",
                self.expr(1, &["x.c"])
            ),
        }
    }

    fn other(&mut self, tables: &[String]) -> String {
        let t = self.rng.pick(tables).clone();
        match self.rng.below(16) {
            12..=15 => self.lake(),
            0 => format!("CREATE OR REPLACE VIEW v_{t} AS SELECT id, {} FROM {t}", self.expr(1, &["id", "s", "n"])),
            1 => format!("SELECT * FROM v_{t}"),
            2 => format!("EXPLAIN SELECT * FROM {t} WHERE id = 1"),
            3 => "SET datafusion.execution.batch_size = 128".into(),
            4 => "SHOW datafusion.execution.target_partitions".into(),
            5 => "VACUUM".into(),
            6 => format!("COMMENT ON TABLE {t} IS 'fuzzed'"),
            7 => format!("SELECT * FROM svv_table_info WHERE \"table\" = '{t}'"),
            8 => "SELECT count(*) FROM stl_load_errors".into(),
            9 => format!("ALTER TABLE {t} RENAME TO {t}"),
            10 => "SHOW TABLES".into(),
            _ => format!("EXPLAIN ANALYZE SELECT count(*) FROM {t}"),
        }
    }

    /// Lake DDL and reads over the generated files (in schema `lake`; never a tracked table).
    fn lake(&mut self) -> String {
        let files = self.files.display().to_string();
        let formats = [
            "ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE",
            "STORED AS PARQUET",
            "STORED AS JSON",
            "ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' NULL DEFINED AS '' STORED AS TEXTFILE",
            "STORED AS ORC",
        ];
        let properties = ["", "TABLE PROPERTIES ('skip.header.line.count'='1')", "TBLPROPERTIES ('numRows'='x')"];
        let n = self.rng.below(4);
        match self.rng.below(8) {
            0 => "CREATE EXTERNAL SCHEMA IF NOT EXISTS lake FROM DATA CATALOG DATABASE 'lakedb' IAM_ROLE 'arn:aws:iam::1:role/r' CREATE EXTERNAL DATABASE IF NOT EXISTS".into(),
            1 | 2 => format!(
                "CREATE EXTERNAL TABLE lake.x{n} (id int, s varchar(8), n bigint) {} LOCATION '{files}/' {}",
                self.rng.pick(&formats),
                self.rng.pick(&properties)
            ),
            3 => format!(
                "CREATE EXTERNAL TABLE lake.p{n} (id int, s varchar(8)) PARTITIONED BY (n bigint) STORED AS PARQUET LOCATION '{files}/'"
            ),
            4 => format!("ALTER TABLE lake.p{n} ADD IF NOT EXISTS PARTITION (n={}) LOCATION '{files}/'", self.rng.below(3)),
            5 => format!("MSCK REPAIR TABLE lake.p{n}"),
            6 => format!("DROP TABLE lake.x{n}"),
            _ => format!("SELECT count(*), max(\"$path\") FROM lake.x{n} WHERE {}", self.expr(1, &["id", "s", "n"])),
        }
    }

    /// Broken SQL: token soup, a statement cut short, stray bytes.
    fn garbage(&mut self, tables: &[String]) -> String {
        let words = [
            "SELECT",
            "FROM",
            "WHERE",
            "(",
            ")",
            ",",
            "'",
            "\"",
            "--",
            "/*",
            "*/",
            "1",
            "NULL",
            "CASE",
            "::",
            "OVER",
            "PARTITION",
            "BY",
            "MERGE",
            "INTO",
            "USING",
            "WHEN",
            "COPY",
            "UNLOAD",
            "\u{0}",
            "é",
            "$$",
            "[",
            "]",
            "{",
            "}",
            "@",
            "#",
            "|/",
            "^",
            "APPROXIMATE",
            "WITHIN",
            "GROUP",
            "REMOVE",
            "DUPLICATES",
        ];
        match self.rng.below(3) {
            0 => (0..1 + self.rng.below(12)).map(|_| *self.rng.pick(&words)).collect::<Vec<_>>().join(" "),
            1 => {
                let full = self.query(tables);
                let cut = self.rng.below(full.len());
                full.chars().take(cut).collect()
            }
            _ => {
                let mut text = self.query(tables);
                let at = self.rng.below(text.len());
                let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                let word = words[self.rng.below(words.len())];
                text.insert_str(at, word);
                text
            }
        }
    }
}
