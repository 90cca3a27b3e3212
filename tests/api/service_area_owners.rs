//! System owners per service area (issue 13, point 14): each service area carries its regional
//! system owner and system responsible; a need records its service area and who forwarded it;
//! needs are listed per service area.

use portfolio_api::routes::needs::{Need, NeedPage};
use portfolio_api::routes::service_areas::ServiceArea;
use serde_json::json;

use crate::support::fixtures::{area, need_body, open_cycle};
use crate::support::requests::pointers;
use crate::support::{TestApp, AHUS, HSO, MANAGE, OUS, READ, SUBMIT, SYKEHUSPARTNER};

fn owner() -> serde_json::Value {
    json!({"org_number": HSO, "name": "Fagdirektør, Helse Sør-Øst RHF"})
}

fn responsible() -> serde_json::Value {
    json!({"org_number": SYKEHUSPARTNER, "name": "Kari Nordmann, seksjonsleder"})
}

#[actix_web::test]
async fn a_service_area_carries_its_system_owner_and_system_responsible() {
    let app = TestApp::new().await;
    let created: ServiceArea = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"year": 2024, "name": "Mor og barn", "kind": "clinical",
                      "system_owner": owner()}),
        )
        .returns(201)
        .await;
    let o = created.system_owner.as_ref().expect("an owner");
    assert_eq!(
        (o.org_number.as_str(), o.name.as_str()),
        (HSO, "Fagdirektør, Helse Sør-Øst RHF")
    );
    assert!(created.system_responsible.is_none(), "not appointed yet");

    // Appointing the responsible leaves the name and the owner as they were.
    let path = format!("/api/v1/service-areas/{}", created.id);
    let changed: ServiceArea = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .if_match(created.version)
        .json(&json!({"system_responsible": responsible()}))
        .returns(200)
        .await;
    assert_eq!(changed.name, "Mor og barn");
    assert_eq!(
        changed.system_owner.as_ref().map(|p| p.org_number.as_str()),
        Some(HSO)
    );
    let r = changed.system_responsible.as_ref().expect("a responsible");
    assert_eq!(
        (r.org_number.as_str(), r.name.as_str()),
        (SYKEHUSPARTNER, "Kari Nordmann, seksjonsleder")
    );

    // `null` removes a party; the change is in the audit trail and the feed.
    let removed: ServiceArea = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .if_match(changed.version)
        .json(&json!({"system_owner": null}))
        .returns(200)
        .await;
    assert!(removed.system_owner.is_none());
    assert!(removed.system_responsible.is_some());
    let fetched: ServiceArea = crate::support::requests::read(&app, &path).await;
    assert_eq!(fetched.version, removed.version);
    let id = created.id.to_string();
    for table in ["events", "audit_log"] {
        assert_eq!(updates_of(&app, table, &id), 2, "{table}");
    }
}

/// How many `updated` entries `table` (the feed or the audit trail) has for a service area.
fn updates_of(app: &TestApp, table: &str, id: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {table}
         WHERE entity_type = 'service_area' AND entity_id = $1 AND action = 'updated'"
    ))
    .bind::<diesel::sql_types::Text, _>(id)
    .get_result::<N>(&mut app.conn())
    .expect("count")
    .n
}

#[actix_web::test]
async fn parties_are_checked_all_at_once_and_only_the_office_appoints_them() {
    let app = TestApp::new().await;
    let p = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"year": 2024, "name": "HR", "kind": "administrative",
                      "system_owner": {"org_number": "991324969", "name": "Eier"},
                      "system_responsible": {"org_number": HSO, "name": "  "}}),
        )
        .refused(422)
        .await;
    let mut ps = pointers(&p);
    ps.sort();
    assert_eq!(ps, ["/system_owner/org_number", "/system_responsible/name"]);

    // A well-formed number that is not a registered organisation.
    let p = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(
            &json!({"year": 2024, "name": "HR", "kind": "administrative",
                      "system_owner": {"org_number": "923609016", "name": "Eier"}}),
        )
        .refused(422)
        .await;
    assert_eq!(pointers(&p), ["/system_owner/org_number"]);
    let areas = app.count("service_areas");
    assert_eq!(areas, 16, "nothing written: only the 2023 reference data");

    // Reporters and readers may not appoint owners.
    let mor_og_barn = area(&app, "Mor og barn");
    let path = format!("/api/v1/service-areas/{mor_og_barn}");
    for scopes in [READ, SUBMIT] {
        app.patch(&path)
            .auth(scopes, Some(OUS))
            .if_match(1)
            .json(&json!({"system_owner": owner()}))
            .refused(403)
            .await;
    }
    let unchanged: ServiceArea = crate::support::requests::read(&app, &path).await;
    assert!(unchanged.system_owner.is_none());
}

#[actix_web::test]
async fn a_need_records_who_forwarded_it_and_needs_are_listed_per_service_area() {
    let app = TestApp::new().await;
    open_cycle(&app, 2023).await;
    let mor_og_barn = area(&app, "Mor og barn");
    let lab = area(&app, "Laboratorievirksomhet");
    let area_path = format!("/api/v1/service-areas/{mor_og_barn}");
    let appointed: ServiceArea = app
        .patch(&area_path)
        .auth(MANAGE, Some(HSO))
        .if_match(1)
        .json(&json!({"system_owner": owner()}))
        .returns(200)
        .await;

    let mut body = need_body(2023, "Digital svangerskapsoppfølging");
    body["service_area_id"] = json!(mor_og_barn);
    body["forwarded_by"] = json!("system_owner");
    let forwarded: Need = app
        .post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&body)
        .returns(201)
        .await;
    let f = forwarded.forwarded_by.as_ref().expect("forwarded_by");
    assert_eq!(
        (f.role.as_str(), f.org_number.as_str(), f.name.as_str()),
        ("system_owner", HSO, "Fagdirektør, Helse Sør-Øst RHF")
    );
    assert_eq!(
        forwarded.service_area_id.map(|u| u.to_string()),
        Some(mor_og_barn.clone())
    );

    // The area has no system responsible, and forwarding needs an area: 422 naming the field.
    body["forwarded_by"] = json!("system_responsible");
    let p = app
        .post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&body)
        .refused(422)
        .await;
    assert_eq!(pointers(&p), ["/forwarded_by"]);
    let mut direct = need_body(2023, "Uten tjenesteområde");
    direct["forwarded_by"] = json!("system_owner");
    let p = app
        .post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&direct)
        .refused(422)
        .await;
    assert_eq!(pointers(&p), ["/forwarded_by"]);
    assert_eq!(app.count("needs"), 1, "nothing written by a refused report");

    // A later change of owner does not rewrite who forwarded the need.
    app.patch(&area_path)
        .auth(MANAGE, Some(HSO))
        .if_match(appointed.version)
        .json(&json!({"system_owner": {"org_number": AHUS, "name": "Ny systemeier"}}))
        .responds(200)
        .await;
    let again: Need =
        crate::support::requests::read(&app, &format!("/api/v1/needs/{}", forwarded.id)).await;
    assert_eq!(
        again.forwarded_by.as_ref().map(|f| f.org_number.as_str()),
        Some(HSO)
    );

    // Another organisation's reporter may not change it; its own may clear who forwarded it.
    let need_path = format!("/api/v1/needs/{}", forwarded.id);
    app.patch(&need_path)
        .auth(SUBMIT, Some(AHUS))
        .if_match(again.version)
        .json(&json!({"forwarded_by": null}))
        .refused(403)
        .await;
    let cleared: Need = app
        .patch(&need_path)
        .auth(SUBMIT, Some(OUS))
        .if_match(again.version)
        .json(&json!({"forwarded_by": null}))
        .returns(200)
        .await;
    assert!(cleared.forwarded_by.is_none());
    // Forwarded again: the party is the area's owner now.
    let reforwarded: Need = app
        .patch(&need_path)
        .auth(SUBMIT, Some(OUS))
        .if_match(cleared.version)
        .json(&json!({"forwarded_by": "system_owner"}))
        .returns(200)
        .await;
    assert_eq!(
        reforwarded
            .forwarded_by
            .as_ref()
            .map(|f| f.org_number.as_str()),
        Some(AHUS)
    );

    // Listed per service area, under the filter name every list uses (and the old alias).
    let mut in_lab = need_body(2023, "Digital rekvirering");
    in_lab["service_area_id"] = json!(lab);
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&in_lab)
        .responds(201)
        .await;
    app.post("/api/v1/needs")
        .auth(SUBMIT, Some(OUS))
        .json(&need_body(2023, "Uten område"))
        .responds(201)
        .await;
    for name in ["service_area_id", "service_area"] {
        let page: NeedPage =
            crate::support::requests::read(&app, &format!("/api/v1/needs?{name}={mor_og_barn}"))
                .await;
        let titles: Vec<&str> = page.items.iter().map(|n| n.title.as_str()).collect();
        assert_eq!(titles, ["Digital svangerskapsoppfølging"], "{name}");
    }
}
