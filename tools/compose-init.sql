-- docker-compose: a database for h2j's ledger beside Airflow's metadata database.
CREATE DATABASE h2j OWNER airflow;
