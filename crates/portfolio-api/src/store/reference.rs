//! Reference data: organisations and service areas.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::measure::ServiceAreaKind;
use portfolio_domain::organisation::{OrgNumber, OrganisationKind};
use portfolio_domain::service_area::{Owners, Party};
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{organisations, service_areas};
use crate::etag::IfMatch;
use crate::store::StoreError;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = organisations)]
pub struct OrganisationRow {
    pub org_number: OrgNumber,
    pub name: String,
    pub kind: OrganisationKind,
    pub region_org_number: Option<OrgNumber>,
    pub version: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = service_areas)]
pub struct ServiceAreaRow {
    pub id: Uuid,
    pub year: i32,
    pub name: String,
    pub kind: ServiceAreaKind,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub retired_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub system_owner_org: Option<String>,
    pub system_owner_name: Option<String>,
    pub system_responsible_org: Option<String>,
    pub system_responsible_name: Option<String>,
}

impl ServiceAreaRow {
    /// The area's system owner and system responsible.
    pub fn owners(&self) -> Result<Owners, StoreError> {
        let party = |org: &Option<String>, name: &Option<String>| match (org, name) {
            (Some(o), Some(n)) => OrgNumber::parse(o)
                .map(|org_number| {
                    Some(Party {
                        org_number,
                        name: n.clone(),
                    })
                })
                .map_err(|e| {
                    StoreError::corrupt(format!("service area {} names {o:?}: {e}", self.id))
                }),
            _ => Ok(None),
        };
        Ok(Owners {
            system_owner: party(&self.system_owner_org, &self.system_owner_name)?,
            system_responsible: party(&self.system_responsible_org, &self.system_responsible_name)?,
        })
    }
}

/// Refuses parties whose organisation is not registered (every such field at once).
fn check_parties(
    conn: &mut PgConnection,
    parties: &[(&str, Option<&Party>)],
) -> Result<(), StoreError> {
    let wanted: Vec<&str> = parties
        .iter()
        .filter_map(|(_, p)| p.map(|p| p.org_number.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = organisations::table
        .filter(organisations::org_number.eq_any(&wanted))
        .select(organisations::org_number)
        .load(conn)?;
    StoreError::check(
        parties
            .iter()
            .filter_map(|(field, p)| {
                let p = (*p)?;
                (!known.iter().any(|k| k == p.org_number.as_str())).then(|| {
                    portfolio_domain::FieldIssue::new(
                        format!("{field}.org_number"),
                        format!("{} is not a registered organisation", p.org_number),
                    )
                })
            })
            .collect(),
    )
}

pub fn list_organisations(
    conn: &mut PgConnection,
    kind: Option<OrganisationKind>,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<OrganisationRow>> {
    let mut q = organisations::table
        .select(OrganisationRow::as_select())
        .order(organisations::org_number)
        .into_boxed();
    if let Some(k) = kind {
        q = q.filter(organisations::kind.eq(k));
    }
    if let Some(a) = after {
        q = q.filter(organisations::org_number.gt(a));
    }
    q.limit(limit + 1).load(conn)
}

pub fn find_organisation(
    conn: &mut PgConnection,
    org_number: &str,
) -> QueryResult<Option<OrganisationRow>> {
    organisations::table
        .find(org_number)
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()
}

pub fn create_organisation(
    conn: &mut PgConnection,
    actor: &Actor,
    org_number: &str,
    name: &str,
    kind: OrganisationKind,
    region: Option<&str>,
) -> Result<OrganisationRow, StoreError> {
    if find_organisation(conn, org_number)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "organisation {org_number} is already registered"
        )));
    }
    if let Some(r) = region {
        let found = find_organisation(conn, r)?;
        if found.map(|o| o.kind) != Some(OrganisationKind::RegionalHealthAuthority) {
            return Err(StoreError::invalid(
                "region_org_number",
                "is not a registered regional health authority",
            ));
        }
    }
    let row = diesel::insert_into(organisations::table)
        .values((
            organisations::org_number.eq(org_number),
            organisations::name.eq(name),
            organisations::kind.eq(kind),
            organisations::region_org_number.eq(region),
        ))
        .returning(OrganisationRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("organisation", &row.org_number, "created")
            .version(1)
            .after(&row)],
    )?;
    Ok(row)
}

pub fn list_service_areas(
    conn: &mut PgConnection,
    year: Option<i32>,
    kind: Option<ServiceAreaKind>,
    include_retired: bool,
    after: Option<(i32, String, String, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<ServiceAreaRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Int4, Text, Uuid as SqlUuid};
    let mut q = service_areas::table
        .select(ServiceAreaRow::as_select())
        .order((
            service_areas::year,
            service_areas::kind,
            service_areas::name,
            service_areas::id,
        ))
        .into_boxed();
    if let Some(y) = year {
        q = q.filter(service_areas::year.eq(y));
    }
    if let Some(k) = kind {
        q = q.filter(service_areas::kind.eq(k));
    }
    if !include_retired {
        q = q.filter(service_areas::retired_at.is_null());
    }
    if let Some((y, kind, name, id)) = after {
        q = q.filter(
            sql::<Bool>("(service_areas.year, service_areas.kind, service_areas.name, service_areas.id) > (")
                .bind::<Int4, _>(y)
                .sql(", ")
                .bind::<Text, _>(kind)
                .sql(", ")
                .bind::<Text, _>(name)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    q.limit(limit + 1).load(conn)
}

pub fn find_service_area(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<ServiceAreaRow>> {
    service_areas::table
        .find(id)
        .select(ServiceAreaRow::as_select())
        .first(conn)
        .optional()
}

pub fn create_service_area(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    name: &str,
    kind: ServiceAreaKind,
    owners: &Owners,
) -> Result<ServiceAreaRow, StoreError> {
    check_parties(
        conn,
        &[
            ("system_owner", owners.system_owner.as_ref()),
            ("system_responsible", owners.system_responsible.as_ref()),
        ],
    )?;
    let exists = service_areas::table
        .filter(
            service_areas::year
                .eq(year)
                .and(service_areas::name.eq(name)),
        )
        .count()
        .get_result::<i64>(conn)?;
    if exists > 0 {
        return Err(StoreError::Conflict(format!(
            "{year} already has a service area named {name:?}"
        )));
    }
    let row = diesel::insert_into(service_areas::table)
        .values((
            service_areas::year.eq(year),
            service_areas::name.eq(name),
            service_areas::kind.eq(kind),
            service_areas::system_owner_org.eq(org_of(&owners.system_owner)),
            service_areas::system_owner_name.eq(name_of(&owners.system_owner)),
            service_areas::system_responsible_org.eq(org_of(&owners.system_responsible)),
            service_areas::system_responsible_name.eq(name_of(&owners.system_responsible)),
        ))
        .returning(ServiceAreaRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("service_area", row.id, "created")
            .version(1)
            .after(&row)],
    )?;
    Ok(row)
}

fn org_of(p: &Option<Party>) -> Option<&str> {
    p.as_ref().map(|p| p.org_number.as_str())
}

fn name_of(p: &Option<Party>) -> Option<&str> {
    p.as_ref().map(|p| p.name.as_str())
}

/// Changes to a service area's name and parties (`None` = unchanged; `Some(None)` removes a
/// party).
#[derive(Debug, Clone, Default)]
pub struct ServiceAreaChanges {
    pub name: Option<String>,
    pub system_owner: Option<Option<Party>>,
    pub system_responsible: Option<Option<Party>>,
}

/// What can change on a service area.
pub enum ServiceAreaEdit {
    Change(ServiceAreaChanges),
    Retire,
}

pub fn edit_service_area(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    edit: ServiceAreaEdit,
) -> Result<ServiceAreaRow, StoreError> {
    let before = service_areas::table
        .find(id)
        .select(ServiceAreaRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("service area {id}")))?;
    if_match.check(before.version)?;
    let now = Utc::now();
    let (action, row) = match edit {
        ServiceAreaEdit::Change(c) => {
            // A change of name only keeps its own action in the feed (`renamed`).
            let action = if c.system_owner.is_none() && c.system_responsible.is_none() {
                "renamed"
            } else {
                "updated"
            };
            (action, change_service_area(conn, &before, c, now)?)
        }
        ServiceAreaEdit::Retire => {
            if before.retired_at.is_some() {
                return Err(StoreError::Conflict(
                    "the service area is already retired".into(),
                ));
            }
            let row = diesel::update(service_areas::table.find(id))
                .set((
                    service_areas::retired_at.eq(Some(now)),
                    service_areas::version.eq(before.version + 1),
                    service_areas::updated_at.eq(now),
                ))
                .returning(ServiceAreaRow::as_returning())
                .get_result(conn)?;
            ("retired", row)
        }
    };
    changes::record(
        conn,
        actor,
        &[Change::new("service_area", id, action)
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

fn change_service_area(
    conn: &mut PgConnection,
    before: &ServiceAreaRow,
    c: ServiceAreaChanges,
    now: DateTime<Utc>,
) -> Result<ServiceAreaRow, StoreError> {
    check_parties(
        conn,
        &[
            (
                "system_owner",
                c.system_owner.as_ref().and_then(Option::as_ref),
            ),
            (
                "system_responsible",
                c.system_responsible.as_ref().and_then(Option::as_ref),
            ),
        ],
    )?;
    let name = c.name.unwrap_or_else(|| before.name.clone());
    if name != before.name {
        let clash = service_areas::table
            .filter(
                service_areas::year
                    .eq(before.year)
                    .and(service_areas::name.eq(&name)),
            )
            .count()
            .get_result::<i64>(conn)?;
        if clash > 0 {
            return Err(StoreError::Conflict(format!(
                "{} already has a service area named {name:?}",
                before.year
            )));
        }
    }
    let owners = before.owners()?;
    let owner = c.system_owner.unwrap_or(owners.system_owner);
    let responsible = c.system_responsible.unwrap_or(owners.system_responsible);
    Ok(diesel::update(service_areas::table.find(before.id))
        .set((
            service_areas::name.eq(name),
            service_areas::system_owner_org.eq(org_of(&owner)),
            service_areas::system_owner_name.eq(name_of(&owner)),
            service_areas::system_responsible_org.eq(org_of(&responsible)),
            service_areas::system_responsible_name.eq(name_of(&responsible)),
            service_areas::version.eq(before.version + 1),
            service_areas::updated_at.eq(now),
        ))
        .returning(ServiceAreaRow::as_returning())
        .get_result(conn)?)
}
