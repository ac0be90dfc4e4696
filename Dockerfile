# The Airflow image h2j runs in: the official Airflow 3.3 image plus requirements.txt.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt
