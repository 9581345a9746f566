"""The nb201 search space: its decisions, its network, its supernet and its figure."""
