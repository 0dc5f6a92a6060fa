"""Hydra launcher plugin for alternating-freeze: batched runs (Hydra only loads launchers from ``hydra_plugins``)."""
