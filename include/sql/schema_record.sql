INSERT INTO h2j.schema_version (version) VALUES (%(version)s)
ON CONFLICT (version) DO NOTHING
