"""Root conftest: cutover's fixtures come from its pytest plugin, registered by the package
(entry point `pytest11`); nothing to wire here beyond what the plugin does."""
