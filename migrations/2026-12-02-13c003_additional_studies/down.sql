-- Only possible while no additional study exists.
ALTER TABLE decision_items
    DROP CONSTRAINT decision_items_kind_check,
    ADD CONSTRAINT decision_items_kind_check CHECK (kind IN ('start_study', 'pause_study',
        'resume_study', 'cancel_study', 'record_concept', 'change_concept_status', 'defer_need',
        'decline_need'));
ALTER TABLE concepts ALTER COLUMN need_id SET NOT NULL;
ALTER TABLE concept_studies
    DROP CONSTRAINT concept_studies_need_or_purpose,
    DROP COLUMN purpose,
    ALTER COLUMN need_id SET NOT NULL;
