"""Statistics of listening studies: plain Python (pandas, scipy, statsmodels, krippendorff), no Django.

The Django layer that reads a study's ratings is the ``reports`` app.
"""
