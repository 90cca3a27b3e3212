//! What a need asks of the IT partner (person-months a year) and how it depends on other
//! needs of its cycle (`requires` / `excludes`). Selection scenarios read both.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::selection::DependencyKind;
use portfolio_domain::{FieldIssue, FieldPath};
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{need_dependencies, needs};
use crate::etag::IfMatch;
use crate::store::needs::{lock_need, NeedRow};
use crate::store::StoreError;

/// One dependency of a need on another need of the same cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// `requires` (the need can only be chosen with the other) or `excludes` (never both).
    pub kind: DependencyKind,
    /// The other need (same cycle, not the need itself).
    pub other_need_id: Uuid,
}

/// A need's capacity estimate and dependencies, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct NeedLinks {
    pub need: NeedRow,
    pub estimated_capacity_person_months: Option<i64>,
    pub dependencies: Vec<Dependency>,
}

/// The dependencies of the given needs, in one query, by need.
pub fn dependencies_of(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Dependency>>, StoreError> {
    let rows: Vec<(Uuid, Uuid, DependencyKind)> = need_dependencies::table
        .filter(need_dependencies::need_id.eq_any(ids))
        .order((need_dependencies::need_id, need_dependencies::other_need_id))
        .select((
            need_dependencies::need_id,
            need_dependencies::other_need_id,
            need_dependencies::kind,
        ))
        .load(conn)?;
    let mut by_need: HashMap<Uuid, Vec<Dependency>> = HashMap::new();
    for (need, other, kind) in rows {
        by_need.entry(need).or_default().push(Dependency {
            kind,
            other_need_id: other,
        });
    }
    Ok(by_need)
}

/// A need's capacity estimate and dependencies.
pub fn find_links(conn: &mut PgConnection, id: Uuid) -> Result<NeedLinks, StoreError> {
    let need = crate::store::needs::find_need(conn, id)?
        .ok_or_else(|| StoreError::not_found(format!("need {id}")))?;
    links_of(conn, need)
}

fn links_of(conn: &mut PgConnection, need: NeedRow) -> Result<NeedLinks, StoreError> {
    let capacity: Option<i64> = needs::table
        .find(need.id)
        .select(needs::estimated_capacity_person_months)
        .first(conn)?;
    let dependencies = dependencies_of(conn, &[need.id])?
        .remove(&need.id)
        .unwrap_or_default();
    Ok(NeedLinks {
        need,
        estimated_capacity_person_months: capacity,
        dependencies,
    })
}

/// Every dependency names another existing need of the need's cycle, once (all faults at
/// once, as field issues).
fn check_dependencies(
    conn: &mut PgConnection,
    need: &NeedRow,
    dependencies: &[Dependency],
) -> Result<(), StoreError> {
    let others: Vec<Uuid> = dependencies.iter().map(|d| d.other_need_id).collect();
    let cycles: HashMap<Uuid, i32> = needs::table
        .filter(needs::id.eq_any(&others))
        .select((needs::id, needs::cycle_year))
        .load::<(Uuid, i32)>(conn)?
        .into_iter()
        .collect();
    let mut issues = Vec::new();
    for (j, d) in dependencies.iter().enumerate() {
        let message = if d.other_need_id == need.id {
            Some("a need cannot depend on itself".to_string())
        } else if dependencies[..j]
            .iter()
            .any(|e| e.other_need_id == d.other_need_id)
        {
            Some("names the same need twice".to_string())
        } else {
            match cycles.get(&d.other_need_id) {
                None => Some(format!("need {} does not exist", d.other_need_id)),
                Some(&y) if y != need.cycle_year => Some(format!(
                    "is a need of {y}; dependencies stay within the cycle ({})",
                    need.cycle_year
                )),
                Some(_) => None,
            }
        };
        if let Some(m) = message {
            let at = FieldPath::from("dependencies")
                .index(j)
                .key("other_need_id");
            issues.push(FieldIssue::new(at, m));
        }
    }
    StoreError::check(issues)
}

/// The need's dependencies become `dependencies` (delete, then one insert).
fn replace_dependencies(
    conn: &mut PgConnection,
    id: Uuid,
    dependencies: &[Dependency],
) -> QueryResult<()> {
    diesel::delete(need_dependencies::table.filter(need_dependencies::need_id.eq(id)))
        .execute(conn)?;
    let rows: Vec<_> = dependencies
        .iter()
        .map(|d| {
            (
                need_dependencies::need_id.eq(id),
                need_dependencies::other_need_id.eq(d.other_need_id),
                need_dependencies::kind.eq(d.kind.as_str()),
            )
        })
        .collect();
    diesel::insert_into(need_dependencies::table)
        .values(&rows)
        .execute(conn)?;
    Ok(())
}

/// Replaces a need's capacity estimate and dependencies (one transaction, the caller's).
/// Every dependency must name another existing need of the same cycle; all faults at once.
pub fn set_links(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    capacity: Option<i64>,
    dependencies: Vec<Dependency>,
) -> Result<NeedLinks, StoreError> {
    let before = lock_need(conn, id)?;
    if_match.check(before.version)?;
    check_dependencies(conn, &before, &dependencies)?;
    replace_dependencies(conn, id, &dependencies)?;
    let row: NeedRow = diesel::update(needs::table.find(id))
        .set((
            needs::estimated_capacity_person_months.eq(capacity),
            needs::version.eq(before.version + 1),
            needs::updated_at.eq(chrono::Utc::now()),
        ))
        .returning(NeedRow::as_returning())
        .get_result(conn)?;
    let links = NeedLinks {
        need: row,
        estimated_capacity_person_months: capacity,
        dependencies,
    };
    changes::record(
        conn,
        actor,
        &[Change::new("need", id, "dependencies_set")
            .version(links.need.version)
            .before(&before)
            .after(&links)],
    )?;
    Ok(links)
}
