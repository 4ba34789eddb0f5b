//! Paged counter listing and reset in SQLite, answered from an index.
//!
//! The listing order is (namespace, constraint, scope, kind, size) — the `UNIQUE` index of the
//! `counters` table. A page is one keyset query: strictly after the last position, `LIMIT n`.
//! Which index serves a filter:
//!
//! | filter | index | walk |
//! |---|---|---|
//! | `namespace` (+ `constraint` (+ `scope`)) | the unique index | that namespace (and constraint) only |
//! | `scope` (+ `namespace` or `constraint`) | `counters_by_scope (scope, namespace, constraint_id, kind, size_ms)` | that scope (and namespace) only |
//! | `constraint` alone, or nothing | the unique index | every counter, in order |
//!
//! Within one scope, the scope index's order is the listing order, so pages from either index
//! resume from the same kind of position.

use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Connection, StatementStatus};

use super::counters::window_cols;
use crate::store::{CounterFilter, CounterKey, CounterPosition};

/// A counter row: id, key, window kind and size, fixed window start, total.
pub type CounterRow = (i64, CounterKey, i64, i64, Option<i64>, String);

const COLS: &str = "id, namespace, constraint_id, scope, kind, size_ms, start_ms, total";

/// The SQL and parameters of one page of `filter` after `after`, at most `limit` rows.
pub fn page_query(
    filter: &CounterFilter,
    after: Option<&CounterPosition>,
    limit: usize,
) -> (String, Vec<Sql>) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Sql> = Vec::new();
    // Numbers each `?` of `sql` after the parameters bound so far.
    let mut bind = |conds: &mut Vec<String>, sql: &str, vals: Vec<Sql>| {
        let mut out = String::new();
        let mut vals = vals.into_iter();
        for (i, part) in sql.split('?').enumerate() {
            if i > 0 {
                if let Some(v) = vals.next() {
                    params.push(v);
                }
                out.push_str(&format!("?{}", params.len()));
            }
            out.push_str(part);
        }
        conds.push(out);
    };
    let text = |s: &str| Sql::Text(s.to_string());
    let by_scope = match (&filter.scope, &filter.namespace, &filter.constraint) {
        (Some(_), Some(_), Some(_)) | (None, _, _) => None,
        (Some(s), _, _) => Some(s),
    };
    if let Some(ns) = &filter.namespace {
        bind(&mut conds, "namespace = ?", vec![text(ns)]);
    }
    if let Some(c) = &filter.constraint {
        // On the scope index the constraint is a filter, not a search term: as an equality the
        // planner would no longer see the index order as the ORDER BY and would sort the scope's
        // rows (`+` makes it a plain expression).
        let cond = match by_scope {
            Some(_) => "+constraint_id = ?",
            None => "constraint_id = ?",
        };
        bind(&mut conds, cond, vec![text(c)]);
    }
    if let Some(s) = &filter.scope {
        bind(&mut conds, "scope = ?", vec![text(s)]);
    }
    let order = match by_scope {
        Some(scope) => {
            if let Some(a) = after {
                let (kind, size) = window_cols(a.window);
                let pair = vec![text(&a.key.namespace), text(&a.key.constraint)];
                // Strictly after `a` in listing order, for rows whose scope is `scope`: the scope
                // index's order is (namespace, constraint, kind, size) within it.
                match scope.as_str().cmp(&*a.key.scope) {
                    std::cmp::Ordering::Equal => bind(
                        &mut conds,
                        "(namespace, constraint_id, kind, size_ms) > (?, ?, ?, ?)",
                        vec![
                            text(&a.key.namespace),
                            text(&a.key.constraint),
                            Sql::Integer(kind),
                            Sql::Integer(size),
                        ],
                    ),
                    std::cmp::Ordering::Greater => {
                        bind(&mut conds, "(namespace, constraint_id) >= (?, ?)", pair)
                    }
                    std::cmp::Ordering::Less => {
                        bind(&mut conds, "(namespace, constraint_id) > (?, ?)", pair)
                    }
                }
            }
            "namespace, constraint_id, kind, size_ms"
        }
        None => {
            if let Some(a) = after {
                let (kind, size) = window_cols(a.window);
                bind(
                    &mut conds,
                    "(namespace, constraint_id, scope, kind, size_ms) > (?, ?, ?, ?, ?)",
                    vec![
                        text(&a.key.namespace),
                        text(&a.key.constraint),
                        text(&a.key.scope),
                        Sql::Integer(kind),
                        Sql::Integer(size),
                    ],
                );
            }
            "namespace, constraint_id, scope, kind, size_ms"
        }
    };
    // The scope index is named so a change of plan is an error, not a silent full scan; the
    // unique index serves the rest (checked by `EXPLAIN QUERY PLAN` in the tests).
    let index = match by_scope {
        Some(_) => " INDEXED BY counters_by_scope",
        None => "",
    };
    let wher = match conds.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", conds.join(" AND ")),
    };
    params.push(Sql::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT {COLS} FROM counters{index}{wher} ORDER BY {order} LIMIT ?{}",
        params.len()
    );
    (sql, params)
}

/// Runs a page query; returns its rows and the virtual machine steps it took (the work done:
/// a walk outside the filter's range would show as steps).
pub fn run_page(
    conn: &Connection,
    filter: &CounterFilter,
    after: Option<&CounterPosition>,
    limit: usize,
) -> rusqlite::Result<(Vec<CounterRow>, u64)> {
    let (sql, params) = page_query(filter, after, limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            Ok((
                r.get(0)?,
                CounterKey {
                    namespace: r.get(1)?,
                    constraint: r.get(2)?,
                    scope: r.get(3)?,
                },
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<CounterRow>>>()?;
    let steps = u64::try_from(stmt.reset_status(StatementStatus::VmStep)).unwrap_or(0);
    Ok((rows, steps))
}

/// `EXPLAIN QUERY PLAN` of the page query (its `detail` lines).
pub fn explain(
    conn: &Connection,
    filter: &CounterFilter,
    after: Option<&CounterPosition>,
) -> rusqlite::Result<Vec<String>> {
    let (sql, params) = page_query(filter, after, 100);
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(3))?;
    rows.collect()
}
