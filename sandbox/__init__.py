"""Sandbox Harvest (API v2) and Jira (REST v2 and v3) servers for h2j's tests and demo.

They are not loaded by Airflow. ``python -m sandbox`` starts both on loopback.
"""
