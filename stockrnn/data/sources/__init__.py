"""Where prices come from. Each source returns frames in the store's schema (store.PRICE_COLUMNS)."""

# Yahoo's column labels (its CSV layout and yfinance's frames) -> the store's names. Selected by
# label, never by position: yfinance's column order has changed between releases.
YAHOO_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
