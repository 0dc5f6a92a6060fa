"""Hydra sweeper plugin for alternating-freeze (Hydra only loads sweepers from ``hydra_plugins``)."""
