"""h2j: keeps Jira worklogs true to Harvest time entries."""
