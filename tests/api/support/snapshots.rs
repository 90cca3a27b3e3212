//! Pinned representative responses (insta snapshots, stored in `tests/api/snapshots/`).
//!
//! [`pin`] redacts what differs between runs — ids, times, request ids — by field name, and
//! refuses a response with a UUID or a time of this run under a field it does not know, so a
//! new field cannot make a snapshot flaky. Versions (the ETag's `vN`) are deterministic and kept.
//!
//! Review a changed snapshot with `INSTA_UPDATE=always cargo test -p portfolio-api --test api
//! snapshot` and `git diff tests/api/snapshots`; CI (`CI=true`) never writes snapshots.

use serde::Serialize;
use serde_json::Value;

/// Fields whose values are fresh each run: ids (UUIDs) and request ids.
const IDS: &[&str] = &[
    "id",
    "need_id",
    "frame_id",
    "study_id",
    "case_id",
    "concept_id",
    "measure_id",
    "service_area_id",
    "allocation_id",
    "batch_id",
    "item_id",
    "created_id",
    "entity_id",
    "scenario_id",
    "decision_case_id",
    "request_id",
    "instance",
];

/// Fields whose values are hashes over ids and times (the audit chain).
const HASHES: &[&str] = &["hash", "prev_hash"];

/// Fields whose values are wall-clock times.
const TIMES: &[&str] = &[
    "created_at",
    "updated_at",
    "assessed_at",
    "changed_at",
    "decided_at",
    "occurred_at",
    "recorded_at",
    "received_at",
    "published_at",
    "scored_at",
    "closed_at",
    "prioritisation_closed_at",
    "computed_at",
    "captured_at",
    "submitted_at",
    "adopted_at",
    "started_at",
    "completed_at",
    "generated_at",
    "released_at",
    "at",
];

/// Asserts that `value` matches the committed snapshot `name` (`tests/api/snapshots/<name>.snap`).
#[track_caller]
pub fn pin(name: &str, value: &impl Serialize) {
    let json = serde_json::to_value(value).expect("serialisable");
    let mut unknown = Vec::new();
    volatile_fields(&json, "", &mut unknown);
    assert!(
        unknown.is_empty(),
        "UUIDs or times of this run under fields not redacted (add them to support/snapshots.rs): {unknown:?}"
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/api/snapshots"
    ));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_sort_maps(true);
    for (keys, placeholder) in [(IDS, "[id]"), (HASHES, "[hash]"), (TIMES, "[time]")] {
        for key in keys {
            for selector in [format!(".{key}"), format!(".**.{key}")] {
                // A null stays null: whether a field is set is part of the response.
                settings.add_redaction(
                    &selector,
                    insta::dynamic_redaction(move |value, _| {
                        if value.is_nil() {
                            value
                        } else {
                            placeholder.into()
                        }
                    }),
                );
            }
        }
    }
    settings.bind(|| insta::assert_json_snapshot!(name, json));
}

/// Paths of UUID- or timestamp-shaped strings under a field not listed above.
fn volatile_fields(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if !(IDS.contains(&k.as_str()) || TIMES.contains(&k.as_str())) {
                    volatile_fields(v, &format!("{path}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                volatile_fields(v, &format!("{path}/{i}"), out);
            }
        }
        Value::String(s) if is_uuid(s) || is_timestamp(s) => out.push(path.to_owned()),
        _ => {}
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// A time of this run (input times such as a sync's `source_timestamp` are deterministic).
fn is_timestamp(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s)
        .is_ok_and(|t| (chrono::Utc::now() - t.to_utc()).num_days().abs() < 2)
}
