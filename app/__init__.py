"""fx-ticker: intraday USD rates of the Central Asian currencies, collapsed into spans and served over HTTP."""

__version__ = "0.1.0"
