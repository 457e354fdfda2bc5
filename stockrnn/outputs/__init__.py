"""What leaves the tool: forecasts for tonight, their Parquet archive, the HTML reports and charts."""
