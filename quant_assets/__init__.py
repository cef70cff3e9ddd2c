"""quant_assets: the Dagster code location, thin assets over ``quant_engine``."""
