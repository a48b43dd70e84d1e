"""Command lines of the torch side: demo, training and evaluation."""
