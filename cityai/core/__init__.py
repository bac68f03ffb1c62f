"""The CityAI core: config, database, identity, audit, jobs, storage and hooks."""
