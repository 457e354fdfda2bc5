"""Where prices come from. Each source returns frames in the store's schema (store.PRICE_COLUMNS)."""
