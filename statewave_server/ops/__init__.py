"""Operations: version matrix, migration status, schema guard, readiness, preflight."""
