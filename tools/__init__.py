"""Developer tooling: installing, finding PostgreSQL, the demo. Not loaded by Airflow."""
