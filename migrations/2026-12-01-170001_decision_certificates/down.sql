DROP TABLE decision_certificates;
DROP FUNCTION decision_certificates_immutable();
