"""Domain logic: transaction boundaries and rules, no HTTP."""
