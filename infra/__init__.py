"""Infrastructure: settings, logging, database, payload codec, Temporal client, CLI."""
