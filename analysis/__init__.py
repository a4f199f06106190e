"""Statistics of listening studies: plain Python (pandas, scipy, statsmodels), no Django.

The Django layer that reads a study's ratings lives in ``analysis.web``.
"""
