"""agencies/jlis."""
