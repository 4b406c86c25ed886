"""The HTTP routers: REST API, CDS Hooks, admin, health."""
