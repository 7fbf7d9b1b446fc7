"""eventkit: analyse a domain's history as events."""
