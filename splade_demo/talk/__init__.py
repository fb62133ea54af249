"""The guided talk as one self-contained HTML file (`export-talk`, the app's download button).

A layer above `figures/`: it draws each step's panel through the same `explain/` and `figures/` functions as the
pages (`panels.py`, the one adapter), and writes them into one offline page (`document.py`).
"""
