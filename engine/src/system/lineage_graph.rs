//! The lineage of one object as a graph: its upstream (what it is built from, transitively)
//! and downstream (what is built from it), drawn as a tree for the REPL's `\lineage`, or as
//! Graphviz DOT, Mermaid or JSON for `tarn lineage`. Objects are followed by catalog id, so a
//! renamed table shows its new name with its whole history; a dropped one shows the name it had,
//! marked dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use tarn_catalog::{CatalogState, LineageKind, LineageObject, LineageRecord};

use crate::error::{Error, Result};
use crate::session::{Session, SessionShared};

/// Which side of an object to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineageDirection {
    /// What the object is built from.
    Up,
    /// What is built from the object.
    Down,
    Both,
}

impl std::str::FromStr for LineageDirection {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "up" | "upstream" => Ok(LineageDirection::Up),
            "down" | "downstream" => Ok(LineageDirection::Down),
            "both" => Ok(LineageDirection::Both),
            other => Err(Error::Invalid(format!("lineage direction '{other}' (up, down or both)"))),
        }
    }
}

/// An object of a lineage graph.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineageNode {
    /// `schema.name` now (the last recorded name if dropped), or a path.
    pub name: String,
    /// `table`, `view`, `external table` or `file`.
    pub kind: String,
    /// The table's or view's comment (`COMMENT ON`).
    pub comment: Option<String>,
    pub dropped: bool,
}

/// `source` was used to build `target`: by the latest of `count` statements.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineageEdge {
    pub source: usize,
    pub target: usize,
    pub statement: String,
    pub user: String,
    pub time: String,
    pub snapshot: i64,
    pub count: usize,
    pub query: String,
}

/// The objects around one object, and the statements that connect them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineageGraph {
    /// Index of the object asked about in `nodes`.
    pub root: usize,
    #[serde(serialize_with = "direction_name")]
    pub direction: LineageDirection,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
}

fn direction_name<S: serde::Serializer>(d: &LineageDirection, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(match d {
        LineageDirection::Up => "up",
        LineageDirection::Down => "down",
        LineageDirection::Both => "both",
    })
}

/// How the graph tells objects apart: by catalog id where they have one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Id(i64),
    Named(LineageKind, String),
}

fn key(object: &LineageObject) -> Key {
    match object.id {
        Some(id) => Key::Id(id),
        None => Key::Named(object.kind, object.name.clone()),
    }
}

/// The lineage records the session's user may see: superusers all; others those of their own
/// statements and those whose target they may see (in `state`, the catalog as they see it).
pub(crate) fn visible_records(shared: &SessionShared, state: &CatalogState) -> Result<Vec<LineageRecord>> {
    let records = shared.engine.store.lineage()?;
    let access = shared.engine.access_state()?;
    if shared.is_superuser(&access) {
        return Ok(records);
    }
    let user = shared.user.read().clone();
    Ok(records
        .into_iter()
        .filter(|r| r.userid == user || r.target.id.is_some_and(|id| current(state, id).is_some()))
        .collect())
}

/// The name and comment of the table or view `id` in `state`.
pub(crate) fn current(state: &CatalogState, id: i64) -> Option<(String, Option<String>)> {
    if let Some(t) = state.tables.get(&id) {
        return Some((format!("{}.{}", state.schema_name(t.schema_id), t.name), t.comment.clone()));
    }
    state.views.get(&id).map(|v| (format!("{}.{}", state.schema_name(v.schema_id), v.name), v.comment.clone()))
}

impl Session {
    /// The lineage of `name` (a table, view, external table, or a file path or prefix as
    /// COPY, UNLOAD or a query named it), following `direction`.
    pub fn lineage(&self, name: &str, direction: LineageDirection) -> Result<LineageGraph> {
        let state = super::visible_state(&self.shared)?;
        let records = visible_records(&self.shared, &state)?;
        let root = self.lineage_root(name, &records, &state)?;

        // One edge per (source, target): the latest statement, and how many there were.
        let mut edges: BTreeMap<(Key, Key), (usize, &LineageRecord)> = BTreeMap::new();
        let mut names: HashMap<Key, &LineageObject> = HashMap::new();
        for record in &records {
            names.insert(key(&record.target), &record.target);
            for source in &record.sources {
                names.insert(key(source), source);
                let entry = edges.entry((key(source), key(&record.target))).or_insert((0, record));
                entry.0 += 1;
                entry.1 = record;
            }
        }
        // Each object's edges, by the end they are followed from.
        let mut by_target: HashMap<&Key, Vec<&(Key, Key)>> = HashMap::new();
        let mut by_source: HashMap<&Key, Vec<&(Key, Key)>> = HashMap::new();
        for edge in edges.keys() {
            by_target.entry(&edge.1).or_default().push(edge);
            by_source.entry(&edge.0).or_default().push(edge);
        }
        let mut reached: BTreeSet<(Key, Key)> = BTreeSet::new();
        for up in [true, false] {
            if (up && direction == LineageDirection::Down) || (!up && direction == LineageDirection::Up) {
                continue;
            }
            let adjacent = if up { &by_target } else { &by_source };
            let mut seen = BTreeSet::from([root.clone()]);
            let mut todo = vec![root.clone()];
            while let Some(node) = todo.pop() {
                for edge in adjacent.get(&node).into_iter().flatten() {
                    reached.insert((*edge).clone());
                    let next = if up { &edge.0 } else { &edge.1 };
                    if seen.insert(next.clone()) {
                        todo.push(next.clone());
                    }
                }
            }
        }

        let mut index: BTreeMap<Key, usize> = BTreeMap::new();
        let mut nodes = Vec::new();
        let mut node = |k: &Key| -> usize {
            *index.entry(k.clone()).or_insert_with(|| {
                let recorded = names.get(k);
                let kind = recorded.map_or(LineageKind::Table, |o| o.kind);
                let (name, comment, dropped) = match k {
                    Key::Id(id) => match current(&state, *id) {
                        Some((name, comment)) => (name, comment, false),
                        None => (recorded.map_or_else(|| id.to_string(), |o| o.name.clone()), None, true),
                    },
                    Key::Named(_, name) => (name.clone(), None, false),
                };
                let kind = match (k, &state.views) {
                    (Key::Id(id), views) if views.contains_key(id) => LineageKind::View,
                    (Key::Id(id), _) if state.tables.contains_key(id) => LineageKind::Table,
                    _ => kind,
                };
                nodes.push(LineageNode { name, kind: kind.as_str().to_string(), comment, dropped });
                nodes.len() - 1
            })
        };
        let root_index = node(&root);
        let edges = reached
            .iter()
            .map(|(source, target)| {
                let (count, record) = edges[&(source.clone(), target.clone())];
                LineageEdge {
                    source: node(source),
                    target: node(target),
                    statement: record.statement.clone(),
                    user: record.userid.clone(),
                    time: record.time.clone(),
                    snapshot: record.snapshot,
                    count,
                    query: record.querytxt.clone(),
                }
            })
            .collect();
        Ok(LineageGraph { root: root_index, direction, nodes, edges })
    }

    /// The object `name` names: a relation of the catalog now, an external table, or an object
    /// lineage has recorded under that name (a dropped table, a file).
    fn lineage_root(&self, name: &str, records: &[LineageRecord], state: &CatalogState) -> Result<Key> {
        let trimmed = name.trim();
        let looks_like_path = trimmed.contains('/') || trimmed.contains("://");
        let mut qualified = None;
        if !looks_like_path && let Ok(object) = crate::sql::parser::parse_object_name(trimmed) {
            let (schema, table) = self.resolve_name(&object)?;
            if let Ok(schema_def) = state.schema(&schema)
                && let Some(relation) = state.relation(schema_def.id, &table)
            {
                return Ok(Key::Id(relation.id()));
            }
            qualified = Some(format!("{schema}.{table}"));
        }
        let wanted = qualified.as_deref().unwrap_or(trimmed);
        // The newest record naming it wins (a name reused after a drop is the newer object).
        let recorded = records.iter().rev().flat_map(|r| std::iter::once(&r.target).chain(&r.sources)).find(|o| {
            o.name == wanted
                || (o.kind == LineageKind::File && o.name.trim_end_matches('/') == wanted.trim_end_matches('/'))
        });
        if let Some(object) = recorded {
            return Ok(key(object));
        }
        let lake = self.shared.lake_state()?;
        if let Some(q) = &qualified
            && let Some((schema, table)) = q.split_once('.')
            && lake.schema(schema).is_some_and(|s| lake.table(&s.database, table).is_some())
        {
            return Ok(Key::Named(LineageKind::ExternalTable, q.clone()));
        }
        Err(Error::Invalid(format!(
            "\"{trimmed}\" is not a table, view or external table, nor a file any recorded statement read or wrote"
        )))
    }
}

/// `2026-12-01T02:03:04.123456Z` → `2026-12-01 02:03:04`.
fn short_time(time: &str) -> String {
    time.get(..19).map_or_else(|| time.to_string(), |t| t.replace('T', " "))
}

impl LineageGraph {
    fn label(&self, node: usize) -> String {
        let n = &self.nodes[node];
        let mut label = format!("{} ({}{})", n.name, n.kind, if n.dropped { ", dropped" } else { "" });
        if let Some(comment) = &n.comment {
            let _ = write!(label, " -- {comment}");
        }
        label
    }

    /// The graph as indented trees: what the object is built from, and what is built from it.
    pub fn to_tree(&self) -> String {
        let mut out = self.label(self.root) + "\n";
        let sides: &[(bool, &str)] = match self.direction {
            LineageDirection::Up => &[(true, "built from")],
            LineageDirection::Down => &[(false, "used by")],
            LineageDirection::Both => &[(true, "built from"), (false, "used by")],
        };
        for (up, title) in sides {
            let _ = writeln!(out, "{title}:");
            let before = out.len();
            // Each object's edges on this side, nearest names first.
            let mut children: HashMap<usize, Vec<&LineageEdge>> = HashMap::new();
            for edge in &self.edges {
                children.entry(if *up { edge.target } else { edge.source }).or_default().push(edge);
            }
            let far = |e: &LineageEdge| if *up { e.source } else { e.target };
            for list in children.values_mut() {
                list.sort_by(|a, b| self.nodes[far(a)].name.cmp(&self.nodes[far(b)].name));
            }
            let tree = Tree { graph: self, children: &children, up: *up };
            tree.draw(self.root, "", &mut vec![self.root], &mut BTreeSet::new(), &mut out);
            if out.len() == before {
                out.push_str("    (nothing recorded)\n");
            }
        }
        out
    }

    /// Graphviz DOT: `dot -Tsvg` draws it.
    pub fn to_dot(&self) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"));
        let mut out = String::from("digraph lineage {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let mut label = format!("{}\n{}{}", n.name, n.kind, if n.dropped { ", dropped" } else { "" });
            if let Some(comment) = &n.comment {
                label = format!("{label}\n{comment}");
            }
            let shape = match n.kind.as_str() {
                "view" => "ellipse",
                "external table" => "folder",
                "file" => "note",
                _ => "box",
            };
            let style = match (i == self.root, n.dropped) {
                (true, _) => ", style=bold",
                (false, true) => ", style=dashed",
                _ => "",
            };
            let _ = writeln!(out, "    n{i} [label={}, shape={shape}{style}];", quote(&label));
        }
        for e in &self.edges {
            let _ = writeln!(out, "    n{} -> n{} [label={}];", e.source, e.target, quote(&edge_label(e)));
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let text = |s: &str| {
            s.replace('&', "#amp;")
                .replace('"', "#quot;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
                .replace('|', "#124;")
        };
        let mut out = String::from("flowchart LR\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let mut label = format!("{}<br/>{}{}", text(&n.name), n.kind, if n.dropped { ", dropped" } else { "" });
            if let Some(comment) = &n.comment {
                let _ = write!(label, "<br/><i>{}</i>", text(comment));
            }
            let (open, close) = match n.kind.as_str() {
                "view" => ("([", "])"),
                "file" => ("[/", "/]"),
                _ => ("[", "]"),
            };
            let _ = writeln!(out, "    n{i}{open}\"{label}\"{close}");
        }
        for e in &self.edges {
            let _ = writeln!(out, "    n{} -->|{}| n{}", e.source, text(&edge_label(e)), e.target);
        }
        let _ = writeln!(out, "    style n{} stroke-width:3px", self.root);
        out
    }

    /// The graph as JSON: `root`, `direction`, `nodes` and `edges` (by node index).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// One side of a graph drawn as a tree (see [`LineageGraph::to_tree`]).
struct Tree<'a> {
    graph: &'a LineageGraph,
    /// Each object's edges on this side, in drawing order.
    children: &'a HashMap<usize, Vec<&'a LineageEdge>>,
    /// Towards sources (else towards what is built from the object).
    up: bool,
}

impl Tree<'_> {
    fn draw(&self, node: usize, prefix: &str, path: &mut Vec<usize>, expanded: &mut BTreeSet<usize>, out: &mut String) {
        let children = self.children.get(&node).map(Vec::as_slice).unwrap_or_default();
        for (i, edge) in children.iter().enumerate() {
            let child = if self.up { edge.source } else { edge.target };
            let last = i + 1 == children.len();
            let times = if edge.count > 1 { format!(", {} statements", edge.count) } else { String::new() };
            let _ = write!(
                out,
                "{prefix}{}{}  [{} by {} at {}{times}]",
                if last { "└── " } else { "├── " },
                self.graph.label(child),
                edge.statement,
                edge.user,
                short_time(&edge.time)
            );
            let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
            if path.contains(&child) {
                out.push_str(" (cycle)\n");
            } else if !expanded.insert(child) && self.children.contains_key(&child) {
                out.push_str(" (see above)\n");
            } else {
                out.push('\n');
                path.push(child);
                self.draw(child, &deeper, path, expanded, out);
                path.pop();
            }
        }
    }
}

fn edge_label(edge: &LineageEdge) -> String {
    match edge.count {
        1 => edge.statement.clone(),
        n => format!("{} (x{n})", edge.statement),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(usize, usize, &str)], names: &[&str], direction: LineageDirection) -> LineageGraph {
        LineageGraph {
            root: 0,
            direction,
            nodes: names
                .iter()
                .map(|n| LineageNode { name: n.to_string(), kind: "table".into(), comment: None, dropped: false })
                .collect(),
            edges: edges
                .iter()
                .map(|(source, target, statement)| LineageEdge {
                    source: *source,
                    target: *target,
                    statement: statement.to_string(),
                    user: "ann".into(),
                    time: "2026-12-01T02:03:04.123456Z".into(),
                    snapshot: 1,
                    count: 1,
                    query: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn trees_stop_at_cycles_and_draw_shared_subtrees_once() {
        // a <- b <- a (a cycle), a <- c <- d and b <- c (c shared).
        let g = graph(
            &[(1, 0, "INSERT"), (0, 1, "INSERT"), (2, 0, "CREATE TABLE AS"), (3, 2, "COPY"), (2, 1, "INSERT")],
            &["a", "b", "c", "d"],
            LineageDirection::Up,
        );
        let tree = g.to_tree();
        let lines: Vec<&str> = tree.lines().map(|l| l.split("  [").next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "a (table)",
                "built from:",
                "├── b (table)",
                "│   ├── a (table)",
                "│   └── c (table)",
                "│       └── d (table)",
                "└── c (table)",
            ],
            "{tree}"
        );
        assert!(tree.contains("│   ├── a (table)  [INSERT by ann at 2026-12-01 02:03:04] (cycle)"), "{tree}");
        assert!(
            tree.ends_with("└── c (table)  [CREATE TABLE AS by ann at 2026-12-01 02:03:04] (see above)\n"),
            "{tree}"
        );
    }

    #[test]
    fn labels_are_escaped_for_dot_and_mermaid() {
        let mut g = graph(&[(1, 0, "COPY")], &["t", "s3://b/\"odd\"|name"], LineageDirection::Both);
        g.nodes[0].comment = Some("say \"hi\" <b>".into());
        let dot = g.to_dot();
        assert!(dot.contains(r#"n1 [label="s3://b/\"odd\"|name\ntable", shape=box];"#), "{dot}");
        assert!(dot.contains(r#"n0 [label="t\ntable\nsay \"hi\" <b>", shape=box, style=bold];"#), "{dot}");
        let mermaid = g.to_mermaid();
        assert!(mermaid.contains("n1[\"s3://b/#quot;odd#quot;#124;name<br/>table\"]"), "{mermaid}");
        assert!(mermaid.contains("<i>say #quot;hi#quot; #lt;b#gt;</i>"), "{mermaid}");
        assert!(g.to_tree().contains("used by:\n    (nothing recorded)\n"));
    }
}
