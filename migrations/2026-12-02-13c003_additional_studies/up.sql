-- A board decision can start a concept study that does not come from the cycle's needs: an
-- interregional study Helse Sør-Øst runs "in addition" on behalf of the four regions. Such a
-- study has no need but states its purpose; a concept it yields has no need either.

ALTER TABLE concept_studies
    ALTER COLUMN need_id DROP NOT NULL,
    ADD COLUMN purpose text CHECK (length(purpose) BETWEEN 1 AND 10000),
    ADD CONSTRAINT concept_studies_need_or_purpose CHECK (need_id IS NOT NULL OR purpose IS NOT NULL);

ALTER TABLE concepts ALTER COLUMN need_id DROP NOT NULL;

-- The new item kind; its target is the budget frame it draws on.
ALTER TABLE decision_items
    DROP CONSTRAINT decision_items_kind_check,
    ADD CONSTRAINT decision_items_kind_check CHECK (kind IN ('start_study', 'start_additional_study',
        'pause_study', 'resume_study', 'cancel_study', 'record_concept', 'change_concept_status',
        'defer_need', 'decline_need'));
