//! What the contract says is what an integrator gets (issue 13): no pre-filled values that
//! break a second try, probes without security, problem types that resolve.

use serde_json::Value;

use crate::support::{TestApp, HSO};

fn contract() -> Value {
    portfolio_api::app::contract_json()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn the_idempotency_key_has_no_fixed_example_to_prefill() {
    let doc = contract();
    let mut posts = 0;
    for (method, path, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["name"] == "Idempotency-Key" {
                posts += 1;
                assert_eq!(method, "POST", "{path}");
                assert!(
                    p.get("example").is_none() && p["schema"].get("example").is_none(),
                    "{method} {path}: Idempotency-Key carries a fixed example: {p}"
                );
                assert!(p.get("examples").is_none() && p["schema"].get("default").is_none());
            }
        }
    }
    assert!(
        posts > 20,
        "only {posts} operations declare Idempotency-Key"
    );
}

#[test]
fn health_probes_declare_no_security_and_everything_else_a_bearer_scope() {
    let doc = contract();
    assert!(doc.get("security").is_none(), "no document-wide security");
    for (method, path, op) in operations(&doc) {
        if path.starts_with("/health/") {
            assert_eq!(op["security"], serde_json::json!([]), "{method} {path}");
        } else {
            let reqs = op["security"].as_array().expect("security");
            assert!(
                !reqs.is_empty()
                    && reqs
                        .iter()
                        .all(|r| r.get("bearer").is_some() || r.get("dpop").is_some()),
                "{method} {path}: {reqs:?}"
            );
        }
    }
}

#[actix_web::test]
async fn every_problem_type_uri_resolves_to_a_page_served_by_the_api() {
    let app = TestApp::new().await;
    // The types the contract's examples use and those the server answers with.
    let doc = contract();
    let text = doc.to_string();
    let mut types: Vec<String> = text
        .match_indices("\"type\":\"/problems/")
        .map(|(i, _)| {
            let rest = &text[i + 8..];
            rest[..rest.find('"').expect("closing quote")].to_owned()
        })
        .collect();
    assert!(
        !text.contains("example/problems"),
        "no example domain in problem types"
    );
    let answered = [
        app.get("/api/v1/organisations").send().await.json(),
        app.get("/api/v1/nowhere")
            .auth("portfolio:read", Some(HSO))
            .send()
            .await
            .json(),
        app.post("/api/v1/service-areas")
            .auth("portfolio:manage", Some(HSO))
            .json(&serde_json::json!({}))
            .send()
            .await
            .json(),
    ];
    for p in &answered {
        types.push(p["type"].as_str().expect("type").to_owned());
    }
    for t in portfolio_api::error::PROBLEM_TYPES {
        types.push(t.uri());
    }
    types.sort();
    types.dedup();
    assert!(types.len() >= 14, "{types:?}");
    for t in &types {
        assert!(t.starts_with("/problems/"), "{t} is relative to the API");
        let r = app.get(t).send().await;
        r.assert_status(200);
        assert!(r
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"));
        let page = r.text();
        let kind = portfolio_api::error::problem_type(&t["/problems/".len()..]).expect("known");
        assert!(page.contains(kind.title), "{t}: {page}");
        assert!(page.contains(&kind.status.to_string()), "{t}");
    }
    let index = app.get("/problems/").send().await;
    index.assert_status(200);
    assert!(types.iter().all(|t| index.text().contains(t.as_str())));
    app.get("/problems/no-such-kind")
        .send()
        .await
        .assert_problem(404);
}

/// README point: PostgreSQL's `FATAL: the database system is starting up` is not printed at
/// every start (the cluster is connected to only once the postmaster says it is ready).
#[test]
fn a_private_cluster_starts_without_a_fatal_line_in_its_log() {
    use portfolio_api::pg_cluster::{ClusterOptions, PrivateCluster};
    let dir = std::env::temp_dir().join(format!("portfolio-test-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let options = ClusterOptions {
        throwaway: true,
        database: "postgres".into(),
        max_connections: 10,
    };
    let mut cluster = PrivateCluster::start(&dir, &options).expect("cluster starts");
    cluster.stop();
    let log = std::fs::read_to_string(dir.join("postgres.log")).expect("the cluster's log");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(log.contains("ready to accept connections"), "{log}");
    assert!(!log.contains("the database system is starting up"), "{log}");
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The integrator's documents exist, say what the issue asks, and no document in the
/// repository points at a file outside it.
#[test]
fn the_docs_an_integrator_starts_from_are_in_the_repository() {
    let root = repo_root();
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let domain = read("docs/DOMAIN.md");
    for word in [
        "behov",
        "førstevurdering",
        "konseptutredning",
        "tjenesteområde",
        "systemeier",
        "tertial",
    ] {
        assert!(domain.contains(word), "DOMAIN.md lacks {word}");
    }
    let integrating = read("docs/INTEGRATING.md");
    for must in [
        "portfolio:read",
        "portfolio:submit",
        "portfolio:score",
        "portfolio:manage",
        "portfolio:decide",
        "portfolio:sync",
        "Idempotency-Key",
        "If-Match",
        "/api/v1/events",
        "orgnr_parent",
        "openapi-python-client` 0.29",
        "openapi-typescript` 7.13",
        "TypeScript 5",
        "/problems/validation",
    ] {
        assert!(integrating.contains(must), "INTEGRATING.md lacks {must}");
    }
    // Every problem type has its row.
    for t in portfolio_api::error::PROBLEM_TYPES {
        assert!(
            integrating.contains(&format!("`{}`", t.uri())),
            "{}",
            t.kind
        );
    }
    let mut docs = vec!["README.md".to_owned(), "ARCHITECTURE.md".to_owned()];
    for e in std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
    {
        docs.push(format!("docs/{}", e.file_name().to_string_lossy()));
    }
    let link = regex::Regex::new(r"\]\(([^)#]+)").expect("regex");
    for d in &docs {
        let text = read(d);
        for outside in ["/work/", "shared/", "seed/", "domain.md"] {
            assert!(
                !text.contains(outside),
                "{d} points outside the repository ({outside})"
            );
        }
        let dir = root.join(d).parent().expect("dir").to_path_buf();
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = dir.join(target);
            assert!(path.exists(), "{d}: link {target} does not resolve");
            let canon = path.canonicalize().expect("canonical");
            assert!(
                canon.starts_with(root.canonicalize().expect("root")),
                "{d}: {target}"
            );
        }
    }
}

fn operation(doc: &Value, method: &str, path: &str) -> Value {
    doc["paths"][path][method].clone()
}

fn schema_example(doc: &Value, name: &str) -> Value {
    doc["components"]["schemas"][name]["example"].clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Point 6: the ranking method is stated where integrators read it, and the examples are
/// one consistent computation with it.
#[test]
fn the_ranking_method_is_stated_and_the_examples_follow_it() {
    let doc = contract();
    for (method, path) in [
        ("get", "/api/v1/cycles/{year}/ranking"),
        ("get", "/api/v1/needs/{id}/score-explanation"),
        ("put", "/api/v1/needs/{id}/scores/{org_number}"),
    ] {
        // Line breaks of the doc comment are not part of the text.
        let d = operation(&doc, method, path)["description"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for must in [
            "100 × Σᵢ sᵢ × (vᵢ − minᵢ) / (maxᵢ − minᵢ)",
            "sᵢ = weightᵢ / Σ weights",
            "arithmetic mean",
            "median",
            "population standard deviation",
            "scored before unscored; higher `overall`; higher `coverage`; lower `dispersion`; need reference ascending",
        ] {
            assert!(d.contains(must), "{method} {path} lacks {must:?}");
        }
    }
    // The criteria example is the scale every other example is on.
    let set = schema_example(&doc, "CriteriaSetInput");
    let criteria: Vec<&Value> = set["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .filter(|c| c["kind"] == "prioritisation")
        .collect();
    let weight_sum: f64 = criteria.iter().map(|c| f(&c["weight"])).sum();
    let term = |code: &str, value: f64| {
        let c = criteria
            .iter()
            .find(|c| c["code"] == code)
            .expect("a criterion of the set");
        let (min, max) = (f(&c["scale_min"]), f(&c["scale_max"]));
        assert!(
            (min..=max).contains(&value),
            "{code} = {value} is off its scale"
        );
        100.0 * f(&c["weight"]) / weight_sum * (value - min) / (max - min)
    };
    let sheet_score = |scores: &Value| -> f64 {
        let scores = scores.as_array().expect("scores");
        assert_eq!(scores.len(), criteria.len(), "one value per criterion");
        scores
            .iter()
            .map(|s| term(s["code"].as_str().unwrap_or(""), f(&s["value"])))
            .sum()
    };
    let input = schema_example(&doc, "ScoreSheetInput");
    let sheet = schema_example(&doc, "ScoreSheet");
    let trust_score = sheet_score(&input["scores"]);
    assert!(near(trust_score, sheet_score(&sheet["scores"])));
    let ranking = schema_example(&doc, "RankingResponse");
    let explanation = schema_example(&doc, "ScoreExplanation");
    for c in ranking["criteria"].as_array().expect("criteria") {
        let w = criteria
            .iter()
            .find(|x| x["code"] == c["code"])
            .expect("criterion");
        assert!(
            near(f(&c["weight_share"]), f(&w["weight"]) / weight_sum),
            "{c}"
        );
    }
    for item in [&ranking["items"][0], &explanation["need"]] {
        let scores: Vec<f64> = item["trust_scores"]
            .as_array()
            .expect("trust scores")
            .iter()
            .map(|t| f(&t["score"]))
            .collect();
        // The score-sheet example's trust has the score the formula gives its sheet.
        let own = item["trust_scores"]
            .as_array()
            .expect("trust scores")
            .iter()
            .find(|t| t["trust"] == sheet["org_number"])
            .expect("the sheet's trust");
        assert!(near(f(&own["score"]), trust_score), "{item}");
        let n = scores.len() as f64;
        let mean = scores.iter().sum::<f64>() / n;
        let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert_eq!(item["coverage"], scores.len());
        assert!(
            near(f(&item["mean"]), mean) && near(f(&item["overall"]), mean),
            "{item}"
        );
        assert!(near(f(&item["dispersion"]), sd), "{item}");
        let contributions: f64 = item["contributions"]
            .as_array()
            .expect("contributions")
            .iter()
            .map(|c| f(&c["contribution"]))
            .sum();
        assert!(
            near(contributions, mean),
            "contributions sum to the mean: {item}"
        );
    }
    let (above, below, need) = (
        &explanation["above"],
        &explanation["below"],
        &explanation["need"],
    );
    assert!(near(
        f(&above["gap"]),
        f(&above["overall"]) - f(&need["overall"])
    ));
    assert!(near(
        f(&below["gap"]),
        f(&need["overall"]) - f(&below["overall"])
    ));
}

/// Point 8: the contract declares the rule the server enforces for a trust's sheet.
#[actix_web::test]
async fn put_scores_declares_if_match_as_the_server_enforces_it() {
    use crate::needs_cycle::*;
    let doc = contract();
    let op = operation(&doc, "put", "/api/v1/needs/{id}/scores/{org_number}");
    let if_match = op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "If-Match")
        .expect("If-Match");
    assert_eq!(if_match["required"], false, "{if_match}");
    let d = if_match["description"].as_str().unwrap_or("");
    assert!(d.contains("omit it") && d.contains("required"), "{d}");

    let app = TestApp::new().await;
    open_cycle(&app, 2023).await;
    let need = report(
        &app,
        crate::support::OUS,
        &need_body(2023, "Tidlig ultralyd"),
    )
    .await;
    advance(&app, 2023, "first_assessment").await;
    adopt_criteria(&app, 2023, &criteria_body()).await;
    let need = assess(&app, &need, &accept_body()).await;
    advance(&app, 2023, "prioritisation").await;
    let url = format!(
        "/api/v1/needs/{}/scores/{}",
        need["id"].as_str().expect("id"),
        crate::support::OUS
    );
    let sheet = serde_json::json!({"scores": [{"code": "NYTTE", "value": 4}, {"code": "GEVINST", "value": 5}]});
    let put = |if_match: Option<&'static str>| {
        let mut r = app
            .put(&url)
            .auth(SCORE, Some(crate::support::OUS))
            .json(&sheet);
        if let Some(v) = if_match {
            r = r.header("If-Match", v);
        }
        r.send()
    };
    // Creating: a version names a sheet that does not exist; no If-Match creates it.
    put(Some("\"v1\"")).await.assert_problem(412);
    put(None).await.assert_status(201);
    // Replacing: required (428 without), current ETag only.
    put(None).await.assert_problem(428);
    put(Some("\"v9\"")).await.assert_problem(412);
    put(Some("\"v1\"")).await.assert_status(200);
}

/// Point 7: closing the round freezes exactly the numbers that were served live.
#[actix_web::test]
async fn the_frozen_ranking_equals_the_live_one_bit_for_bit() {
    let app = TestApp::new().await;
    let db = app.state.db.clone();
    actix_web::rt::task::spawn_blocking(move || portfolio_api::demo::load(&db))
        .await
        .expect("task")
        .expect("demo");
    let ranking = |agg: &'static str| {
        app.get(&format!("/api/v1/cycles/2022/ranking?aggregation={agg}"))
            .auth("portfolio:read", None)
            .send()
    };
    let live_mean = ranking("mean").await.assert_status(200).json();
    let live_median = ranking("median").await.assert_status(200).json();
    assert_eq!(live_mean["frozen"], false);
    let cycle = app
        .get("/api/v1/cycles/2022")
        .auth("portfolio:read", None)
        .send()
        .await
        .json();
    app.post("/api/v1/cycles/2022/prioritisation/close")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .header("If-Match", &format!("\"v{}\"", cycle["version"]))
        .send()
        .await
        .assert_status(200);
    let frozen_mean = ranking("mean").await.assert_status(200).json();
    let frozen_median = ranking("median").await.assert_status(200).json();
    assert_eq!(frozen_mean["frozen"], true);
    let mut numbers = 0;
    for (live, frozen) in [(&live_mean, &frozen_mean), (&live_median, &frozen_median)] {
        let (l, fz) = (
            live["items"].as_array().expect("items"),
            frozen["items"].as_array().expect("items"),
        );
        assert_eq!(l.len(), 27);
        for (a, b) in l.iter().zip(fz) {
            for key in ["overall", "mean", "median", "dispersion"] {
                numbers += 1;
                assert_eq!(
                    a[key].as_f64().map(f64::to_bits),
                    b[key].as_f64().map(f64::to_bits),
                    "{} {key}: live {} frozen {}",
                    a["reference"],
                    a[key],
                    b[key]
                );
            }
            for (x, y) in [("trust_scores", "score"), ("contributions", "contribution")] {
                for (p, q) in a[x]
                    .as_array()
                    .expect(x)
                    .iter()
                    .zip(b[x].as_array().expect(x))
                {
                    numbers += 1;
                    assert_eq!(
                        f(&p[y]).to_bits(),
                        f(&q[y]).to_bits(),
                        "{} {x}",
                        a["reference"]
                    );
                }
            }
        }
        assert_eq!(live["items"], frozen["items"]);
    }
    assert!(numbers > 1000, "{numbers} numbers compared");
}

/// Point 10: the CSV is its own operation, its columns are documented, and what is served
/// has exactly those columns.
#[actix_web::test]
async fn the_tertial_csv_is_its_own_documented_operation() {
    let doc = contract();
    let json_op = operation(&doc, "get", "/api/v1/tertial-reports/{id}");
    let content: Vec<&String> = json_op["responses"]["200"]["content"]
        .as_object()
        .expect("content")
        .keys()
        .collect();
    assert_eq!(content, ["application/json"]);
    let csv_op = operation(&doc, "get", "/api/v1/tertial-reports/{id}/csv");
    assert_eq!(csv_op["operationId"], "get_report_csv");
    let ok = &csv_op["responses"]["200"]["content"];
    assert_eq!(ok.as_object().map(|o| o.len()), Some(1));
    let example = ok["text/csv"]["example"].as_str().expect("a CSV example");
    let documented_header = example.lines().next().expect("header row");
    let description = csv_op["description"].as_str().unwrap_or("");
    for column in documented_header.split(',') {
        assert!(
            description.contains(&format!("| `{column}` |")),
            "{column} is not described"
        );
    }

    let app = TestApp::new().await;
    let report = app
        .post("/api/v1/tertial-reports")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .json(&serde_json::json!({"year": 2023, "tertial": 2}))
        .send()
        .await
        .assert_status(201)
        .json();
    let id = report["id"].as_str().expect("id");
    let r = app
        .get(&format!("/api/v1/tertial-reports/{id}/csv"))
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .send()
        .await;
    r.assert_status(200);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/csv"));
    assert_eq!(r.text().lines().next(), Some(documented_header));
    let j = app
        .get(&format!("/api/v1/tertial-reports/{id}"))
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .send()
        .await;
    assert!(j
        .header("content-type")
        .unwrap_or_default()
        .starts_with("application/json"));
}

/// Point 9: the overview's `year` has one documented meaning and its example follows it.
#[test]
fn the_overview_year_is_the_budget_year_and_the_example_says_so() {
    let doc = contract();
    let op = operation(&doc, "get", "/api/v1/portfolio/overview");
    let d = op["description"].as_str().unwrap_or("");
    assert!(
        d.contains("**budget year**") && d.contains("funded from those frames"),
        "{d}"
    );
    let example = schema_example(&doc, "Overview");
    let studies = &example["sub_portfolios"]["concept_studies"];
    let by_cycle: i64 = studies["by_cycle"]
        .as_object()
        .expect("by_cycle")
        .iter()
        .map(|(year, n)| {
            assert!(year.parse::<i64>().expect("a year") < example["year"].as_i64().expect("year"));
            n.as_i64().expect("count")
        })
        .sum();
    assert_eq!(Some(by_cycle), studies["total"].as_i64());
    assert!(!example["budget"].as_array().expect("budget").is_empty());
}

/// Point 3: a query parameter the operation does not declare is a 400 naming it and the
/// accepted ones; the same filter has the same name on every list.
#[actix_web::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let app = TestApp::new().await;
    let read = |url: &str| app.get(url).auth("portfolio:read", Some(HSO)).send();
    let p = read("/api/v1/measures?service_area=0b8f5d6e-4d9c-4a0e-9d61-2f1a3c5b7e90")
        .await
        .assert_problem(400);
    let detail = p["detail"].as_str().unwrap_or("");
    assert!(detail.contains("\"service_area\""), "{detail}");
    assert!(
        detail.contains("service_area_id") && detail.contains("limit, cursor"),
        "{detail}"
    );
    // Percent-encoded names are the same names; operations without query parameters say so.
    read("/api/v1/measures?service%5Farea_id=0b8f5d6e-4d9c-4a0e-9d61-2f1a3c5b7e90&limit=5")
        .await
        .assert_status(200);
    let p = app
        .post("/api/v1/audit/checkpoints?full=1")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .send()
        .await
        .assert_problem(400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("accepts: no query parameters"),
        "{p}"
    );
    read("/api/v1/organisations?kind=health_trust&limit=2")
        .await
        .assert_status(200);
    read("/api/v1/needs?service_area_id=0b8f5d6e-4d9c-4a0e-9d61-2f1a3c5b7e90")
        .await
        .assert_status(200);

    // One name per filter: a query parameter naming a service area is `service_area_id`
    // wherever it appears (the old `service_area` of /needs is kept, marked deprecated).
    let doc = contract();
    for (method, path, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "query" {
                continue;
            }
            let name = p["name"].as_str().unwrap_or("");
            if name.contains("service_area") {
                assert!(
                    name == "service_area_id" || p["deprecated"] == true,
                    "{method} {path}: {name}"
                );
            }
        }
        // Every authenticated operation documents the 400.
        if path.starts_with("/api/") {
            assert!(op["responses"].get("400").is_some(), "{method} {path}");
        }
    }
}

/// Point 4: one 422 lists every problem of a body or query string, each at its field, in the
/// API's words.
#[actix_web::test]
async fn one_answer_lists_every_problem_of_a_request() {
    let app = TestApp::new().await;
    // Five mistakes: a type error, a missing field, an enum error, a rule (range) violation
    // and a malformed UUID.
    let p = app
        .post("/api/v1/needs")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .json(&serde_json::json!({
            "cycle_year": "2023",
            "title": "Tidlig ultralyd",
            "expected_benefit": "Bedre svangerskapsomsorg",
            "origin": "board",
            "estimated_study_cost_nok": -5,
            "service_area_id": "not-a-uuid"
        }))
        .send()
        .await
        .assert_problem(422);
    let errors: Vec<(String, String)> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap_or("").to_owned(),
                e["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let at = |pointer: &str| {
        errors
            .iter()
            .find(|(p, _)| p == pointer)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no error at {pointer}: {errors:?}"))
    };
    assert_eq!(at("/cycle_year"), "must be a whole number");
    assert_eq!(at("/description"), "is required");
    assert!(
        at("/origin").starts_with("must be one of: professional_community"),
        "{errors:?}"
    );
    assert_eq!(at("/estimated_study_cost_nok"), "must be at least 0");
    assert_eq!(at("/service_area_id"), "must be a UUID");
    assert_eq!(errors.len(), 5, "{errors:?}");
    for (_, m) in &errors {
        for rust in ["i32", "i64", "invalid type", "expected", "variant", "Uuid"] {
            assert!(!m.contains(rust), "{m:?} is in serde's words");
        }
    }
    assert_eq!(p["detail"], "5 fields are invalid");

    // Queries: each parameter at its own pointer.
    let p = app
        .get("/api/v1/needs?year=twenty&status=done&limit=0")
        .auth("portfolio:read", Some(HSO))
        .send()
        .await
        .assert_problem(422);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["pointer"].as_str().unwrap_or(""))
        .collect();
    for want in ["/query/year", "/query/status", "/query/limit"] {
        assert!(pointers.contains(&want), "{want} missing in {p}");
    }
    assert!(!pointers.contains(&"/query"), "{p}");
    // A missing required query parameter points at it.
    let p = app
        .get("/api/v1/portfolio/overview")
        .auth("portfolio:read", Some(HSO))
        .send()
        .await
        .assert_problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/query/year", "{p}");
    assert_eq!(p["errors"][0]["message"], "is required", "{p}");
}
