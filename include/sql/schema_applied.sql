SELECT version FROM h2j.schema_version
