"""The fixed tables the sandbox sample is drawn from: credentials, people, projects, notes.

They are data, not logic: :mod:`sandbox.sample` shuffles and picks from them with a seeded
random generator, so changing a table changes every generated month. The credentials and
demo constants are imported from :mod:`sandbox.sample` by the tests and the demo.
"""

from __future__ import annotations

HARVEST_ACCOUNT_ID = "1234567"
HARVEST_TOKEN = "sandbox-harvest-token"
JIRA_EMAIL = "h2j-bot@example.com"
JIRA_API_TOKEN = "sandbox-jira-token"
JIRA_PAT = "sandbox-jira-pat"
JIRA_SITE = "h2j-sandbox.atlassian.net"

DEMO_ISSUE_KEY = "OPS-1"
DEMO_ESTIMATE_SECONDS = 36000
RUNNING_TIMERS = 3

# Harvest names zones the way Rails does; Jira and the tz database use IANA names.
HARVEST_TIME_ZONES = {
    "Eastern Time (US & Canada)": "America/New_York",
    "Central Time (US & Canada)": "America/Chicago",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Arizona": "America/Phoenix",
    "London": "Europe/London",
    "Berlin": "Europe/Berlin",
    "Kolkata": "Asia/Kolkata",
    "Sydney": "Australia/Sydney",
    "Auckland": "Pacific/Auckland",
    "UTC": "Etc/UTC",
}

# Notes that look like issue keys or dates to a careless parser but name no Jira project.
DECOY_NOTES = (
    "UTF-8 encoding issue in the csv export",
    "planning {month}",
    "ISO-8601 dates in the invoice report",
    "sha-256 checksum mismatch on the backup",
    "COVID-19 booster, left early",
    "Q3-2026 roadmap review",
)

COMPANY = {
    "base_uri": "https://h2j-sandbox.harvestapp.com",
    "full_domain": "h2j-sandbox.harvestapp.com",
    "name": "h2j Sandbox Ltd",
    "is_active": True,
    "week_start_day": "Monday",
    "wants_timestamp_timers": True,
    "time_format": "hours_minutes",
    "date_format": "%Y-%m-%d",
    "plan_type": "simple-v4",
    "clock": "12h",
    "currency_code_display": "iso_code_none",
    "currency_symbol_display": "symbol_before",
    "decimal_symbol": ".",
    "thousands_separator": ",",
    "color_scheme": "orange",
    "weekly_capacity": 126000,
    "expense_feature": False,
    "invoice_feature": True,
    "estimate_feature": False,
    "approval_feature": True,
    "team_feature": True,
}

JIRA_PROJECTS = (
    ("OPS", "Operations"),
    ("WEB", "Web Storefront"),
    ("DATA2", "Data Platform 2"),
    ("MOB_APP", "Mobile App"),
    ("SEC", "Security"),
)
CLIENTS = ({"id": 9_102_301, "name": "Northwind Traders"}, {"id": 9_102_377, "name": "In-house"})
HARVEST_PROJECTS = (
    {"id": 31_550_101, "name": "Storefront Rebuild", "client": 0, "billable": True},
    {"id": 31_550_166, "name": "Data Platform", "client": 0, "billable": True},
    {"id": 31_550_240, "name": "Operations Retainer", "client": 0, "billable": True},
    {"id": 31_550_318, "name": "Internal", "client": 1, "billable": False},
)
HARVEST_TASKS = (
    ("Development", True),
    ("Code Review", True),
    ("Meetings", False),
    ("Project Management", True),
    ("Support", True),
)
FIRST_NAMES = (
    "Ada", "Bruno", "Chidi", "Dana", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jun",
    "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Becker", "Castillo", "Dubois", "Eriksen", "Fischer", "Gupta", "Horvat",
    "Ito", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
)  # fmt: skip
ROLES = ("Engineer", "Designer", "Data Engineer", "SRE", "Product Manager", "QA")
WORK = (
    "fix deploy script", "write the migration", "triage", "code review", "update the docs",
    "debug flaky test", "refactor auth module", "pairing", "investigate the alert",
    "release prep", "load testing", "spec review", "backfill job", "rework after review",
)  # fmt: skip
NO_KEY = (
    "standup", "email", "sprint planning", "retro", "interviews", "admin",
    "team sync", "expenses and timesheets", "onboarding docs", "",
)  # fmt: skip
SUMMARIES = (
    "Deploy script leaves stale workers", "Checkout page slow on mobile",
    "Nightly export misses late rows", "Rotate the database credentials",
    "Search results ignore filters", "Add retries to the payment webhook",
    "Dashboard totals off by one day", "Migrate cron jobs to the scheduler",
    "Alert fatigue on disk usage", "Broken link in the order e-mail",
    "Pagination repeats the last row", "Upgrade the TLS certificates",
)  # fmt: skip
NOTE_KINDS = {
    "key_first": 26, "key_inside": 14, "lower": 8, "two_keys": 5, "ext_ref": 6,
    "ext_ref_and_key": 3, "no_key": 26, "decoy": 4, "null": 2,
}  # fmt: skip
APPROVED_REASON = "Item Approved and Locked for this Time Period"
