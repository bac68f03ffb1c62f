"""The data module: catalog, lake, datastore, CKAN-compatible API, grants between agencies."""
