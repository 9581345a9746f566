"""Data sets: the readers, the validation split, and their configs."""
