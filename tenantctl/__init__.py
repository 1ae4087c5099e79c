"""tenantctl: the tenant registry, its CLI and the embedded local cloud."""
