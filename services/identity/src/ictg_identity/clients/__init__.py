"""The client registry (`/v1/clients`, scope `clients:admin`, the service's staff only)."""
