"""Loss-term plugins of the DisDiff objective: ``mean-shift`` (reconstruction) and
``disentangle``."""
