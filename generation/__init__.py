"""Counterpoint's built-in text-to-music model: corpus, model, training, sampling, rendering and metrics.

Plain Python + torch; nothing here imports Django. Entry point: ``python -m generation --help``.
"""
