"""The console's pages, one module per area; ``console/routes.py`` assembles them."""
