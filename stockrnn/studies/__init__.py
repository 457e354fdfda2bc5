"""Train, backtest and compare: each fits forecasters on prepared data and writes its own folder."""
