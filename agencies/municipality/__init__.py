"""agencies/municipality."""
