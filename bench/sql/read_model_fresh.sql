-- GET /api/v1/cycles/{year}/ranking and /portfolio/overview are read models that stay valid
-- until the next committed change. The least a correct server must ask PostgreSQL per
-- request is whether anything changed since it computed the body: the feed's head (and the
-- cycle's phase, for the ranking). Computing the body itself is amortised over every read.
SELECT phase, prioritisation_closed_at IS NOT NULL FROM cycles WHERE year = :year;
SELECT max(seq) FROM events;
