"""Sample-quality metrics: feature statistics, Parzen windows, 2-D mode counts."""
