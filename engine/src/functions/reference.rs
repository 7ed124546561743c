//! Redshift's SQL function reference, chapter by chapter, with what tarn does with each entry.
//! The README's function table is this list (a test keeps the two equal), and the SQL rewrite
//! refuses the entries marked [`Status::NotSupported`] with their reason.

/// What tarn does with a function of Redshift's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Works as Redshift documents it.
    Supported,
    /// Refused with `not supported yet: ...` and this reason.
    NotSupported(&'static str),
}

/// One entry: chapter, the names it goes by, status.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub chapter: &'static str,
    pub names: &'static [&'static str],
    pub status: Status,
}

const fn ok(chapter: &'static str, names: &'static [&'static str]) -> Entry {
    Entry { chapter, names, status: Status::Supported }
}

const fn no(chapter: &'static str, names: &'static [&'static str], why: &'static str) -> Entry {
    Entry { chapter, names, status: Status::NotSupported(why) }
}

const DATE: &str = "Date and time";
const FORMAT: &str = "Data type formatting";
const STRING: &str = "String";
const PATTERN: &str = "Pattern matching";
const MATH: &str = "Math";
const AGGREGATE: &str = "Aggregate";
const WINDOW: &str = "Window";
const CONDITIONAL: &str = "Conditional";
const JSON: &str = "JSON";
const HASH: &str = "Hash";

const SUPER: &str = "the SUPER type";
const CLUSTER: &str = "it needs a Redshift cluster";

pub const REFERENCE: &[Entry] = &[
    // Date and time.
    ok(DATE, &["date + time"]),
    ok(DATE, &["add_months"]),
    ok(DATE, &["at time zone"]),
    ok(DATE, &["convert_timezone"]),
    ok(DATE, &["current_date"]),
    ok(DATE, &["date_cmp", "date_cmp_timestamp", "date_cmp_timestamptz"]),
    ok(DATE, &["timestamp_cmp", "timestamp_cmp_date", "timestamp_cmp_timestamptz"]),
    ok(DATE, &["timestamptz_cmp", "timestamptz_cmp_date", "timestamptz_cmp_timestamp"]),
    ok(DATE, &["dateadd", "date_add"]),
    ok(DATE, &["datediff", "date_diff"]),
    ok(DATE, &["date_part", "pgdate_part"]),
    ok(DATE, &["date_part_year"]),
    ok(DATE, &["date_trunc"]),
    ok(DATE, &["extract"]),
    ok(DATE, &["getdate"]),
    ok(DATE, &["interval_cmp"]),
    ok(DATE, &["last_day"]),
    ok(DATE, &["months_between"]),
    ok(DATE, &["next_day"]),
    ok(DATE, &["sysdate"]),
    ok(DATE, &["timeofday"]),
    ok(DATE, &["timezone"]),
    ok(DATE, &["to_timestamp"]),
    ok(DATE, &["trunc"]),
    ok(DATE, &["interval arithmetic"]),
    ok(DATE, &["now", "current_timestamp"]),
    no(DATE, &["age"], "deprecated leader-node function; use DATEDIFF"),
    no(DATE, &["isfinite"], "deprecated leader-node function"),
    // Data type formatting.
    ok(FORMAT, &["cast", "::"]),
    ok(FORMAT, &["convert"]),
    ok(FORMAT, &["to_char"]),
    ok(FORMAT, &["to_date"]),
    ok(FORMAT, &["to_number"]),
    ok(FORMAT, &["text_to_int_alt"]),
    ok(FORMAT, &["text_to_numeric_alt"]),
    // String.
    ok(STRING, &["||"]),
    ok(STRING, &["ascii"]),
    ok(STRING, &["bpcharcmp", "bttext_pattern_cmp"]),
    ok(STRING, &["btrim"]),
    ok(STRING, &["char_length", "character_length", "length", "textlen", "len"]),
    ok(STRING, &["charindex"]),
    ok(STRING, &["chr"]),
    no(STRING, &["collate"], "collations (comparisons are case-sensitive; use lower() or ILIKE)"),
    ok(STRING, &["concat"]),
    ok(STRING, &["crc32"]),
    ok(STRING, &["difference"]),
    ok(STRING, &["initcap"]),
    ok(STRING, &["left", "right"]),
    ok(STRING, &["lower", "upper"]),
    ok(STRING, &["lpad", "rpad"]),
    ok(STRING, &["ltrim", "rtrim"]),
    ok(STRING, &["octetindex"]),
    ok(STRING, &["octet_length"]),
    ok(STRING, &["position"]),
    ok(STRING, &["quote_ident"]),
    ok(STRING, &["quote_literal"]),
    ok(STRING, &["regexp_count"]),
    ok(STRING, &["regexp_instr"]),
    ok(STRING, &["regexp_replace"]),
    ok(STRING, &["regexp_substr"]),
    ok(STRING, &["repeat", "replicate"]),
    ok(STRING, &["replace"]),
    ok(STRING, &["reverse"]),
    ok(STRING, &["soundex"]),
    ok(STRING, &["split_part"]),
    ok(STRING, &["strpos"]),
    ok(STRING, &["strtol"]),
    ok(STRING, &["substring", "substr"]),
    ok(STRING, &["translate"]),
    ok(STRING, &["trim"]),
    // Pattern matching.
    ok(PATTERN, &["like", "ilike", "~~", "~~*"]),
    ok(PATTERN, &["similar to"]),
    ok(PATTERN, &["~", "!~", "~*", "!~*"]),
    // Math.
    ok(MATH, &["+", "-", "*", "/", "%", "^", "|/", "||/", "@", "<<", ">>", "&", "|", "#"]),
    ok(MATH, &["abs"]),
    ok(MATH, &["acos", "asin", "atan", "atan2", "cos", "cot", "sin", "tan"]),
    ok(MATH, &["cbrt"]),
    ok(MATH, &["ceil", "ceiling", "floor"]),
    ok(MATH, &["degrees", "radians"]),
    ok(MATH, &["dexp", "exp"]),
    ok(MATH, &["dlog1", "ln"]),
    ok(MATH, &["dlog10", "log"]),
    ok(MATH, &["mod"]),
    ok(MATH, &["pi"]),
    ok(MATH, &["power", "pow"]),
    ok(MATH, &["random"]),
    ok(MATH, &["round"]),
    ok(MATH, &["sign"]),
    ok(MATH, &["sqrt"]),
    ok(MATH, &["trunc"]),
    // Aggregate.
    ok(AGGREGATE, &["any_value"]),
    ok(AGGREGATE, &["approximate percentile_disc"]),
    ok(AGGREGATE, &["avg"]),
    ok(AGGREGATE, &["count"]),
    ok(AGGREGATE, &["approximate count(distinct)"]),
    ok(AGGREGATE, &["listagg"]),
    ok(AGGREGATE, &["max", "min"]),
    ok(AGGREGATE, &["median"]),
    ok(AGGREGATE, &["percentile_cont"]),
    ok(AGGREGATE, &["percentile_disc"]),
    ok(AGGREGATE, &["stddev_samp", "stddev", "stddev_pop"]),
    ok(AGGREGATE, &["sum"]),
    ok(AGGREGATE, &["var_samp", "variance", "var_pop"]),
    ok(AGGREGATE, &["bit_and", "bit_or"]),
    ok(AGGREGATE, &["bool_and", "bool_or"]),
    // Window.
    ok(WINDOW, &["avg", "count", "max", "min", "sum", "stddev_samp", "stddev_pop", "var_samp", "var_pop"]),
    ok(WINDOW, &["cume_dist"]),
    ok(WINDOW, &["dense_rank", "rank"]),
    ok(WINDOW, &["first_value", "last_value"]),
    ok(WINDOW, &["lag", "lead"]),
    ok(WINDOW, &["listagg"]),
    ok(WINDOW, &["median"]),
    ok(WINDOW, &["nth_value"]),
    ok(WINDOW, &["ntile"]),
    ok(WINDOW, &["percent_rank"]),
    ok(WINDOW, &["percentile_cont", "percentile_disc"]),
    ok(WINDOW, &["ratio_to_report"]),
    ok(WINDOW, &["row_number"]),
    // Conditional.
    ok(CONDITIONAL, &["case"]),
    ok(CONDITIONAL, &["coalesce", "nvl"]),
    ok(CONDITIONAL, &["decode"]),
    ok(CONDITIONAL, &["greatest", "least"]),
    ok(CONDITIONAL, &["nvl2"]),
    ok(CONDITIONAL, &["nullif"]),
    // JSON.
    ok(JSON, &["is_valid_json"]),
    ok(JSON, &["is_valid_json_array"]),
    ok(JSON, &["json_array_length"]),
    ok(JSON, &["json_extract_array_element_text"]),
    ok(JSON, &["json_extract_path_text"]),
    ok(JSON, &["can_json_parse"]),
    no(JSON, &["json_parse"], SUPER),
    no(JSON, &["json_serialize"], SUPER),
    no(JSON, &["json_serialize_to_varbyte"], SUPER),
    // Hash.
    no(HASH, &["checksum"], "Redshift does not document its algorithm"),
    ok(HASH, &["crc32"]),
    ok(HASH, &["farmfingerprint64"]),
    ok(HASH, &["fnv_hash"]),
    ok(HASH, &["md5"]),
    ok(HASH, &["sha1", "sha", "func_sha1"]),
    ok(HASH, &["sha2"]),
    ok(HASH, &["murmur3_32_hash"]),
    // Cluster-only functions of other chapters, named here so that they fail clearly.
    no("System", &["slice_num"], CLUSTER),
    no("System", &["current_aws_account", "current_namespace", "default_iam_role"], CLUSTER),
    no("System", &["has_assumerole_privilege", "pg_get_grantee_by_iam_role", "pg_get_iam_role_by_user"], CLUSTER),
];

/// Why a function is refused, if the reference marks it so.
pub fn not_supported(name: &str) -> Option<&'static str> {
    REFERENCE.iter().find_map(|e| match e.status {
        Status::NotSupported(why) if e.names.contains(&name) => Some(why),
        _ => None,
    })
}

/// The README's table: one row per entry.
pub fn markdown_table() -> String {
    let mut out = String::from("| Chapter | Function | Status |\n|---|---|---|\n");
    for entry in REFERENCE {
        let names = entry.names.iter().map(|n| format!("`{}`", n.replace('|', "\\|"))).collect::<Vec<_>>().join(", ");
        let status = match entry.status {
            Status::Supported => "supported".to_string(),
            Status::NotSupported(why) => format!("not supported yet: {why}"),
        };
        out.push_str(&format!("| {} | {names} | {status} |\n", entry.chapter));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table is this list.
    #[test]
    fn readme_lists_every_function() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let start = readme.find("<!-- functions table").expect("the README has the functions table");
        let body_start = readme[start..].find('\n').map(|n| start + n + 1).unwrap();
        let end = readme.find("<!-- end of functions table -->").expect("the table ends");
        let table = markdown_table();
        assert_eq!(&readme[body_start..end], table, "README.md's function table differs; it should be:\n{table}");
    }
}
