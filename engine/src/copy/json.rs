//! COPY from JSON. Every top-level value of a file is a record. `JSON 'auto'` matches object
//! keys to column names (case-sensitively: Redshift's column names are lower case),
//! `JSON 'auto ignorecase'` ignores case, and a JSONPaths file (`{"jsonpaths": ["$.a",
//! "$['b'][0]"]}`) names one element per loaded column, in order. Elements convert with the
//! text rules (a nested object or array loads as its JSON text); a missing key or `null` is NULL.

use std::io::Read;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use memchr::memchr_iter;
use serde_json::Value as Json;

use super::text::{Builders, Rejection};
use super::{Job, Sender, decompressing};
use crate::error::{Error, Result};
use crate::storage::{Location, S3Overrides, Stores};

/// How a JSON record's elements map to the loaded columns.
#[derive(Debug)]
pub(super) enum JsonMapping {
    Auto { ignore_case: bool },
    Paths(Vec<JsonPath>),
}

impl JsonMapping {
    /// The mapping `JSON 'spec'` names, reading a JSONPaths file; `columns` is the number of
    /// columns loaded.
    pub async fn new(spec: Option<&str>, columns: usize, stores: &Stores, overrides: &S3Overrides) -> Result<Self> {
        let spec = spec.map(str::trim).unwrap_or("auto");
        if spec.eq_ignore_ascii_case("auto") {
            return Ok(JsonMapping::Auto { ignore_case: false });
        }
        if spec.eq_ignore_ascii_case("auto ignorecase") {
            return Ok(JsonMapping::Auto { ignore_case: true });
        }
        let text = stores.read_to_string(&Location::parse(spec)?, overrides).await?;
        let invalid = |why: String| Error::Invalid(format!("JSONPaths file {spec}: {why}"));
        let json: Json = serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        let paths = json["jsonpaths"].as_array().ok_or_else(|| invalid("no \"jsonpaths\" array".into()))?;
        let paths = paths
            .iter()
            .map(|p| {
                let p = p.as_str().ok_or_else(|| invalid(format!("{p} is not a string")))?;
                JsonPath::parse(p).map_err(invalid)
            })
            .collect::<Result<Vec<_>>>()?;
        if paths.len() != columns {
            return Err(invalid(format!("it has {} paths but COPY loads {columns} columns", paths.len())));
        }
        Ok(JsonMapping::Paths(paths))
    }

    /// The text of each loaded column's element in `record` (`None`: NULL).
    fn fields(&self, record: &Json, names: &[&str]) -> std::result::Result<Vec<Option<String>>, Rejection> {
        match self {
            JsonMapping::Paths(paths) => Ok(paths.iter().map(|p| p.find(record).and_then(element_text)).collect()),
            JsonMapping::Auto { ignore_case } => {
                let Json::Object(object) = record else {
                    return Err(Rejection::new(
                        1216,
                        "Invalid JSON record: JSON 'auto' loads objects, found another value",
                    ));
                };
                Ok(names
                    .iter()
                    .map(|name| {
                        let element = match object.get(*name) {
                            Some(element) => Some(element),
                            None if *ignore_case => {
                                object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v)
                            }
                            None => None,
                        };
                        element.and_then(element_text)
                    })
                    .collect())
            }
        }
    }
}

/// An element's text as COPY converts it.
fn element_text(element: &Json) -> Option<String> {
    match element {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A JSONPath expression of the form Redshift accepts: `$` followed by `.key`, `['key']` or
/// `[index]` steps.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JsonPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

impl JsonPath {
    pub fn parse(text: &str) -> std::result::Result<JsonPath, String> {
        let invalid = |why: &str| format!("invalid JSONPath {text:?}: {why}");
        let mut rest = text.trim().strip_prefix('$').ok_or_else(|| invalid("it must start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                if end == 0 {
                    return Err(invalid("a key is missing after ."));
                }
                steps.push(Step::Key(after[..end].to_string()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or_else(|| invalid("[ is not closed"))?;
                let inside = after[..close].trim();
                let quoted = ['\'', '"'].iter().find_map(|q| inside.strip_prefix(*q).and_then(|i| i.strip_suffix(*q)));
                steps.push(match quoted {
                    Some(key) => Step::Key(key.to_string()),
                    None => Step::Index(inside.parse().map_err(|_| invalid("[...] holds a quoted key or an index"))?),
                });
                rest = &after[close + 1..];
            } else {
                return Err(invalid("expected . or ["));
            }
        }
        Ok(JsonPath(steps))
    }

    fn find<'a>(&self, mut value: &'a Json) -> Option<&'a Json> {
        for step in &self.0 {
            value = match step {
                Step::Key(key) => value.as_object()?.get(key)?,
                Step::Index(index) => value.as_array()?.get(*index)?,
            };
        }
        Some(value)
    }
}

impl Job {
    /// Loads the files numbered `mine`, sending full batches to this worker's writer; returns
    /// the files read with their line counts. A file is read whole, then parsed record by record.
    pub(super) fn load_json(
        &self,
        files: &[Location],
        mine: &[usize],
        schema: &Arc<Schema>,
        sender: &Sender,
    ) -> Result<Vec<(usize, u64)>> {
        let mapping = self.json.as_ref().expect("JSON input has a mapping");
        let names: Vec<&str> = self.targets.iter().map(|&t| self.table.columns[t].name.as_str()).collect();
        let mut builders = Builders::new(&self.table.columns);
        let mut read = Vec::new();
        'files: for &index in mine {
            if self.failing() || sender.is_closed() {
                break;
            }
            let file = &files[index];
            let mut bytes = Vec::new();
            decompressing(self.open(file)?, file, self.options.compression)?
                .read_to_end(&mut bytes)
                .map_err(|source| Error::Io { context: format!("reading {file}"), source })?;
            let lines =
                memchr_iter(b'\n', &bytes).count() as u64 + u64::from(bytes.last().is_some_and(|b| *b != b'\n'));
            let mut records = serde_json::Deserializer::from_slice(&bytes).into_iter::<Json>();
            let (mut line, mut counted) = (1, 0);
            loop {
                let start = records.byte_offset();
                let start = start + bytes[start..].iter().take_while(|b| b.is_ascii_whitespace()).count();
                line += memchr_iter(b'\n', &bytes[counted..start]).count() as u64;
                counted = start;
                let Some(record) = records.next() else { break };
                let end = records.byte_offset().max(start);
                let raw = || String::from_utf8_lossy(&bytes[start..end]).into_owned();
                let row_error = match record {
                    Ok(record) => {
                        let fields = mapping.fields(&record, &names);
                        let mut row = Vec::new();
                        let converted = fields
                            .as_ref()
                            .map_err(|r| self.load_error(line, &raw(), None, r.clone()))
                            .and_then(|fields| {
                                self.convert_fields(
                                    &mut row,
                                    |position| fields[position].as_deref(),
                                    |field, rejection| self.load_error(line, &raw(), Some(field), rejection),
                                )
                            });
                        match converted {
                            Ok(()) => {
                                builders.append(&row);
                                if builders.rows >= super::BATCH_ROWS && !self.send(&mut builders, schema, sender)? {
                                    return Ok(read);
                                }
                                continue;
                            }
                            Err(error) => error,
                        }
                    }
                    Err(e) => {
                        // Past a syntax error the records cannot be told apart: the rest of the
                        // file is not read.
                        let rest = &bytes[start..];
                        let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                        let raw = String::from_utf8_lossy(&rest[..line_end]);
                        let error =
                            self.load_error(line, &raw, None, Rejection::new(1216, format!("Invalid JSON: {e}")));
                        if !self.reject(index, file, error) {
                            break 'files;
                        }
                        read.push((index, lines));
                        continue 'files;
                    }
                };
                if !self.reject(index, file, row_error) {
                    break 'files;
                }
            }
            read.push((index, lines));
        }
        if builders.rows > 0 && !self.failing() {
            self.send(&mut builders, schema, sender)?;
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_parse_and_find() {
        let record: Json = serde_json::json!({"a": {"b c": [10, {"d": "x"}]}, "e": null});
        let find = |p: &str| JsonPath::parse(p).unwrap().find(&record).cloned();
        assert_eq!(find("$.a['b c'][0]"), Some(serde_json::json!(10)));
        assert_eq!(find("$[\"a\"][\"b c\"][1].d"), Some(serde_json::json!("x")));
        assert_eq!(find("$.e"), Some(Json::Null));
        assert_eq!(find("$.missing.x"), None);
        assert!(JsonPath::parse("a.b").unwrap_err().contains("must start with $"));
        assert!(JsonPath::parse("$.a[x]").unwrap_err().contains("quoted key or an index"));
    }

    #[test]
    fn auto_matches_keys_by_name() {
        let record = serde_json::json!({"ID": 1, "name": "x", "tags": ["a"], "ok": true});
        let names = ["id", "name", "tags", "ok"];
        let exact = JsonMapping::Auto { ignore_case: false }.fields(&record, &names).unwrap();
        assert_eq!(exact, [None, Some("x".into()), Some("[\"a\"]".into()), Some("true".into())]);
        let any_case = JsonMapping::Auto { ignore_case: true }.fields(&record, &names).unwrap();
        assert_eq!(any_case[0], Some("1".into()));
        let not_object = JsonMapping::Auto { ignore_case: false }.fields(&serde_json::json!([1]), &names);
        assert_eq!(not_object.unwrap_err().code, 1216);
    }
}
