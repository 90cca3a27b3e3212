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
        system_owner_org -> Nullable<Text>,
        system_owner_name -> Nullable<Text>,
        system_responsible_org -> Nullable<Text>,
        system_responsible_name -> Nullable<Text>,
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
    audit_checkpoints (id) {
        id -> Int8,
        seq -> Int8,
        head_hash -> Text,
        created_at -> Timestamptz,
        key_id -> Text,
        signature -> Text,
    }
}

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

// --- The yearly needs cycle (issue 3) ---

diesel::table! {
    cycles (year) {
        year -> Int4,
        phase -> Text,
        last_need_seq -> Int4,
        prioritisation_closed_at -> Nullable<Timestamptz>,
        prioritisation_closed_by -> Nullable<Text>,
        ranking_snapshot -> Nullable<Jsonb>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    cycle_phase_changes (id) {
        id -> Int8,
        cycle_year -> Int4,
        from_phase -> Nullable<Text>,
        to_phase -> Text,
        changed_by -> Text,
        changed_by_org -> Nullable<Text>,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    criteria_sets (cycle_year) {
        cycle_year -> Int4,
        status -> Text,
        criteria -> Jsonb,
        adopted_at -> Nullable<Timestamptz>,
        adopted_by -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    needs (id) {
        id -> Uuid,
        cycle_year -> Int4,
        seq -> Int4,
        reference -> Text,
        title -> Text,
        description -> Text,
        expected_benefit -> Text,
        origin -> Text,
        organisation_number -> Text,
        service_area_id -> Nullable<Uuid>,
        estimated_study_cost_nok -> Int8,
        estimated_capacity_person_months -> Nullable<Int8>,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        status -> Text,
        assessment_reason -> Nullable<Text>,
        screening -> Nullable<Jsonb>,
        assessed_at -> Nullable<Timestamptz>,
        assessed_by -> Nullable<Text>,
        reported_by -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        forwarded_by_role -> Nullable<Text>,
        forwarded_by_org -> Nullable<Text>,
        forwarded_by_name -> Nullable<Text>,
        screening_override_reason -> Nullable<Text>,
    }
}

diesel::table! {
    need_scores (need_id, org_number) {
        need_id -> Uuid,
        org_number -> Text,
        cycle_year -> Int4,
        scores -> Jsonb,
        comment -> Nullable<Text>,
        scored_by -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(cycle_phase_changes -> cycles (cycle_year));
diesel::joinable!(criteria_sets -> cycles (cycle_year));
diesel::joinable!(needs -> cycles (cycle_year));
diesel::joinable!(needs -> organisations (organisation_number));
diesel::joinable!(needs -> service_areas (service_area_id));
diesel::joinable!(need_scores -> needs (need_id));
diesel::joinable!(need_scores -> organisations (org_number));
diesel::allow_tables_to_appear_in_same_query!(
    cycles,
    cycle_phase_changes,
    criteria_sets,
    needs,
    need_scores,
    organisations,
);
diesel::allow_tables_to_appear_in_same_query!(needs, service_areas);

diesel::table! {
    measures (id) {
        id -> Uuid,
        title -> Text,
        description -> Text,
        service_area_id -> Uuid,
        origin -> Text,
        system_owner -> Text,
        system_responsible -> Text,
        partner_reference -> Text,
        status -> Text,
        progress -> Nullable<Int2>,
        rag -> Nullable<Text>,
        forecast_date -> Nullable<Date>,
        milestones -> Nullable<Jsonb>,
        delivery_comment -> Nullable<Text>,
        reported_by -> Nullable<Text>,
        source_timestamp -> Nullable<Timestamptz>,
        delivery_updated_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    measure_suppliers (measure_id, org_number) {
        measure_id -> Uuid,
        org_number -> Text,
    }
}

diesel::table! {
    delivery_batches (id) {
        id -> Uuid,
        submitted_by -> Text,
        submitted_org -> Nullable<Text>,
        submitted_at -> Timestamptz,
        item_count -> Int4,
        applied_count -> Int4,
        unchanged_count -> Int4,
        stale_count -> Int4,
        results -> Jsonb,
    }
}

diesel::table! {
    measure_delivery_history (id) {
        id -> Int8,
        measure_id -> Uuid,
        progress -> Int2,
        rag -> Text,
        forecast_date -> Nullable<Date>,
        milestones -> Jsonb,
        comment -> Nullable<Text>,
        reported_by -> Text,
        source_timestamp -> Timestamptz,
        recorded_at -> Timestamptz,
        batch_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    tertial_reports (id) {
        id -> Uuid,
        year -> Int4,
        tertial -> Int2,
        status -> Text,
        content -> Jsonb,
        captured_at -> Timestamptz,
        published_json -> Nullable<Bytea>,
        published_csv -> Nullable<Bytea>,
        published_at -> Nullable<Timestamptz>,
        published_by -> Nullable<Text>,
        published_benefits_csv -> Nullable<Bytea>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(measures -> service_areas (service_area_id));
diesel::joinable!(measure_suppliers -> measures (measure_id));
diesel::joinable!(measure_delivery_history -> measures (measure_id));
diesel::allow_tables_to_appear_in_same_query!(
    measures,
    measure_suppliers,
    measure_delivery_history,
    delivery_batches,
    tertial_reports,
    service_areas
);
diesel::allow_tables_to_appear_in_same_query!(measure_suppliers, organisations);

diesel::table! {
    idempotent_requests (caller, key) {
        caller -> Text,
        key -> Text,
        request_hash -> Text,
        state -> Text,
        status -> Nullable<Int4>,
        headers -> Jsonb,
        body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    selection_scenarios (id) {
        id -> Uuid,
        cycle_year -> Int4,
        title -> Text,
        budget_nok -> Int8,
        budget_source -> Text,
        problem -> Jsonb,
        result -> Jsonb,
        solve_micros -> Int8,
        created_by -> Text,
        version -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    decision_cases (id) {
        id -> Uuid,
        meeting_date -> Date,
        title -> Text,
        background -> Text,
        scenario_id -> Nullable<Uuid>,
        status -> Text,
        rationale -> Nullable<Text>,
        minutes_reference -> Nullable<Text>,
        decided_at -> Nullable<Timestamptz>,
        decided_by -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    decision_items (case_id, position) {
        case_id -> Uuid,
        position -> Int4,
        kind -> Text,
        target_id -> Uuid,
        proposal -> Jsonb,
        outcome -> Nullable<Text>,
        amended_budget_nok -> Nullable<Int8>,
        outcome_note -> Nullable<Text>,
        created_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    concept_studies (id) {
        id -> Uuid,
        need_id -> Nullable<Uuid>,
        cycle_year -> Int4,
        title -> Text,
        responsible_org -> Text,
        interregional -> Bool,
        on_behalf_of -> Array<Text>,
        frame_id -> Uuid,
        allocation_id -> Uuid,
        allocated_nok -> Int8,
        spent_nok -> Int8,
        status -> Text,
        expected_from -> Nullable<Date>,
        expected_to -> Nullable<Date>,
        expected_label -> Nullable<Text>,
        decision_case_id -> Uuid,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        purpose -> Nullable<Text>,
    }
}

diesel::table! {
    concepts (id) {
        id -> Uuid,
        study_id -> Uuid,
        need_id -> Nullable<Uuid>,
        title -> Text,
        description -> Text,
        status -> Text,
        decision_case_id -> Uuid,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(decision_items -> decision_cases (case_id));
diesel::joinable!(concepts -> concept_studies (study_id));
diesel::allow_tables_to_appear_in_same_query!(
    selection_scenarios,
    decision_cases,
    decision_items,
    concept_studies,
    concepts
);

// The tertial report lists studies with their need's reference.
diesel::allow_tables_to_appear_in_same_query!(concept_studies, needs);

diesel::table! {
    decision_certificates (case_id) {
        case_id -> Uuid,
        inputs_hash -> Text,
        certificate -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Uuid,
        org_number -> Text,
        url -> Text,
        entity_types -> Array<Text>,
        description -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_cursors (subscription_id) {
        subscription_id -> Uuid,
        delivered_seq -> Int8,
        failed_attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_duration_ms -> Int4,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        subscription_id -> Uuid,
        event_seq -> Nullable<Int8>,
        webhook_id -> Text,
        kind -> Text,
        attempt -> Int4,
        attempted_at -> Timestamptz,
        duration_ms -> Int4,
        http_status -> Nullable<Int4>,
        error -> Nullable<Text>,
        outcome -> Text,
    }
}

diesel::table! {
    webhook_jobs (id) {
        id -> Int8,
        subscription_id -> Uuid,
        event_seq -> Nullable<Int8>,
        requested_at -> Timestamptz,
    }
}

diesel::joinable!(webhook_cursors -> webhook_subscriptions (subscription_id));
diesel::allow_tables_to_appear_in_same_query!(
    webhook_subscriptions,
    webhook_cursors,
    webhook_deliveries,
    webhook_jobs,
    events
);

diesel::table! {
    benefits (id) {
        id -> Uuid,
        parent_kind -> Text,
        study_id -> Nullable<Uuid>,
        concept_id -> Nullable<Uuid>,
        measure_id -> Nullable<Uuid>,
        need_id -> Nullable<Uuid>,
        title -> Text,
        description -> Text,
        category -> Text,
        owner_org -> Text,
        owner_role -> Text,
        indicator_name -> Text,
        indicator_unit -> Text,
        direction -> Text,
        baseline_value -> Float8,
        baseline_date -> Date,
        baseline_method -> Text,
        target_value -> Float8,
        target_date -> Date,
        yearly_value_nok -> Nullable<Int8>,
        status -> Text,
        status_reason -> Nullable<Text>,
        latest_measurement_id -> Nullable<Int8>,
        latest_value -> Nullable<Float8>,
        latest_measured_on -> Nullable<Date>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    benefit_measurements (id) {
        id -> Int8,
        benefit_id -> Uuid,
        measured_on -> Date,
        value -> Float8,
        source -> Text,
        note -> Nullable<Text>,
        corrects -> Nullable<Int8>,
        recorded_by -> Text,
        recorded_org -> Nullable<Text>,
        recorded_at -> Timestamptz,
    }
}

diesel::joinable!(benefit_measurements -> benefits (benefit_id));
diesel::allow_tables_to_appear_in_same_query!(benefits, benefit_measurements);

diesel::table! {
    need_dependencies (need_id, other_need_id) {
        need_id -> Uuid,
        other_need_id -> Uuid,
        kind -> Text,
    }
}
