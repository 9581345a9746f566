"""The child half: search spaces and their networks, data sets, and evaluating a child."""
