"""Scheduled tasks: the leader side (engine, runs, commands) and what API processes use
of it (client, commands, catalog). See README.md in this directory."""
