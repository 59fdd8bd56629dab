"""The HTTP API (aiohttp): thin, it verifies, validates, hands over and renders."""
