"""socialcrm: a self-hosted social CRM bot; this package is the foundation and the entry points."""

__version__ = "0.1.0"
