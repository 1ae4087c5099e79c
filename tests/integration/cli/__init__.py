"""tenantctl commands against moto or the embedded cloud."""
