"""Helpers and wire vocabulary shared by the services: no service behaviour lives here."""
