//! The contract states the same limits the server enforces. The validator attributes take
//! the limits as constants (the domain's text rules, `dates`' years), but utoipa's `schema`
//! attributes accept only literals; this test is what keeps each literal equal to its
//! constant, so a limit changed in the domain cannot leave the contract behind.

use portfolio_api::{app, dates};
use portfolio_domain::{benefit, criteria, need, service_area, study};
use serde_json::Value;

/// `(schema, property, limit)`: each text field of a request whose `maxLength` is a rule of
/// the domain.
const MAX_LENGTHS: &[(&str, &str, usize)] = &[
    ("NewNeed", "title", need::TITLE_MAX),
    ("NewNeed", "description", need::LONG_TEXT_MAX),
    ("NewNeed", "expected_benefit", need::LONG_TEXT_MAX),
    ("NeedPatch", "title", need::TITLE_MAX),
    ("NeedPatch", "description", need::LONG_TEXT_MAX),
    ("NeedPatch", "expected_benefit", need::LONG_TEXT_MAX),
    ("WithdrawRequest", "reason", need::REASON_MAX),
    ("AssessmentRequest", "reason", need::REASON_MAX),
    ("AssessmentRequest", "override_reason", need::REASON_MAX),
    ("ReopenRequest", "reason", need::REASON_MAX),
    ("ScreeningResult", "code", criteria::CODE_MAX),
    ("OwnerBody", "role", benefit::SHORT_TEXT_MAX),
    ("IndicatorBody", "name", benefit::SHORT_TEXT_MAX),
    ("IndicatorBody", "unit", benefit::SHORT_TEXT_MAX),
    ("BaselineBody", "method", need::LONG_TEXT_MAX),
    ("NewBenefit", "title", need::TITLE_MAX),
    ("NewBenefit", "description", need::LONG_TEXT_MAX),
    ("EditBenefit", "title", need::TITLE_MAX),
    ("EditBenefit", "description", need::LONG_TEXT_MAX),
    ("BenefitStatusChange", "reason", need::REASON_MAX),
    ("NewBenefitMeasurement", "source", benefit::SHORT_TEXT_MAX),
    ("NewBenefitMeasurement", "note", need::LONG_TEXT_MAX),
    ("CriterionDto", "code", criteria::CODE_MAX),
    ("CriterionDto", "name", criteria::NAME_MAX),
    ("CriterionDto", "description", criteria::DESCRIPTION_MAX),
    ("ScaleLabel", "label", criteria::NAME_MAX),
    ("SystemParty", "name", service_area::PARTY_NAME_MAX),
];

/// `(schema, property, keyword, limit)`: the other bounds of request fields that are rules of
/// the domain.
const OTHER_LIMITS: &[(&str, &str, &str, usize)] = &[(
    "StudyReport",
    "on_behalf_of",
    "maxItems",
    study::ON_BEHALF_OF_MAX,
)];

#[test]
fn schema_limits_equal_the_domain_constants() {
    let api = app::contract_json();
    let max_lengths = MAX_LENGTHS
        .iter()
        .map(|&(schema, property, limit)| (schema, property, "maxLength", limit));
    let wrong: Vec<String> = max_lengths
        .chain(OTHER_LIMITS.iter().copied())
        .filter_map(|(schema, property, keyword, limit)| {
            let pointer = format!("/components/schemas/{schema}/properties/{property}/{keyword}");
            let stated = api.pointer(&pointer).and_then(Value::as_u64);
            (stated != Some(limit as u64))
                .then(|| format!("{pointer} is {stated:?}, the server enforces {limit}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every year the contract narrows (a query filter or a request field; the conventions give
/// other integers their type's range) has the bounds of `dates::{MIN_YEAR, MAX_YEAR}`.
#[test]
fn every_year_range_is_the_accepted_years() {
    let api = app::contract_json();
    let mut years = Vec::new();
    for item in api["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("path item").values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["name"] == "year" && p["in"] == "query" {
                    years.push((
                        format!("parameter year of {}", op["operationId"]),
                        &p["schema"],
                    ));
                }
            }
        }
    }
    for (name, schema) in api["components"]["schemas"].as_object().expect("schemas") {
        for (property, s) in schema["properties"].as_object().into_iter().flatten() {
            let narrowed = s["minimum"].as_i64().is_some_and(|m| m > i32::MIN.into());
            if matches!(property.as_str(), "year" | "cycle_year") && narrowed {
                years.push((format!("{name}.{property}"), s));
            }
        }
    }
    assert!(years.len() >= 13, "found only {} year ranges", years.len());
    for (name, s) in years {
        let range = (s["minimum"].as_i64(), s["maximum"].as_i64());
        assert_eq!(
            range,
            (Some(dates::MIN_YEAR.into()), Some(dates::MAX_YEAR.into())),
            "{name}"
        );
    }
}
