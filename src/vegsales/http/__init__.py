"""The HTTP API: the routes table (routes.py) and one module per resource; app.py wires them."""
