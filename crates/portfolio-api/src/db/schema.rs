//! Diesel table definitions, kept by hand in step with `migrations/`.
//! (A test runs the migrations and exercises every table, so drift fails loudly.)

diesel::table! {
    organisations (org_number) {
        org_number -> Text,
        name -> Text,
        kind -> Text,
        region_org_number -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    service_areas (id) {
        id -> Uuid,
        year -> Int4,
        name -> Text,
        kind -> Text,
        retired_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor_subject -> Text,
        actor_org -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    events (seq) {
        seq -> Int8,
        occurred_at -> Timestamptz,
        entity_type -> Text,
        entity_id -> Text,
        action -> Text,
        version -> Nullable<Int4>,
        actor_subject -> Text,
        actor_org -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(organisations, service_areas, audit_log, events);
