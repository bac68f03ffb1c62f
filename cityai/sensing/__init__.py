"""Urban sensing: devices and NGSI-LD entities, MQTT and HTTP ingestion, time series, alert rules,
forecasts and the city operations dashboard (docs/sensing.md)."""
