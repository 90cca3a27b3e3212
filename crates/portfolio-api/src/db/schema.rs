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

diesel::table! {
    budget_frames (id) {
        id -> Uuid,
        year -> Int4,
        sub_portfolio -> Text,
        amount_nok -> Int8,
        allocated_nok -> Int8,
        spent_nok -> Int8,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    budget_allocations (id) {
        id -> Uuid,
        frame_id -> Uuid,
        kind -> Text,
        amount_nok -> Int8,
        original_nok -> Int8,
        spent_nok -> Int8,
        purpose -> Text,
        status -> Text,
        released_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    budget_frame_history (id) {
        id -> Int8,
        frame_id -> Uuid,
        allocation_id -> Nullable<Uuid>,
        occurred_at -> Timestamptz,
        actor_subject -> Text,
        actor_org -> Nullable<Text>,
        request_id -> Text,
        action -> Text,
        delta_nok -> Int8,
        amount_nok -> Int8,
        allocated_nok -> Int8,
        spent_nok -> Int8,
        reason -> Text,
    }
}

diesel::joinable!(budget_allocations -> budget_frames (frame_id));
diesel::joinable!(budget_frame_history -> budget_frames (frame_id));
diesel::allow_tables_to_appear_in_same_query!(
    budget_frames,
    budget_allocations,
    budget_frame_history
);
