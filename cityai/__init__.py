"""CityAI - the shared AI platform for Ho Chi Minh City's government."""

__version__ = "0.1.0"
