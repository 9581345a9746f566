"""The layers search space: its decisions, its network, its figure."""
