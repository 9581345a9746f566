"""Evaluating a child: its training recipe, the evaluators that run it, its reward and costs."""
