DROP TABLE service_areas;
DROP TABLE organisations;
