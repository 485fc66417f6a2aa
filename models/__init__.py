"""The reference model's home: `reference/` (the checkpoint), `world/` (the synthetic
world it was trained and is evaluated on) and `train_reference.py` (how it was made)."""
