"""The migration checks: fixtures come from the cutover pytest plugin (cutover.plugin)."""
